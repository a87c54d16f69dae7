/**
 * Topic history and recovery (docs/protocol.md §2.7, docs/guarantees.md): positions on every
 * message, replay after a reconnect with nothing lost or repeated, an explicit gap when the window
 * was overrun or the epoch changed, `since` and `history` on first subscribe.
 */
import { silentLogger } from '../src/shared/logger.js';
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { connect, type Client } from '../src/client/node.js';
import { createMemoryEngine, type Engine, type Server, type ServerOptions } from '../src/server/index.js';
import { createChaosProxy, type ChaosProxy } from './chaos-proxy.js';
import { createTestScope, until, within } from './helpers.js';
import { record } from './record.js';
import { Redis } from 'ioredis';
import { redisEngine } from '../src/engines/redis/index.js';
import { redisKeys } from '../src/engines/redis/keys.js';
import { dropPrefix, REDIS_URL, requireRedis, testPrefix } from './redis-helpers.js';

const hasRedis = await requireRedis('test/recovery.test.ts');

const scope = createTestScope();

/** Reconnects fast: the tests sever connections on purpose. */
const FAST = { initialDelayMs: 5, maxDelayMs: 50, maxAttempts: Infinity, stableAfterMs: 1_000 };

function client(url: string, opts: Parameters<typeof connect>[1] = {}): Client {
  return scope.client(url, { reconnect: FAST, ...opts });
}

async function proxied(target: number): Promise<ChaosProxy> {
  return scope.track(await createChaosProxy(target));
}

async function setup(options: ServerOptions = {}, history: ServerOptions['history'] = { size: 100, ttlMs: 60_000 }) {
  return scope.server({ history, ...options }, (s: Server) => {
    s.topic('feed', { subscribe: true, publish: true });
    s.topic('plain', { subscribe: true, publish: true, history: false });
    s.topic('small', { subscribe: true, history: { size: 10, ttlMs: 60_000 } });
    s.topic('brief', { subscribe: true, history: { size: 100, ttlMs: 150 } });
    s.topic('big', { subscribe: true, history: { size: 50_000, ttlMs: 60_000 } });
    s.topic('room-*', { subscribe: true, history: { size: 100, ttlMs: 60_000 } });
  });
}

/** Records what a subscription's handler and gap listener see. */
async function publishAll(server: Server, topic: string, values: unknown[]) {
  for (const v of values) await server.publish(topic, v);
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('positions', () => {
  it('gives every message on a topic with history its epoch and consecutive offset; the sub answer has the position', async () => {
    const { server, url } = await setup();
    const c = client(url);
    const r = record(c, 'feed');
    await within(r.sub.ready, 'subscribed');
    expect(r.sub.position()).toEqual({ epoch: expect.any(String), offset: 0 });
    const pos = await server.publish('feed', 'a');
    await publishAll(server, 'feed', ['b', 'c']);
    await until(() => r.got.length === 3, 'three messages');
    expect(pos).toEqual({ epoch: r.sub.position()!.epoch, offset: 1 });
    expect(r.offsets()).toEqual([1, 2, 3]);
    expect(new Set(r.got.map((g) => g.meta.epoch)).size).toBe(1);
    expect(r.sub.position()).toEqual({ epoch: pos!.epoch, offset: 3 });
    // No recovery was asked for, so no message claims to be recovered.
    expect(r.got.every((g) => g.meta.recovered === undefined)).toBe(true);
  });

  it('leaves topics without history as they were: no positions, nothing replayed', async () => {
    const { server, url } = await setup();
    const proxy = await proxied(Number(new URL(url).port));
    const c = client(proxy.url);
    const r = record(c, 'plain');
    await within(r.sub.ready, 'subscribed');
    expect(r.sub.position()).toBeUndefined();
    expect(await server.publish('plain', 1)).toBeUndefined();
    await until(() => r.got.length === 1, 'live message');
    expect(r.got[0]!.meta.offset).toBeUndefined();
    proxy.pause();
    await until(() => c.state !== 'open', 'client noticed the cut');
    await server.publish('plain', 2);
    proxy.resume();
    await within(new Promise((res) => c.on('open', () => res(undefined))), 'reconnected');
    // Topic operations of one connection run in order: once this publish is answered, the
    // re-subscription sent on open is in place.
    await c.publish('plain', 3);
    await until(() => r.got.length === 2, 'live message after reconnect');
    expect(r.data()).toEqual([1, 3]);
    expect(r.gaps).toEqual([]);
  });
});

describe('recovery after a reconnect', () => {
  it('replays what was published while away, exactly once and in order, even when the drop came before the first message', async () => {
    const { server, port } = await setup();
    const proxy = await proxied(port);
    const c = client(proxy.url);
    const r = record(c, 'feed');
    await within(r.sub.ready, 'subscribed');
    proxy.pause(); // before any message: only the position from the sub answer is known
    await until(() => c.state !== 'open', 'client noticed the cut');
    await publishAll(server, 'feed', range(1, 40));
    proxy.resume();
    await until(() => r.got.length === 40, 'replayed 40');
    await publishAll(server, 'feed', [41, 42]);
    await until(() => r.got.length === 42, 'live after replay');
    expect(r.data()).toEqual(range(1, 42));
    expect(r.offsets()).toEqual(range(1, 42));
    expect(r.got[0]!.meta.recovered).toBe(true);
    expect(r.got.slice(1).every((g) => g.meta.recovered === undefined)).toBe(true);
    expect(r.gaps).toEqual([]);
  });

  it('recovers on every reconnect, not only the first', async () => {
    const { server, port } = await setup();
    const proxy = await proxied(port);
    const c = client(proxy.url);
    const r = record(c, 'feed');
    await within(r.sub.ready, 'subscribed');
    let next = 1;
    for (let round = 0; round < 5; round++) {
      await publishAll(server, 'feed', [next++]);
      proxy.pause();
      await until(() => c.state !== 'open', `cut ${round}`);
      await publishAll(server, 'feed', [next++, next++]);
      proxy.resume();
      await until(() => r.got.length === next - 1, `round ${round} complete`);
    }
    expect(r.data()).toEqual(range(1, next - 1));
    expect(r.gaps).toEqual([]);
    expect(r.got.filter((g) => g.meta.recovered === true)).toHaveLength(5);
  });

  it('reports a gap when more than `size` messages were missed, then resumes live', async () => {
    const { server, port } = await setup();
    const proxy = await proxied(port);
    const c = client(proxy.url);
    const r = record(c, 'small');
    await within(r.sub.ready, 'subscribed');
    await publishAll(server, 'small', [1, 2]);
    await until(() => r.got.length === 2, 'first two');
    proxy.pause();
    await until(() => c.state !== 'open', 'client noticed the cut');
    await publishAll(server, 'small', range(3, 30)); // 28 missed, only 10 kept
    proxy.resume();
    await until(() => r.gaps.length === 1, 'gap reported');
    const epoch = r.sub.position()!.epoch;
    expect(r.gaps[0]).toEqual({ topic: 'small', reason: 'window', from: { epoch, offset: 2 }, to: { epoch, offset: 30 } });
    // Nothing partial was replayed.
    expect(r.data()).toEqual([1, 2]);
    await publishAll(server, 'small', [31, 32]);
    await until(() => r.got.length === 4, 'live resumes');
    expect(r.data()).toEqual([1, 2, 31, 32]);
    expect(r.got[2]!.meta.recovered).toBe(false);
    expect(r.got[3]!.meta.recovered).toBeUndefined();
  });

  it('reports a gap when the missed messages expired (ttlMs)', async () => {
    const { server, port } = await setup();
    const proxy = await proxied(port);
    const c = client(proxy.url);
    const r = record(c, 'brief');
    await within(r.sub.ready, 'subscribed');
    proxy.pause();
    await until(() => c.state !== 'open', 'client noticed the cut');
    const first = await server.publish('brief', 'expires');
    const expiredAt = Date.now() + 150;
    await until(() => Date.now() > expiredAt + 20, 'message outlived its ttl', 2_000);
    proxy.resume();
    await until(() => r.gaps.length === 1, 'gap reported');
    expect(r.gaps[0]!.reason).toBe('window');
    expect(r.gaps[0]!.to).toEqual(first);
    expect(r.got).toEqual([]);
  });

  it('reports an epoch gap after the server restarted (the in-memory engine lost its history)', async () => {
    const first = await setup();
    const proxy = await proxied(first.port);
    const c = client(proxy.url);
    const r = record(c, 'feed');
    await within(r.sub.ready, 'subscribed');
    await publishAll(first.server, 'feed', ['before']);
    await until(() => r.got.length === 1, 'first message');
    const oldEpoch = r.sub.position()!.epoch;
    const second = await setup();
    proxy.retarget(second.port);
    await first.server.close();
    await until(() => r.gaps.length === 1, 'epoch gap reported');
    expect(r.gaps[0]!.reason).toBe('epoch');
    expect(r.gaps[0]!.from).toEqual({ epoch: oldEpoch, offset: 1 });
    expect(r.gaps[0]!.to!.epoch).not.toBe(oldEpoch);
    await second.server.publish('feed', 'after');
    await until(() => r.got.length === 2, 'live on the new server');
    expect(r.got[1]).toMatchObject({ data: 'after', meta: { recovered: false, offset: 1 } });
  });
});

describe('a gap loses no more than it must (docs/guarantees.md, "Epochs")', () => {
  it('after a real restart on the same port, the new epoch is replayed from its start after the epoch gap', async () => {
    const first = await setup();
    const c = client(first.url);
    const r = record(c, 'feed');
    await within(r.sub.ready, 'subscribed');
    await publishAll(first.server, 'feed', ['a', 'b']);
    await until(() => r.got.length === 2, 'before the restart');
    const before = r.sub.position()!;
    await first.server.close();
    await until(() => c.state !== 'open', 'the client saw the server go');
    const second = await setup({ port: first.port });
    // All 33 are published in this tick, before the client's reconnect can even be read.
    await Promise.all(range(1, 33).map((v) => second.server.publish('feed', v)));
    await until(() => r.got.length === 35, 'every message the new server holds');
    expect(r.data()).toEqual(['a', 'b', ...range(1, 33)]);
    const epoch = r.got[2]!.meta.epoch!;
    expect(epoch).not.toBe(before.epoch);
    expect(r.gaps).toEqual([{ topic: 'feed', reason: 'epoch', from: before, to: { epoch, offset: 0 } }]);
    expect(r.offsets().slice(2)).toEqual(range(1, 33));
    expect(r.got[2]!.meta.recovered).toBe(false);
    expect(r.got[3]!.meta.recovered).toBeUndefined();
    await second.server.publish('feed', 'live');
    await until(() => r.got.length === 36, 'live');
    expect(r.got[35]!.meta).toMatchObject({ epoch, offset: 34 });
  });

  it.skipIf(!hasRedis)('Redis lost the topic (a new epoch): the new epoch is replayed from its start', async () => {
    const prefix = testPrefix();
    scope.defer(() => dropPrefix(prefix));
    const engine = redisEngine({ url: REDIS_URL, prefix, logger: silentLogger });
    const { server, port } = await setup({ engine });
    scope.defer(() => engine.close());
    const proxy = await proxied(port);
    const c = client(proxy.url);
    const r = record(c, 'feed');
    await within(r.sub.ready, 'subscribed');
    await publishAll(server, 'feed', ['a', 'b', 'c']);
    await until(() => r.got.length === 3, 'before');
    const before = r.sub.position()!;
    proxy.pause();
    await until(() => c.state !== 'open', 'disconnected');
    // The topic's data is lost (a Redis failover without persistence): the next publish starts a new epoch.
    const redis = new Redis(REDIS_URL);
    scope.defer(() => redis.disconnect());
    const keys = redisKeys(prefix);
    await redis.del(keys.stream('feed'), keys.meta('feed'));
    await publishAll(server, 'feed', range(1, 5));
    proxy.resume();
    await until(() => r.got.length === 8, 'the new epoch');
    const epoch = r.got[3]!.meta.epoch!;
    expect(epoch).not.toBe(before.epoch);
    expect(r.gaps).toEqual([{ topic: 'feed', reason: 'epoch', from: before, to: { epoch, offset: 0 } }]);
    expect(r.data()).toEqual(['a', 'b', 'c', ...range(1, 5)]);
    expect(r.offsets().slice(3)).toEqual(range(1, 5));
    expect(r.got[3]!.meta.recovered).toBe(false);
  });
});

describe('since and history on first subscribe', () => {
  it('history: N replays the last N messages before live ones', async () => {
    const { server, url } = await setup();
    await publishAll(server, 'feed', range(1, 20));
    const c = client(url);
    const r = record(c, 'feed', { history: 5 });
    await within(r.sub.ready, 'subscribed');
    await until(() => r.got.length === 5, 'history');
    await server.publish('feed', 21);
    await until(() => r.got.length === 6, 'live');
    expect(r.data()).toEqual([16, 17, 18, 19, 20, 21]);
    expect(r.gaps).toEqual([]);
  });

  it('history larger than the topic keeps returns what there is (capped at size)', async () => {
    const { server, url } = await setup();
    await publishAll(server, 'small', range(1, 15));
    const r = record(client(url), 'small', { history: 1_000 });
    await within(r.sub.ready, 'subscribed');
    await until(() => r.got.length === 10, 'the ten kept');
    expect(r.data()).toEqual(range(6, 15));
  });

  it('since: a persisted position gets everything after it; a lost one gets a gap', async () => {
    const { server, url } = await setup();
    await publishAll(server, 'feed', range(1, 10));
    const one = client(url);
    const r1 = record(one, 'feed', { history: 3 });
    await until(() => r1.got.length === 3, 'history');
    const saved = r1.sub.position()!;
    expect(saved.offset).toBe(10);
    one.close();
    await publishAll(server, 'feed', [11, 12]);
    const r2 = record(client(url), 'feed', { since: { epoch: saved.epoch, offset: 7 } });
    await until(() => r2.got.length === 5, 'everything after offset 7');
    expect(r2.data()).toEqual([8, 9, 10, 11, 12]);
    expect(r2.got[0]!.meta.recovered).toBe(true);
    // Another epoch: nothing of this one was seen. It is still held from offset 1, so all of it
    // follows the gap (docs/guarantees.md, "Epochs"): the gap is only the other epoch's tail.
    const r3 = record(client(url), 'feed', { since: { epoch: 'not-this-one', offset: 7 } });
    await until(() => r3.gaps.length === 1, 'epoch gap');
    expect(r3.gaps[0]).toEqual({ topic: 'feed', reason: 'epoch', from: { epoch: 'not-this-one', offset: 7 }, to: { epoch: saved.epoch, offset: 0 } });
    await until(() => r3.got.length === 12, 'the whole current epoch');
    expect(r3.data()).toEqual(range(1, 12));
    expect(r3.got[0]!.meta.recovered).toBe(false);
    // When offset 1 is no longer held, the gap stands alone: nothing old follows.
    await publishAll(server, 'small', range(1, 15));
    const r4 = record(client(url), 'small', { since: { epoch: 'not-this-one', offset: 7 } });
    await until(() => r4.gaps.length === 1, 'epoch gap, window overrun');
    expect(r4.gaps[0]!.to).toMatchObject({ offset: 15 });
    await within(r4.sub.ready, 'subscribed');
    expect(r4.got).toEqual([]);
  });

  it('since on a topic without history is a no-history gap, never a silent start', async () => {
    const { url } = await setup();
    const r = record(client(url), 'plain', { since: { epoch: 'x', offset: 3 } });
    await within(r.sub.ready, 'subscribed');
    expect(r.gaps).toEqual([{ topic: 'plain', reason: 'no-history', from: { epoch: 'x', offset: 3 }, to: undefined }]);
  });

  it('refuses since/history for a topic this client already subscribed, and bad values with TypeError', async () => {
    const { url } = await setup();
    const c = client(url);
    await within(c.subscribe('feed', () => {}).ready, 'first');
    await expect(c.subscribe('feed', () => {}, { history: 3 }).ready).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    expect(() => c.subscribe('x', () => {}, { history: 0 })).toThrow(TypeError);
    expect(() => c.subscribe('x', () => {}, { since: { epoch: '', offset: 1 } })).toThrow(TypeError);
    expect(() => c.subscribe('x', () => {}, { since: { epoch: 'e', offset: -1 } })).toThrow(TypeError);
  });

  it('answers malformed since/history on the wire with BAD_REQUEST and keeps the connection', async () => {
    const { url } = await setup();
    const peer = scope.peer(url);
    await until(() => peer.frames.some((f) => f.t === 'welcome'), 'welcome');
    const bad = [
      { since: 'x' },
      { since: { epoch: 'e' } },
      { since: { epoch: 'e'.repeat(65), offset: 1 } },
      { since: { epoch: 'e', offset: 1.5 } },
      { history: 0 },
      { history: 'all' },
      { history: 2 ** 31 },
    ];
    bad.forEach((extra, i) => peer.ws.send(JSON.stringify({ t: 'sub', id: i + 1, topic: 'feed', ...extra })));
    peer.ws.send(JSON.stringify({ t: 'sub', id: 99, topic: 'feed', history: 1 }));
    await until(() => peer.frames.some((f) => f.id === 99), 'valid sub answered');
    for (let i = 1; i <= bad.length; i++) {
      expect(peer.frames.find((f) => f.id === i), `frame ${i}`).toMatchObject({ t: 'err', code: 'BAD_REQUEST' });
    }
    expect(peer.frames.find((f) => f.id === 99)).toMatchObject({ t: 'ok', output: { position: { offset: 0 } } });
    expect(peer.closeCode).toBeUndefined();
  });
});

describe('joining history and live messages', () => {
  /** The memory engine, with a history read that takes 30 ms (as a remote engine's would). */
  function slowHistoryEngine(): Engine {
    const inner = createMemoryEngine();
    return {
      ...inner,
      history: (topic, q) => new Promise((res) => setTimeout(() => res(inner.history(topic, q)), 30)),
    };
  }

  it('holds messages published during the history read: no loss, no duplicate, no reordering', async () => {
    const engine = slowHistoryEngine();
    scope.defer(() => engine.close());
    const { server, port } = await setup({ engine });
    const proxy = await proxied(port);
    let n = 0;
    // A steady publisher (10 messages every 2 ms, at most 20,000) for the whole test: every
    // subscribe and recovery overlaps with publishes.
    const publisher = setInterval(() => {
      for (let i = 0; i < 10 && n < 20_000; i++) void server.publish('big', ++n);
    }, 2);
    scope.defer(() => clearInterval(publisher));
    const c = client(proxy.url);
    const r = record(c, 'big', { history: 50 });
    await within(r.sub.ready, 'subscribed');
    const last = () => r.got.at(-1)?.meta.offset ?? 0;
    for (let i = 0; i < 3; i++) {
      const reopened = new Promise<void>((res) => {
        const offClose = c.on('close', () => {
          offClose();
          const offOpen = c.on('open', () => (offOpen(), res()));
        });
      });
      proxy.severAll();
      await within(reopened, 'cut and reconnected');
      const mark = n;
      await until(() => last() >= mark, 'caught up with what was published before the reconnect');
    }
    clearInterval(publisher);
    await until(() => r.got.at(-1)?.meta.offset === n, 'all delivered');
    const offsets = r.offsets();
    // Contiguous from the first replayed message to the last published one.
    expect(offsets).toEqual(range(offsets[0]!, n));
    expect(r.gaps).toEqual([]);
  });
});

describe('client-side dedupe and gap detection', () => {
  it('drops repeated offsets and reports a jump as a skipped gap (a server that misbehaves)', async () => {
    // A hand-written server: welcome, a sub answer with a position, then offsets 1, 2, 2, 1, 3, 6.
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'switchboard.v1.json' });
    scope.defer(() => new Promise((res) => wss.close(() => res(undefined))));
    await new Promise((res) => wss.once('listening', res));
    wss.on('connection', (ws) => {
      ws.send(JSON.stringify({ t: 'welcome', v: 1, clientId: 'c', heartbeat: { intervalMs: 30_000, timeoutMs: 10_000 }, maxPayload: 1 << 20 }));
      ws.on('message', (raw) => {
        const f = JSON.parse(String(raw)) as { t: string; id: number };
        if (f.t !== 'sub') return;
        ws.send(JSON.stringify({ t: 'ok', id: f.id, output: { position: { epoch: 'E', offset: 0 } } }));
        for (const offset of [1, 2, 2, 1, 3, 6]) {
          ws.send(JSON.stringify({ t: 'msg', topic: 'feed', data: offset, meta: { epoch: 'E', offset } }));
        }
      });
    });
    const port = (wss.address() as { port: number }).port;
    const r = record(client(`ws://127.0.0.1:${port}/ws`), 'feed');
    await until(() => r.got.length === 4, 'four distinct messages');
    expect(r.data()).toEqual([1, 2, 3, 6]);
    expect(r.gaps).toEqual([{ topic: 'feed', reason: 'skipped', from: { epoch: 'E', offset: 3 }, to: { epoch: 'E', offset: 5 } }]);
    expect(r.got[3]!.meta.recovered).toBe(false);
  });
});

describe('re-subscription edge cases (regressions from review)', () => {
  it('retries re-subscriptions the server rate-limits after a reconnect, instead of ending them', { timeout: 20_000 }, async () => {
    const { server, port } = await setup({ limits: { rate: { perSecond: 20, burst: 20 } } });
    const proxy = await proxied(port);
    const c = client(proxy.url);
    const errors: string[] = [];
    const got = new Map<string, number>();
    const subs = Array.from({ length: 30 }, (_, i) => {
      const t = `room-${i}`;
      const s = c.subscribe(t, () => got.set(t, (got.get(t) ?? 0) + 1));
      s.on('error', (e) => errors.push(`${t}:${e.code}`));
      return s;
    });
    // Subscribed over time, within the rate.
    for (const s of subs) await within(s.ready, 'subscribed', 10_000);
    await until(() => false, 'bucket refill', 1_200).catch(() => {});
    // Waited on as events: the client reconnects within milliseconds, faster than polling sees.
    const reopened = new Promise<void>((res) => {
      const offClose = c.on('close', () => {
        offClose();
        const offOpen = c.on('open', () => (offOpen(), res()));
      });
    });
    proxy.severAll(); // the reconnect re-sends 30 subs at once: 10 over the burst of 20
    await within(reopened, 'cut and reopened');
    await until(() => false, 'retries after RATE_LIMITED', 2_500).catch(() => {});
    for (let i = 0; i < 30; i++) await server.publish(`room-${i}`, 'x');
    await until(() => got.size === 30, 'every topic still delivers', 5_000);
    expect(errors).toEqual([]);
  });

  it('drops nothing twice after unsubscribe then subscribe({ since }) while messages flow', async () => {
    const { server, url } = await setup();
    const c = client(url);
    const first = record(c, 'big');
    await within(first.sub.ready, 'subscribed');
    let n = 0;
    const timer = setInterval(() => {
      for (let i = 0; i < 20 && n < 20_000; i++) void server.publish('big', ++n);
    }, 1);
    scope.defer(() => clearInterval(timer));
    await until(() => first.got.length > 200, 'flowing');
    first.sub.unsubscribe();
    const second = record(c, 'big', { since: first.sub.position() });
    await within(second.sub.ready, 'resubscribed');
    await until(() => second.got.length > 200, 'flowing again');
    clearInterval(timer);
    await until(() => second.got.at(-1)?.meta.offset === n, 'caught up');
    const offsets = second.offsets();
    // Exactly the offsets after where the first handler stopped, each once, in order.
    expect(offsets).toEqual(range(first.got.at(-1)!.meta.offset! + 1, n));
    expect(second.gaps).toEqual([]);
  });

  it('settles ready (ABORTED) when unsubscribed before the server confirmed', async () => {
    const { url } = await setup();
    const c = client(url);
    const s = c.subscribe('feed', () => {});
    s.unsubscribe();
    await expect(within(s.ready, 'ready settles', 2_000)).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('confirms a sub whose answer came after its timeout, without a false gap', async () => {
    const mem = createMemoryEngine();
    scope.defer(() => mem.close());
    let slow = false;
    const engine: Engine = {
      ...mem,
      history: async (t, q) => {
        if (slow) await new Promise((r) => setTimeout(r, 400));
        return mem.history(t, q);
      },
    };
    const { server, url } = await setup({ engine });
    const p1 = (await server.publish('feed', 'a'))!;
    await publishAll(server, 'feed', ['b', 'c']);
    slow = true;
    const c = client(url, { timeoutMs: 250 });
    c.on('error', () => {}); // the TIMEOUT of the first sub is reported there
    const r = record(c, 'feed', { since: p1 });
    await until(() => r.got.length === 2, 'replay after the late answer', 3_000);
    slow = false;
    await server.publish('feed', 'd');
    await until(() => r.got.length === 3, 'live');
    expect(r.data()).toEqual(['b', 'c', 'd']);
    expect(r.gaps).toEqual([]);
  });
});
