/**
 * The Redis engine on a Redis Cluster (docs/scaling.md, "Redis Cluster"), against the local cluster
 * of test/redis-cluster-helpers.ts (three primaries, a replica each): every topic's keys and channel
 * on its own shard, fan-out on that shard only; a resharding (the topic's slot moved to another
 * primary, keys migrated one by one) and a primary failover (its replica promoted) while messages
 * are published, after which every subscriber has every offset exactly once, in order, with no gap.
 * The engine contract and chaos suites run on the cluster too (engine-contract.test.ts, chaos.test.ts).
 * Skipped with a printed reason where no cluster answers.
 */
import { describe, expect, it } from 'vitest';
import { redisEngine } from '../src/engines/redis/index.js';
import { redisKeys } from '../src/engines/redis/keys.js';
import type { Server } from '../src/server/index.js';
import { silentLogger } from '../src/shared/logger.js';
import { createTestScope, until, within } from './helpers.js';
import { record } from './record.js';
import { CLUSTER_URLS, clusterNodes, clusterSkipReason, dropClusterPrefix, failover, migrateSlot, onNode, ownerOf, topicSlot, topicsPerShard } from './redis-cluster-helpers.js';
import { testPrefix } from './redis-helpers.js';

const noCluster = await clusterSkipReason();
if (noCluster) console.warn(`SKIP test/redis-cluster.test.ts: ${noCluster}`);
const scope = createTestScope();

/** Two servers on the cluster under one fresh prefix. */
async function nodes() {
  const prefix = testPrefix();
  scope.defer(() => dropClusterPrefix(prefix));
  const start = async () => {
    // A generous deadline: a failover pauses the old primary's clients while the replica catches up.
    const engine = redisEngine({ cluster: CLUSTER_URLS, prefix, commandTimeoutMs: 5_000, logger: silentLogger });
    scope.track(engine);
    return scope.server({ engine, history: { size: 1_000, ttlMs: 60_000 } }, (s) => void s.topic('feed:*', { subscribe: true }));
  };
  const [a, b] = await Promise.all([start(), start()]);
  return { a: a!, b: b!, keys: redisKeys(prefix) };
}

/**
 * Publishes 1…`count` on `topic` from `server`, one after another; `at(n)` runs once `n` went out.
 * A publish refused with UNAVAILABLE (certainly not published) is tried again.
 */
async function publishing(server: Server, topic: string, count: number, at: Map<number, () => void>, sent?: (n: number) => void): Promise<number> {
  let retries = 0;
  for (let i = 1; i <= count; i++) {
    for (;;) {
      try {
        await server.publish(topic, i);
        break;
      } catch (err) {
        if ((err as { code?: string }).code !== 'UNAVAILABLE' || ++retries > 50) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    sent?.(i);
    at.get(i)?.();
  }
  return retries;
}

/** A promise resolved when `n` was published, registered in `at`. */
function published(at: Map<number, () => void>, n: number): Promise<void> {
  return new Promise((resolve) => at.set(n, resolve));
}

describe.skipIf(noCluster !== undefined)(noCluster ? `skipped: ${noCluster}` : 'Redis Cluster', () => {
  it('keeps each topic on its shard: its keys and sharded channel under one hash tag, delivered across nodes', async () => {
    const { a, b, keys } = await nodes();
    const topics = await topicsPerShard(`feed:spread:${Math.random().toString(36).slice(2, 6)}:`);
    expect(topics).toHaveLength(3);
    const c = scope.client(a.url);
    const rs = topics.map((t) => record(c, t));
    await within(Promise.all(rs.map((r) => r.sub.ready)), 'subscribed on A');
    for (const t of topics) for (let i = 1; i <= 5; i++) await b.server.publish(t, i);
    await until(() => rs.every((r) => r.got.length === 5), 'every topic delivered from B to A');
    for (const r of rs) expect(r.offsets()).toEqual([1, 2, 3, 4, 5]);

    const primaries = (await clusterNodes()).filter((n) => n.primary);
    for (const t of topics) {
      const owner = await ownerOf(topicSlot(t));
      // History and meta on the topic's shard…
      expect(await onNode(owner.addr, (r) => r.exists(keys.stream(t), keys.meta(t)))).toBe(2);
      // …and the channel subscribed there only (sharded pub/sub: the other shards never see it).
      for (const p of primaries) {
        const channels = (await onNode(p.addr, (r) => r.call('PUBSUB', 'SHARDCHANNELS', `${keys.channelPrefix}*`))) as string[];
        expect(channels.includes(keys.channel(t)), `${t} on ${p.addr}`).toBe(p.id === owner.id);
      }
    }
  });

  it('survives a resharding: the topic’s slot moves to another primary, key by key, while messages are published', { timeout: 30_000 }, async () => {
    const { a, b, keys } = await nodes();
    const topic = `feed:reshard:${Math.random().toString(36).slice(2, 8)}`;
    const slot = topicSlot(topic);
    const from = await ownerOf(slot);
    const to = (await clusterNodes()).find((n) => n.primary && n.id !== from.id)!;
    const c = scope.client(a.url);
    const r = record(c, topic);
    await within(r.sub.ready, 'subscribed on A');

    const at = new Map<number, () => void>();
    const [p50, p150] = [published(at, 50), published(at, 150)];
    let count = 0;
    const done = publishing(b.server, topic, 300, at, (n) => (count = n));
    await within(p50, '50 published');
    let split = 0;
    await migrateSlot(slot, to, {
      // One key at a time: after the first, the topic's stream and meta are on two shards, and its
      // publishes are answered TRYAGAIN, which ioredis retries (this is what the test waits for).
      batch: 1,
      afterFirstBatch: async () => {
        split = count;
        await new Promise((r) => setTimeout(r, 300));
      },
      // Every key moved, the slot still the source's: publishes are redirected with ASK and go on.
      beforeOwnerChange: () => within(p150, '150 published while the slot is half handed over', 10_000),
    });
    const retries = await within(done, 'all 300 published', 20_000);
    await until(() => r.got.length >= 300, 'every message delivered on A', 15_000);

    expect((await ownerOf(slot)).id).toBe(to.id);
    expect(await onNode(to.addr, (x) => x.exists(keys.stream(topic), keys.meta(topic)))).toBe(2);
    expect(r.offsets()).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(r.data()).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(r.gaps).toEqual([]);
    console.log(`cluster resharding: slot ${slot} ${from.addr} → ${to.addr}; keys split at message ${split}; publishes refused with UNAVAILABLE and retried: ${retries}`);
    // Live again on the new owner.
    await b.server.publish(topic, 301);
    await until(() => r.got.length === 301, 'live after the resharding');
    expect(await onNode(to.addr, (x) => x.call('PUBSUB', 'SHARDCHANNELS', keys.channel(topic)))).toEqual([keys.channel(topic)]);
  });

  it('survives a primary failover: the replica of the topic’s shard takes over while messages are published', { timeout: 30_000 }, async () => {
    const { a, b, keys } = await nodes();
    const topic = `feed:failover:${Math.random().toString(36).slice(2, 8)}`;
    const slot = topicSlot(topic);
    const primary = await ownerOf(slot);
    const c = scope.client(a.url);
    const r = record(c, topic);
    await within(r.sub.ready, 'subscribed on A');

    const at = new Map<number, () => void>();
    const p50 = published(at, 50);
    const done = publishing(b.server, topic, 300, at);
    await within(p50, '50 published');
    const promoted = await failover(primary);
    const retries = await within(done, 'all 300 published', 20_000);
    await until(() => r.got.length >= 300, 'every message delivered on A', 15_000);

    expect((await ownerOf(slot)).id).toBe(promoted.id);
    expect(r.offsets()).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(r.data()).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(r.gaps).toEqual([]);
    console.log(`cluster failover: ${primary.addr} → ${promoted.addr}; publishes refused with UNAVAILABLE and retried: ${retries}`);
    await b.server.publish(topic, 301);
    await until(() => r.got.length === 301, 'live after the failover');
    expect(await onNode(promoted.addr, (x) => x.call('PUBSUB', 'SHARDCHANNELS', keys.channel(topic)))).toEqual([keys.channel(topic)]);
  });
});
