/**
 * The Redis engine in one process: several servers on one Redis behave as one — fan-out across
 * nodes in order, shared history and recovery on another node, presence across nodes, idempotent
 * calls across nodes, an emitter without clients, and Redis going away and coming back.
 * Needs a real Redis; skipped with a printed reason where none answers.
 */
import { silentLogger } from '../src/shared/logger.js';
import { describe, expect, it } from 'vitest';
import type { Client, ClientOptions, Member } from '../src/client/node.js';
import { redisEmitter, redisEngine, type RedisEngineOptions } from '../src/engines/redis/index.js';
import type { Server } from '../src/server/index.js';
import { createTestScope, until, within } from './helpers.js';
import { record } from './record.js';
import { dropPrefix, privateRedis, REDIS_SERVER, REDIS_URL, requireRedis, testPrefix } from './redis-helpers.js';

const hasRedis = await requireRedis('test/redis.test.ts');
const scope = createTestScope();

const FAST = { initialDelayMs: 5, maxDelayMs: 50, maxAttempts: Infinity, stableAfterMs: 1_000 };

/** A client that reconnects fast and forever, its errors expected. */
function client(url: string | string[], opts: ClientOptions = {}): Client {
  const c = scope.client(url, { reconnect: FAST, ...opts });
  c.on('error', () => {});
  return c;
}

/** Starts `n` servers sharing one Redis under a fresh prefix. */
async function cluster(n: number, engineOpts: RedisEngineOptions = {}) {
  const prefix = engineOpts.prefix ?? testPrefix();
  scope.defer(() => dropPrefix(prefix, engineOpts.url));
  const runs: string[] = [];
  const nodes: { server: Server<string>; url: string; port: number }[] = [];
  for (let i = 0; i < n; i++) {
    const engine = redisEngine({ url: REDIS_URL, nodeTtlMs: 1_000, logger: silentLogger, ...engineOpts, prefix });
    const started = await scope.server<string>(
      { engine, authenticate: (_req, token) => token ?? null, limits: { rate: false } },
      (s) => {
        s.topic('room:*', { subscribe: true, publish: true, presence: true, history: { size: 1_000, ttlMs: 60_000 } });
        s.topic('live:*', { subscribe: true, publish: true });
        s.command('pay', (amount: number) => {
          runs.push(`node${i}:${amount}`);
          return { node: i };
        });
      },
    );
    // The server does not own an engine it was given: close it after the server.
    scope.track(engine);
    nodes.push(started);
  }
  return { prefix, nodes, runs };
}

const ids = (members: Member[]) => members.map((m) => m.id).sort();

describe.skipIf(!hasRedis)('redis engine, several servers in one process', () => {
  it('delivers messages published on any node to subscribers on every node, in order, with shared offsets', async () => {
    const { nodes } = await cluster(3);
    const subs = nodes.map((n, i) => record(client(n.url, { token: `s${i}` }), 'room:a'));
    await Promise.all(subs.map((s) => within(s.sub.ready, 'subscribed')));
    const pubs = nodes.map((n, i) => client(n.url, { token: `p${i}` }));
    for (let k = 0; k < 30; k++) await pubs[k % 3]!.publish('room:a', k);
    await until(() => subs.every((s) => s.got.length === 30), 'all received');
    for (const s of subs) {
      expect(s.data()).toEqual(Array.from({ length: 30 }, (_, k) => k));
      expect(s.got.map((g) => g.meta.offset)).toEqual(Array.from({ length: 30 }, (_, k) => k + 1));
    }
    expect(new Set(subs.flatMap((s) => s.got.map((g) => g.meta.epoch))).size).toBe(1);
  });

  it('fans out topics without history too, and binary data intact', async () => {
    const { nodes } = await cluster(2);
    const r = record(client(nodes[1]!.url, { token: 'x' }), 'live:1');
    await within(r.sub.ready, 'subscribed');
    await client(nodes[0]!.url, { token: 'y' }).publish('live:1', { bytes: new Uint8Array([1, 2, 255]), n: null });
    await until(() => r.got.length === 1, 'received');
    expect(r.got[0]!.data).toEqual({ bytes: new Uint8Array([1, 2, 255]), n: null });
    expect(r.got[0]!.meta.offset).toBeUndefined();
  });

  it('recovers on another node: a client that fails over gets what it missed, exactly once', async () => {
    const { nodes } = await cluster(2);
    const a = nodes[0]!;
    const b = nodes[1]!;
    // The client's URL list: node A first, then B.
    const c = client([a.url, b.url], { token: 'mover' });
    const r = record(c, 'room:f');
    await within(r.sub.ready, 'subscribed');
    const pub = client(b.url, { token: 'pub' });
    await pub.publish('room:f', 1);
    await until(() => r.got.length === 1, 'first');
    const opened = new Promise((res) => c.on('open', res));
    await a.server.close(); // node A goes away; the client moves to B
    await pub.publish('room:f', 2);
    await pub.publish('room:f', 3);
    await within(opened, 'reopened on B');
    await until(() => r.got.length === 3, 'recovered');
    await pub.publish('room:f', 4);
    await until(() => r.got.length === 4, 'live');
    expect(r.data()).toEqual([1, 2, 3, 4]);
    expect(r.got[1]!.meta.recovered).toBe(true);
    expect(r.gaps).toEqual([]);
  });

  it('shares presence: one member list on every node, joins and leaves across nodes', async () => {
    const { nodes } = await cluster(2);
    const alice = client(nodes[0]!.url, { token: 'alice' });
    const s1 = alice.subscribe('room:p', () => {});
    await within(s1.ready, 'alice in');
    const bob = client(nodes[1]!.url, { token: 'bob' });
    const s2 = bob.subscribe('room:p', () => {});
    await within(s2.ready, 'bob in');
    expect(ids(s2.members())).toEqual(['alice', 'bob']);
    await until(() => ids(s1.members()).length === 2, 'alice hears bob join');
    expect(ids(await nodes[0]!.server.presence('room:p'))).toEqual(['alice', 'bob']);
    // A second tab of bob on the other node: still one member.
    const bob2 = client(nodes[0]!.url, { token: 'bob' });
    await within(bob2.subscribe('room:p', () => {}).ready, 'bob tab 2');
    bob.close();
    expect(ids(await nodes[1]!.server.presence('room:p'))).toEqual(['alice', 'bob']);
    bob2.close();
    await until(() => ids(s1.members()).length === 1, 'alice hears bob leave');
    expect(ids(await nodes[1]!.server.presence('room:p'))).toEqual(['alice']);
  });

  it('runs a keyed call once across nodes', async () => {
    const { nodes, runs } = await cluster(2);
    const one = await client(nodes[0]!.url, { token: 'u' }).call('pay', 5, { idempotencyKey: 'order-1' });
    const two = await client(nodes[1]!.url, { token: 'u' }).call('pay', 5, { idempotencyKey: 'order-1' });
    expect(two).toEqual(one);
    expect(runs).toEqual(['node0:5']);
  });

  it('publishes from an emitter without clients, into the same history', async () => {
    const { nodes, prefix } = await cluster(1);
    const emitter = await redisEmitter({ url: REDIS_URL, prefix, logger: silentLogger, history: (t) => (t.startsWith('room:') ? { size: 1_000, ttlMs: 60_000 } : false) });
    scope.track(emitter);
    const r = record(client(nodes[0]!.url, { token: 'w' }), 'room:e');
    await within(r.sub.ready, 'subscribed');
    const pos = await emitter.publish('room:e', 'from a worker');
    await until(() => r.got.length === 1, 'received');
    expect(r.got[0]!.meta).toMatchObject({ epoch: pos!.epoch, offset: pos!.offset });
    expect(ids(await emitter.presence('room:e'))).toEqual(['w']);
  });
});

describe.skipIf(!hasRedis || !REDIS_SERVER)('redis engine, Redis stopped and restarted', () => {
  it('keeps local connections, reports unhealthy, refuses publishes with UNAVAILABLE, and recovers with the gap reported', { timeout: 30_000 }, async () => {
    const redis = await privateRedis();
    scope.defer(() => redis.stop());
    const { nodes } = await cluster(2, { url: redis.url });
    const sub = client(nodes[1]!.url, { token: 's' });
    const r = record(sub, 'room:r');
    await within(r.sub.ready, 'subscribed');
    const pub = client(nodes[0]!.url, { token: 'p' });
    await pub.publish('room:r', 'before');
    await until(() => r.got.length === 1, 'before');
    const before = r.sub.position()!;

    await redis.stop();
    await until(() => !nodes[0]!.server.health().engine.healthy, 'node reports unhealthy');
    await expect(pub.publish('room:r', 'during')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(pub.call('pay', 1)).resolves.toEqual({ node: 0 }); // plain commands need no Redis
    expect([pub.state, sub.state]).toEqual(['open', 'open']);

    await redis.start();
    await until(() => nodes.every((n) => n.server.health().engine.healthy), 'nodes healthy again', 10_000);
    // The restarted Redis lost everything (no persistence): a new epoch, reported as a gap.
    // Publishes fail until the publishing node's connection is back; retry until one arrives.
    const deadline = Date.now() + 10_000;
    while (r.got.length < 2) {
      if (Date.now() > deadline) throw new Error('no message arrived after Redis came back');
      await pub.publish('room:r', 'after').catch(() => {});
      await until(() => r.got.length > 1, 'after', 200).catch(() => {});
    }
    expect(r.got[1]!.data).toBe('after');
    expect(r.gaps).toHaveLength(1);
    expect(r.gaps[0]!).toMatchObject({ reason: 'epoch', from: before });
    expect(r.got[1]!.meta.recovered).toBe(false);
  });
});
