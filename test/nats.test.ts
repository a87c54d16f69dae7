/**
 * What is particular to the NATS engine (docs/scaling.md, "NATS"); what every engine does is in
 * test/engine-contract.test.ts, test/engine-control.test.ts, test/chaos.test.ts and
 * test/runtime-redis-failover.test.ts. Here: names escaped into subjects and KV keys, offsets
 * delivered in order when two nodes publish on one topic at once, a message stored but never fanned
 * out (its node died in between) read back from the stream, and the errors when NATS has no
 * JetStream or goes away. Needs NATS with JetStream at 127.0.0.1:4222 (skipped with a printed
 * reason otherwise); the outage cases start private nats-server processes (skipped without the binary).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import type { EngineEvent, EngineNode } from '../src/engines/engine.js';
import { natsEngine } from '../src/engines/nats/index.js';
import { natsNames, token } from '../src/engines/nats/names.js';
import { HistoryStreams } from '../src/engines/nats/history.js';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { storedFrame } from '../src/engines/nats/wire.js';
import { RecentMessages } from '../src/engines/nats/recent.js';
import { encodeEvent } from '../src/engines/redis/wire.js';
import { silentLogger } from '../src/shared/logger.js';
import { createTestScope, until } from './helpers.js';
import { dropNatsPrefix, NATS_URL, natsMissing, natsTestPrefix } from './nats-helpers.js';
import { freePort, privateProcess } from './processes.js';

const noNats = await natsMissing();
if (noNats) console.warn(`SKIP test/nats.test.ts (shared NATS cases): ${noNats}`);
const NATS_SERVER = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'].find((p) => existsSync(p));
if (!NATS_SERVER) console.warn('SKIP test/nats.test.ts (outage cases): no nats-server binary');
const scope = createTestScope();

function recordingNode(): EngineNode & { msgs: Extract<EngineEvent, { kind: 'msg' }>[]; resyncs: number } {
  const msgs: Extract<EngineEvent, { kind: 'msg' }>[] = [];
  const n = {
    msgs,
    resyncs: 0,
    deliver: (_t: string, e: EngineEvent) => void (e.kind === 'msg' && msgs.push(e)),
    suspend() {},
    // A server re-reads history here (what it missed while the link was down); this node counts.
    async resync() {
      n.resyncs++;
    },
    logger: silentLogger,
  };
  return n;
}

/** A nats-server of our own on a free port (killed by its pid after the test). */
async function privateNats(jetstream: boolean) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sb-nats-'));
  const url = `nats://127.0.0.1:${port}`;
  const answers = () =>
    connect({ servers: url, timeout: 500, maxReconnectAttempts: 0 }).then(
      (nc) => nc.close().then(() => true),
      () => false,
    );
  const { start, stop } = privateProcess(`private nats-server on ${port}`, NATS_SERVER!, ['-a', '127.0.0.1', '-p', String(port), ...(jetstream ? ['-js', '-sd', dir] : [])], answers);
  await start();
  scope.defer(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { url, start, stop };
}

describe('NATS names', () => {
  it('escapes every character a subject or KV key cannot hold, one-to-one', () => {
    expect(token('room:1')).toBe('room=3A1');
    expect(token('a.b*c>d e')).toBe('a=2Eb=2Ac=3Ed=20e');
    expect(token('plain_Name-9')).toBe('plain_Name-9');
    expect(token('=3A')).toBe('=3D3A'); // the escape character itself is escaped
    expect(token('é')).toBe('=C3=A9');
    expect(token('')).toBe('=');
    const names = ['room:1', 'room=3A1', 'room.1', 'room 1', 'ROOM:1', ''];
    expect(new Set(names.map(token)).size).toBe(names.length);
    for (const n of names) expect(token(n)).toMatch(/^[A-Za-z0-9_=-]+$/);
    expect(natsNames('sb').fanout('room:1')).toBe('sb.c.room=3A1');
  });

  it('refuses a prefix that cannot name a subject, a stream and a bucket', () => {
    expect(() => natsEngine({ prefix: 'my.app' })).toThrow(/prefix must be letters, digits/);
    expect(() => natsEngine({ reorderWaitMs: 0 })).toThrow(/reorderWaitMs must be a positive number/);
  });
});

describe('NATS engine: history reads answered from what the node delivered last', () => {
  const msg = (offset: number, epoch = 'E') => ({ data: offset, meta: { epoch, offset } });
  it('answers since and limit reads within the kept run, and leaves the rest to the stream', () => {
    const r = new RecentMessages();
    r.reset('E', 2); // the stream's top when the node subscribed
    for (let o = 3; o <= 7; o++) r.push(msg(o), { size: 3, ttlMs: 60_000 }, 0);
    const top = { epoch: 'E', offset: 7 };
    expect(r.answer({ since: { epoch: 'E', offset: 5 } }, 1)).toEqual({ top, messages: [msg(6), msg(7)], recovered: true });
    expect(r.answer({ since: { epoch: 'E', offset: 4 } }, 1)).toEqual({ top, messages: [msg(5), msg(6), msg(7)], recovered: true });
    expect(r.answer({ since: { epoch: 'E', offset: 7 } }, 1)).toEqual({ top, messages: [], recovered: true });
    expect(r.answer({ since: { epoch: 'E', offset: 3 } }, 1)).toBeUndefined(); // 4 is not kept here: the stream decides
    expect(r.answer({ since: { epoch: 'other', offset: 5 } }, 1)).toBeUndefined();
    expect(r.answer({ since: { epoch: 'E', offset: 9 } }, 1)).toBeUndefined();
    expect(r.answer({ limit: 2 }, 1)).toEqual({ top, messages: [msg(6), msg(7)] });
    expect(r.answer({ limit: 5 }, 1)).toBeUndefined(); // older ones may be in the stream
    expect(r.answer({}, 1)).toEqual({ top, messages: [] });
    // Expired messages leave the run; a skipped offset starts it over.
    expect(r.answer({ since: { epoch: 'E', offset: 6 } }, 60_001)).toBeUndefined();
    r.push(msg(9), { size: 3, ttlMs: 60_000 }, 0);
    expect(r.answer({ since: { epoch: 'E', offset: 7 } }, 1)).toBeUndefined();
    expect(r.answer({ since: { epoch: 'E', offset: 8 } }, 1)).toEqual({ top: { epoch: 'E', offset: 9 }, messages: [msg(9)], recovered: true });
    // TTLs that differ (a later message expiring first): the stream answers.
    r.push(msg(10), { size: 3, ttlMs: 10 }, 0);
    expect(r.answer({ since: { epoch: 'E', offset: 9 } }, 1)).toBeUndefined();
  });
});

describe.skipIf(noNats !== undefined)('NATS engine: ordering across nodes', () => {
  it('delivers offsets in order, once each, when two nodes publish on one topic at once', { timeout: 30_000 }, async () => {
    const prefix = natsTestPrefix();
    scope.defer(() => dropNatsPrefix(prefix));
    const [a, b, c] = [0, 1, 2].map(() => scope.track(natsEngine({ url: NATS_URL, prefix, logger: silentLogger })));
    const node = recordingNode();
    await a!.attach(recordingNode());
    await b!.attach(recordingNode());
    await c!.attach(node);
    await c!.subscribe('race');
    const h = { size: 1_000, ttlMs: 60_000 };
    const N = 200;
    const sent = await Promise.all(Array.from({ length: N }, (_, i) => (i % 2 ? a! : b!).publish('race', { kind: 'msg', data: i, meta: {} }, h)));
    expect(new Set(sent.map((p) => p!.offset)).size).toBe(N);
    await until(() => node.msgs.length >= N, 'every message on the third node', 15_000);
    expect(node.msgs.map((m) => m.meta.offset)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
  });

  it('reads a message that was stored but never fanned out (its node died in between) from the stream', { timeout: 30_000 }, async () => {
    const prefix = natsTestPrefix();
    scope.defer(() => dropNatsPrefix(prefix));
    const engine = scope.track(natsEngine({ url: NATS_URL, prefix, logger: silentLogger, reorderWaitMs: 50 }));
    const node = recordingNode();
    await engine.attach(node);
    const h = { size: 100, ttlMs: 60_000 };
    await engine.subscribe('orphan');
    await engine.publish('orphan', { kind: 'msg', data: 'first', meta: {} }, h);
    // What a node that dies after JetStream's acknowledgement leaves: stored, never published on the topic's subject.
    const nc = await connect({ servers: NATS_URL });
    scope.defer(() => nc.close());
    await nc.request(natsNames(prefix).history('orphan'), storedFrame(h.ttlMs, encodeEvent({ kind: 'msg', data: 'orphan', meta: {} })), { timeout: 2_000 });
    await engine.publish('orphan', { kind: 'msg', data: 'third', meta: {} }, h);
    await until(() => node.msgs.length === 3, 'the orphan read back, then the third');
    expect(node.msgs.map((m) => [m.meta.offset, m.data])).toEqual([
      [1, 'first'],
      [2, 'orphan'],
      [3, 'third'],
    ]);
  });
});

describe.skipIf(noNats !== undefined)('NATS engine: idle history streams', () => {
  it('deletes the streams of topics idle for historyMetaTtlMs, except those the node carries', async () => {
    const prefix = natsTestPrefix();
    scope.defer(() => dropNatsPrefix(prefix));
    const nc = await connect({ servers: NATS_URL });
    scope.defer(() => nc.close());
    const history = new HistoryStreams({ nc, js: jetstream(nc), jsm: await jetstreamManager(nc), names: natsNames(prefix), timeoutMs: 2_000 });
    const h = { size: 10, ttlMs: 60_000 };
    const idle = await history.append('idle', encodeEvent({ kind: 'msg', data: 1, meta: {} }), h);
    await history.append('carried', encodeEvent({ kind: 'msg', data: 1, meta: {} }), h);
    await history.read('never-published', {});
    expect(await history.sweep(60_000, () => false)).toBe(0); // nothing idle for a minute yet
    await new Promise((r) => setTimeout(r, 50)); // what an idle time of 20 ms is about
    expect(await history.sweep(20, (t) => t === 'carried')).toBe(2);
    expect((await history.read('carried', {})).top.offset).toBe(1);
    const again = await history.read('idle', { since: idle });
    expect(again).toMatchObject({ recovered: false, reason: 'epoch', top: { offset: 0 } });
  });
});

describe.skipIf(!NATS_SERVER)('NATS engine: JetStream missing, NATS gone', () => {
  it('refuses to attach to a NATS without JetStream, saying how to enable it', async () => {
    const nats = await privateNats(false);
    const engine = natsEngine({ url: nats.url, prefix: 'nojs', logger: silentLogger });
    const err = await Promise.resolve(engine.attach(recordingNode())).then(
      () => undefined,
      (e: unknown) => e as { code: string; details: { reason: string } },
    );
    expect(err?.code).toBe('UNAVAILABLE');
    expect(err?.details.reason).toMatch(/JetStream is not enabled on the NATS server at nats:\/\/127\.0\.0\.1:\d+ .*start nats-server with -js/);
    await engine.close();
  });

  it('fails fast with UNAVAILABLE and reports unhealthy while NATS is down, and works again when it is back', { timeout: 30_000 }, async () => {
    const nats = await privateNats(true);
    const engine = scope.track(natsEngine({ url: nats.url, prefix: 'outage', logger: silentLogger, commandTimeoutMs: 1_000 }));
    const node = recordingNode();
    await engine.attach(node);
    await engine.subscribe('t');
    const h = { size: 10, ttlMs: 60_000 };
    expect(await engine.publish('t', { kind: 'msg', data: 1, meta: {} }, h)).toMatchObject({ offset: 1 });
    // The publish resolves once the message is stored; its live copy follows on core NATS. Killed
    // before that copy arrives, NATS drops it, and the message is the resync's to deliver (history),
    // which this node does not read: the live copy must be here before the outage starts.
    await until(() => node.msgs.length === 1, 'delivered live before the outage');
    expect(engine.health()).toEqual({ healthy: true });
    await nats.stop();
    await until(() => !engine.health().healthy, 'unhealthy once the link dropped');
    expect(engine.health().detail).toMatch(/disconnected/);
    await expect(engine.publish('t', { kind: 'msg', data: 2, meta: {} }, h)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(engine.presenceList('t')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await nats.start();
    await until(() => engine.health().healthy, 'healthy again', 10_000);
    // The engine's recovery ends with the node's resync: a message published before that may be
    // left to the resync (history) rather than the live path, and this node does not re-read.
    await until(() => node.resyncs === 1, 'the recovery to hand over to the node', 10_000);
    // The store survived the restart (-sd): the same epoch, the next offset, delivered in order.
    const next = await engine.publish('t', { kind: 'msg', data: 3, meta: {} }, h);
    expect(next).toMatchObject({ offset: 2 });
    await until(() => node.msgs.length === 2, 'delivered after the restart');
    expect(node.msgs.map((m) => m.data)).toEqual([1, 3]);
  });
});
