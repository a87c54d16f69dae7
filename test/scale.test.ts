/**
 * Scale-out with real processes: three Switchboard nodes on one Redis. Subscribers spread over
 * the nodes receive, in order, what publishers on every node send; presence is the same on every
 * node. Then one node is killed (SIGKILL) while messages keep flowing from a worker (an emitter):
 * its clients fail over to the other nodes and receive every message exactly once, and the dead
 * node's presence entries vanish within the node TTL. Runs the nodes from dist/ (npm test builds).
 */
import { silentLogger } from '../src/shared/logger.js';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { Client, GapEvent, Member } from '../src/client/node.js';
import { redisEmitter } from '../src/engines/redis/index.js';
import { createTestScope, until, within } from './helpers.js';
import { dropPrefix, REDIS_URL, requireRedis, testPrefix } from './redis-helpers.js';

const hasRedis = await requireRedis('test/scale.test.ts');
const FIXTURE = fileURLToPath(new URL('./fixtures/redis-node.mjs', import.meta.url));
const NODE_TTL_MS = 1_500;
const prefix = testPrefix();
const scope = createTestScope();
// The nodes share the file's prefix: dropped once every test's cleanups have run.
afterAll(() => dropPrefix(prefix));

interface Node {
  child: ChildProcessByStdio<null, Readable, Readable>;
  url: string;
  exited: Promise<unknown>;
}

/** Spawns a node process on the shared Redis; it is stopped after the test unless it already exited. */
async function startNode(): Promise<Node> {
  const child = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, SWITCHBOARD_REDIS_URL: REDIS_URL, PREFIX: prefix, NODE_TTL_MS: String(NODE_TTL_MS) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((res) => child.once('exit', res));
  scope.defer(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  let out = '';
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const port = await within(
    new Promise<number>((resolve) => {
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const m = /listening (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
    }),
    'node listening (did `npm run build` run?)',
    10_000,
  ).catch((e: Error) => {
    throw new Error(`${e.message}\n${err}`);
  });
  return { child, url: `ws://127.0.0.1:${port}/ws`, exited };
}

/** A client of every node, reconnecting fast unless told not to; its errors are expected. */
function client(urls: string[], token: string, reconnect = true): Client {
  const c = scope.client(urls, {
    token,
    reconnect: reconnect ? { initialDelayMs: 10, maxDelayMs: 100, maxAttempts: Infinity, stableAfterMs: 1_000 } : false,
    timeoutMs: 20_000,
  });
  c.on('error', () => {});
  return c;
}

const ids = (members: Member[]) => members.map((m) => m.id).sort();

describe.skipIf(!hasRedis)('three node processes on one Redis', () => {
  it('fans out across nodes in order, shares presence, and survives a node killed mid-stream', { timeout: 90_000 }, async () => {
    const nodes = await Promise.all([startNode(), startNode(), startNode()]);
    const urls = nodes.map((n) => n.url);
    /** Node i first, then the others: clients spread over the nodes and fail over in turn. */
    const from = (i: number) => [0, 1, 2].map((k) => urls[(i + k) % 3]!);

    // 15 subscribers, five per node, on a presence topic with history.
    const SUBS = 15;
    const seen = Array.from({ length: SUBS }, () => ({ offsets: [] as number[], values: [] as unknown[] }));
    const gaps: GapEvent[] = [];
    const subscribers = Array.from({ length: SUBS }, (_, i) => {
      const c = client(from(i % 3), `sub${i}`);
      const s = c.subscribe('scale:feed', (v, meta) => {
        seen[i]!.offsets.push(meta.offset!);
        seen[i]!.values.push(v);
      });
      s.on('gap', (g) => gaps.push(g));
      return { c, s };
    });
    await within(Promise.all(subscribers.map((x) => x.s.ready)), 'all subscribed', 10_000);

    // Phase 1: a publisher on each node, 30 messages each, interleaved.
    const publishers = [0, 1, 2].map((i) => client([urls[i]!], `pub${i}`, false));
    for (let k = 0; k < 90; k++) await publishers[k % 3]!.publish('scale:feed', `p${k}`);
    await until(() => seen.every((s) => s.values.length === 90), 'phase 1 delivered everywhere', 15_000);
    for (const s of seen) expect(s.values).toEqual(Array.from({ length: 90 }, (_, k) => `p${k}`));
    const everyone = ids(await publishers[0]!.call('who', 'scale:feed') as Member[]);
    expect(everyone).toHaveLength(SUBS);
    for (const p of publishers.slice(1)) expect(ids((await p.call('who', 'scale:feed')) as Member[])).toEqual(everyone);

    // Clients that do not reconnect, on node 2: their members must vanish once node 2 is dead.
    const victims = [0, 1, 2].map((k) => client([urls[2]!], `victim${k}`, false));
    await within(Promise.all(victims.map((v) => v.subscribe('scale:room', () => {}).ready)), 'victims in', 10_000);
    const observer = client([urls[0]!], 'observer', false);
    const room = observer.subscribe('scale:room', () => {});
    const left: string[] = [];
    let goneAt = 0;
    room.on('leave', (m) => {
      left.push(m.id);
      if (left.length === 3) goneAt = Date.now();
    });
    await within(room.ready, 'observer in');
    expect(ids(room.members())).toEqual(['observer', 'victim0', 'victim1', 'victim2']);

    // Phase 2: a worker publishes 3,000 more at a steady rate; node 2 is killed a third of the way.
    for (const p of publishers) p.close();
    const emitter = await redisEmitter({ url: REDIS_URL, prefix, logger: silentLogger, history: { size: 50_000, ttlMs: 120_000 } });
    scope.track(emitter);
    const TOTAL = 3_000;
    let published = 0;
    let killedAt = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        for (let k = 0; k < 10 && published < TOTAL; k++) {
          published++;
          emitter.publish('scale:feed', `w${published}`).catch((e: unknown) => (clearInterval(timer), reject(e)));
        }
        if (published >= TOTAL / 3 && !killedAt) {
          killedAt = Date.now();
          nodes[2]!.child.kill('SIGKILL');
        }
        if (published >= TOTAL) {
          clearInterval(timer);
          resolve();
        }
      }, 5);
      scope.defer(() => clearInterval(timer));
    });
    await nodes[2]!.exited;

    const expected = 90 + TOTAL;
    await until(() => seen.every((s) => s.offsets.length >= expected), 'every subscriber has every message', 30_000);
    await until(() => left.length === 3, 'the dead node’s members left', NODE_TTL_MS * 4);
    const vanishedMs = goneAt - killedAt;
    const failedOver = subscribers.filter((_, i) => i % 3 === 2).length;
    let duplicates = 0;
    let losses = 0;
    for (const s of seen) {
      const distinct = new Set(s.offsets);
      duplicates += s.offsets.length - distinct.size;
      for (let o = 1; o <= expected; o++) if (!distinct.has(o)) losses++;
    }
    console.log(
      `scale figures: 3 nodes, ${SUBS} subscribers (${failedOver} failed over after SIGKILL), ${expected} messages each; ` +
        `losses ${losses}, duplicates ${duplicates}, gaps ${gaps.length}; dead node's members gone ${vanishedMs} ms after the kill (node TTL ${NODE_TTL_MS} ms)`,
    );
    expect({ losses, duplicates, gaps: gaps.length }).toEqual({ losses: 0, duplicates: 0, gaps: 0 });
    for (const s of seen) {
      expect(s.offsets).toEqual(Array.from({ length: expected }, (_, k) => k + 1));
      expect(s.values.slice(90)).toEqual(Array.from({ length: TOTAL }, (_, k) => `w${k + 1}`));
    }
    expect(left.sort()).toEqual(['victim0', 'victim1', 'victim2']);
    expect(ids(await emitter.presence('scale:room'))).toEqual(['observer']);
    expect(ids(await emitter.presence('scale:feed'))).toEqual(everyone);
  });
});
