/**
 * The local Redis Cluster of the tests: three primaries on 127.0.0.1:7000-7002 with a replica each
 * on 7003-7005, started by `.ci/redis-cluster` (which `.ci/run` calls when none answers). Tests find
 * it here or skip with a printed reason. Each test works under its own key prefix, removed
 * afterwards from every primary. The topology helpers move a slot to another primary (resharding)
 * and promote a replica (failover); roles change from run to run, so tests ask who owns what.
 */
import { Cluster, Redis } from 'ioredis';
import { keySlot } from '../src/engines/redis/slot.js';

/** A seed node of the test cluster (SWITCHBOARD_TEST_CLUSTER, default 127.0.0.1:7000). */
export const CLUSTER_SEED = process.env.SWITCHBOARD_TEST_CLUSTER ?? '127.0.0.1:7000';
export const CLUSTER_URLS = [`redis://${CLUSTER_SEED}`];

function plain(addr: string): Redis {
  const [host, port] = addr.split(':');
  const r = new Redis({ host, port: Number(port), lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1_000 });
  r.on('error', () => {});
  return r;
}

/** Runs `op` on a short-lived connection to one node. */
export async function onNode<T>(addr: string, op: (r: Redis) => Promise<T>): Promise<T> {
  const r = plain(addr);
  try {
    await r.connect();
    return await op(r);
  } finally {
    r.disconnect();
  }
}

/** Why the cluster tests skip here, or `undefined` when the cluster answers with every slot served. */
export async function clusterSkipReason(): Promise<string | undefined> {
  try {
    const info = await onNode(CLUSTER_SEED, (r) => r.cluster('INFO') as Promise<string>);
    if (!info.includes('cluster_state:ok')) return `the Redis Cluster at ${CLUSTER_SEED} is not ok (${info.split('\r\n')[0]})`;
    const version = await onNode(CLUSTER_SEED, (r) => r.info('server'));
    const major = Number(/redis_version:(\d+)/.exec(version)?.[1] ?? 0);
    if (major < 7) return `the Redis Cluster at ${CLUSTER_SEED} runs Redis ${major}; sharded pub/sub needs 7`;
  } catch {
    return `no Redis Cluster answers at ${CLUSTER_SEED} (run .ci/redis-cluster, or set SWITCHBOARD_TEST_CLUSTER)`;
  }
  // A node left dead by an interrupted run would hang the failover test instead of failing it
  // (`.ci/redis-cluster` recreates such a cluster, and one with a half-moved slot). Only what no
  // other test file's resharding or failover shows for a moment: those run beside this check.
  try {
    const nodes = ((await onNode(CLUSTER_SEED, (r) => r.cluster('NODES'))) as string).trim().split('\n').map((l) => l.split(' '));
    const dead = nodes.find((f) => f[2]!.split(',').includes('fail'));
    if (dead) return `the Redis Cluster node ${dead[1]!.split('@')[0]} is marked failed (run .ci/redis-cluster to recreate the cluster)`;
  } catch (err) {
    return `the Redis Cluster at ${CLUSTER_SEED} did not answer CLUSTER NODES (${(err as Error).message}); run .ci/redis-cluster to recreate it`;
  }
  return undefined;
}

/** A Node of `CLUSTER NODES`. */
export interface ClusterNodeInfo {
  id: string;
  addr: string;
  primary: boolean;
  /** For a replica: its primary's id. */
  of?: string;
  /** For a primary: its slot ranges. */
  slots: [number, number][];
}

/** The cluster's nodes, as the seed sees them (failed nodes left out). */
export async function clusterNodes(seed = CLUSTER_SEED): Promise<ClusterNodeInfo[]> {
  const text = (await onNode(seed, (r) => r.cluster('NODES'))) as string;
  return text
    .trim()
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => !f[2]!.includes('fail'))
    .map((f) => ({
      id: f[0]!,
      addr: f[1]!.split('@')[0]!,
      primary: f[2]!.includes('master'),
      ...(f[3] !== '-' ? { of: f[3]! } : {}),
      slots: f
        .slice(8)
        .filter((s) => !s.startsWith('['))
        .map((s) => {
          const [a, b] = s.split('-');
          return [Number(a), Number(b ?? a)] as [number, number];
        }),
    }));
}

/** The primary that owns `slot`. */
export async function ownerOf(slot: number): Promise<ClusterNodeInfo> {
  const owner = (await clusterNodes()).find((n) => n.primary && n.slots.some(([a, b]) => slot >= a && slot <= b));
  if (!owner) throw new Error(`no primary owns slot ${slot}`);
  return owner;
}

/** The slot of a topic's keys and channel (keys.ts puts `{topic}` in each). */
export const topicSlot = (topic: string) => keySlot(`{${topic}}`);

/** Topics spread over the three primaries (one per shard, by slot), with names starting with `base`. */
export async function topicsPerShard(base: string, shards = 3): Promise<string[]> {
  const primaries = (await clusterNodes()).filter((n) => n.primary);
  const found = new Map<string, string>();
  for (let i = 0; found.size < Math.min(shards, primaries.length) && i < 10_000; i++) {
    const topic = `${base}${i}`;
    const slot = topicSlot(topic);
    const owner = primaries.find((n) => n.slots.some(([a, b]) => slot >= a && slot <= b))!;
    if (!found.has(owner.id)) found.set(owner.id, topic);
  }
  return [...found.values()];
}

/** When {@link migrateSlot} hands over to the test, and how many keys it moves per MIGRATE. */
export interface MigrationSteps {
  /** Keys per MIGRATE (redis-cli's default pipeline is 10). @default 10 */
  batch?: number;
  /** After the first batch: a topic's keys may be on two shards now. */
  afterFirstBatch?: () => Promise<unknown>;
  /** Every key moved, the slot still owned by the source (commands are redirected with ASK). */
  beforeOwnerChange?: () => Promise<unknown>;
}

/**
 * Moves `slot` to the primary `to` as `redis-cli --cluster reshard` does: IMPORTING on the target,
 * MIGRATING on the source, MIGRATE of its keys in batches, then the new owner announced to every
 * primary. A step that fails is reported after the move completed, so the shared cluster is never
 * left with a half-moved slot.
 */
export async function migrateSlot(slot: number, to: ClusterNodeInfo, steps: MigrationSteps = {}): Promise<void> {
  const from = await ownerOf(slot);
  if (from.id === to.id) return;
  let failed: { err: unknown } | undefined;
  const step = async (f?: () => Promise<unknown>) => {
    try {
      await f?.();
    } catch (err) {
      failed ??= { err };
    }
  };
  const [toHost, toPort] = to.addr.split(':');
  await onNode(to.addr, (r) => r.cluster('SETSLOT', slot, 'IMPORTING', from.id));
  await onNode(from.addr, async (r) => {
    await r.cluster('SETSLOT', slot, 'MIGRATING', to.id);
    let first = true;
    for (;;) {
      const keys = (await r.cluster('GETKEYSINSLOT', slot, steps.batch ?? 10)) as string[];
      if (!keys.length) break;
      await r.migrate(toHost!, toPort!, '', 0, 5_000, 'REPLACE', 'KEYS', ...keys);
      if (first) await step(steps.afterFirstBatch);
      first = false;
    }
    // An empty slot: act before the ownership changes all the same.
    if (first) await step(steps.afterFirstBatch);
  });
  await step(steps.beforeOwnerChange);
  await onNode(to.addr, (r) => r.cluster('SETSLOT', slot, 'NODE', to.id));
  await onNode(from.addr, (r) => r.cluster('SETSLOT', slot, 'NODE', to.id));
  for (const n of (await clusterNodes()).filter((x) => x.primary && x.id !== to.id && x.id !== from.id)) {
    await onNode(n.addr, (r) => r.cluster('SETSLOT', slot, 'NODE', to.id));
  }
  if (failed) throw failed.err;
}

/**
 * Promotes the replica of `primary` with a manual `CLUSTER FAILOVER` (no data lost: the replica
 * catches up first), and waits until the seed sees the new role.
 */
export async function failover(primary: ClusterNodeInfo, deadlineMs = 15_000): Promise<ClusterNodeInfo> {
  const replica = (await clusterNodes()).find((n) => !n.primary && n.of === primary.id);
  if (!replica) throw new Error(`primary ${primary.addr} has no replica to promote`);
  await onNode(replica.addr, (r) => r.cluster('FAILOVER'));
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const nodes = await clusterNodes(replica.addr);
    const now = nodes.find((n) => n.id === replica.id);
    const seen = (await clusterNodes()).find((n) => n.id === replica.id);
    if (now?.primary && seen?.primary) return { ...replica, primary: true, slots: now.slots };
    if (Date.now() > deadline) throw new Error(`the replica ${replica.addr} did not take over from ${primary.addr} within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Removes every key under `prefix` from every primary. */
export async function dropClusterPrefix(prefix: string): Promise<void> {
  for (const n of (await clusterNodes()).filter((x) => x.primary)) {
    await onNode(n.addr, async (r) => {
      let cursor = '0';
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
        // One key per command: the keys of one batch are on several slots.
        for (const k of keys) await r.unlink(k).catch(() => 0);
        cursor = next;
      } while (cursor !== '0');
    });
  }
}

/** A Cluster client as the docs recommend giving to `redisEngine({ client })`. */
export function clusterClient(): Cluster {
  const c = new Cluster(CLUSTER_URLS, { lazyConnect: true, enableOfflineQueue: false, redisOptions: { maxRetriesPerRequest: 1 } });
  c.on('error', () => {});
  return c;
}
