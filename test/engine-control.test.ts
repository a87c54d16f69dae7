/**
 * The engine's part of server control (src/engines/engine.ts: `control`, `grantAdd`, `grantFind`,
 * `grantRemove`, `grantHold`, `grantRevoke`), through the `Engine` interface only, on every engine: a command reaches every
 * attached node (this one included) in the order sent, binary values intact; grants are stored,
 * bound, expire and are deleted, and are shared by the nodes of one data set. The Redis entry is
 * skipped with a printed reason where no Redis answers.
 */
import { describe, expect, it } from 'vitest';
import type { ControlMessage, Engine, EngineNode } from '../src/engines/engine.js';
import { createMemoryEngine } from '../src/engines/memory.js';
import { redisEngine } from '../src/engines/redis/index.js';
import { silentLogger } from '../src/shared/logger.js';
import { createTestScope, until } from './helpers.js';
import { dropPrefix, REDIS_URL, requireRedis, testPrefix } from './redis-helpers.js';
import { CLUSTER_URLS, clusterSkipReason, dropClusterPrefix } from './redis-cluster-helpers.js';
import { natsEngine } from '../src/engines/nats/index.js';
import { dropNatsPrefix, NATS_URL, natsMissing, natsTestPrefix } from './nats-helpers.js';

const hasRedis = await requireRedis('test/engine-control.test.ts (redis entry)');
const noCluster = await clusterSkipReason();
if (noCluster) console.warn(`SKIP test/engine-control.test.ts (redis cluster entry): ${noCluster}`);
const noNats = await natsMissing();
if (noNats) console.warn(`SKIP test/engine-control.test.ts (nats entry): ${noNats}`);
const scope = createTestScope();

const ENGINES: { name: string; skip?: string; nodes: number; create(dataset: string): Engine; dataset(): string }[] = [
  { name: 'memory', nodes: 1, dataset: () => 'memory', create: () => createMemoryEngine() },
  {
    name: 'redis',
    ...(hasRedis ? {} : { skip: `no Redis answers at ${REDIS_URL}` }),
    nodes: 2,
    dataset() {
      const p = testPrefix();
      scope.defer(() => dropPrefix(p));
      return p;
    },
    create: (prefix) => redisEngine({ url: REDIS_URL, prefix }),
  },
  {
    name: 'redis cluster',
    ...(noCluster ? { skip: noCluster } : {}),
    nodes: 2,
    dataset() {
      const p = testPrefix();
      scope.defer(() => dropClusterPrefix(p));
      return p;
    },
    create: (prefix) => redisEngine({ cluster: CLUSTER_URLS, prefix }),
  },
  {
    name: 'nats',
    ...(noNats ? { skip: noNats } : {}),
    nodes: 2,
    dataset() {
      const p = natsTestPrefix();
      scope.defer(() => dropNatsPrefix(p));
      return p;
    },
    create: (prefix) => natsEngine({ url: NATS_URL, prefix }),
  },
];

function node(): EngineNode & { got: ControlMessage[] } {
  const got: ControlMessage[] = [];
  return { got, deliver() {}, suspend() {}, async resync() {}, control: (m) => void got.push(m), logger: silentLogger };
}

describe.each(ENGINES)('engine control: $name', ({ skip, nodes, create, dataset }) => {
  async function attached(n: number) {
    const set = dataset();
    const out: { engine: Engine; node: ReturnType<typeof node> }[] = [];
    for (let i = 0; i < n; i++) {
      const engine = scope.track(create(set));
      const nd = node();
      await engine.attach(nd);
      out.push({ engine, node: nd });
    }
    return out;
  }

  it.skipIf(skip)('hands every command to every node, this one included, in the order sent', async () => {
    const all = await attached(nodes);
    const sender = all[0]!.engine;
    const sent: ControlMessage[] = [
      { op: 'event', target: { member: 'alice' }, name: 'bin', data: new Uint8Array([0, 255]) },
      ...Array.from({ length: 30 }, (_, i): ControlMessage => ({ op: 'event', target: { clientId: 'c1' }, name: 'seq', data: i })),
      { op: 'kick', target: { member: 'bob' }, reason: 'bye', reconnect: false },
      { op: 'subscribe', target: { member: 'alice' }, topic: 'room:1', bypassRules: true },
      { op: 'unsubscribe', target: { clientId: 'c2' }, topic: 'room:1', reason: 'gone' },
    ];
    for (const m of sent) await sender.control!(m);
    for (const { node: n } of all) {
      await until(() => n.got.length === sent.length, 'every command on every node');
      const [bin, ...rest] = n.got;
      expect(new Uint8Array((bin as { data: Uint8Array }).data)).toEqual(new Uint8Array([0, 255]));
      expect(rest).toEqual(sent.slice(1));
    }
  });

  it.skipIf(skip)('stores grants bound to a member, shared by the nodes of one data set, until removed or expired', async () => {
    const all = await attached(nodes);
    const [w, r] = [all[0]!.engine, all.at(-1)!.engine];
    await w.grantAdd!('m:x', 'private:alice', 'alice');
    await w.grantAdd!('c:1', 'private:guest', '', 60_000);
    await w.grantAdd!('c:2', 'private:brief', 'bob', 30);
    expect(await r.grantFind!('m:x', 'private:alice')).toBe('alice');
    expect(await r.grantFind!('m:x', 'private:other')).toBeUndefined();
    expect(await r.grantFind!('c:1', 'private:guest')).toBe('');
    expect(await r.grantFind!('nope', 'private:alice')).toBeUndefined();
    await r.grantRemove!('m:x', 'private:alice');
    expect(await w.grantFind!('m:x', 'private:alice')).toBeUndefined();
    const deadline = Date.now() + 2_000;
    while ((await r.grantFind!('c:2', 'private:brief')) !== undefined && Date.now() < deadline) await new Promise((res) => setTimeout(res, 10));
    expect(await r.grantFind!('c:2', 'private:brief')).toBeUndefined();
    expect(await r.grantFind!('c:1', 'private:guest')).toBe('');
  });

  it.skipIf(skip)('revokes every grant of a member, or every grant a connection holds, for one topic only', async () => {
    const all = await attached(nodes);
    const [w, r] = [all[0]!.engine, all.at(-1)!.engine];
    const T = 'private:alice';
    // alice's member grant, two per-connection grants bound to alice, one to bob, one anonymous.
    await w.grantAdd!('m:alice', T, 'alice');
    await w.grantAdd!('c:a1', T, 'alice', 60_000);
    await w.grantAdd!('c:a2', T, 'alice', 60_000);
    await w.grantAdd!('c:b1', T, 'bob', 60_000);
    await w.grantAdd!('c:anon', T, '', 60_000);
    await w.grantAdd!('m:alice', 'private:other', 'alice');
    await w.grantHold!('c:anon', T, 'guest-1', 60_000);
    await w.grantHold!('c:anon', T, 'guest-2', 60_000); // the same grant, held again after a reconnect
    await w.grantHold!('m:alice', T, 'bob-tab', 60_000);
    await w.grantHold!('c:b1', 'private:other', 'bob-tab', 60_000);

    await r.grantRevoke!(T, { member: 'alice' });
    for (const g of ['m:alice', 'c:a1', 'c:a2']) expect(await w.grantFind!(g, T)).toBeUndefined();
    expect(await w.grantFind!('c:b1', T)).toBe('bob');
    expect(await w.grantFind!('m:alice', 'private:other')).toBe('alice'); // another topic stays

    // By clientId: what that connection holds, even a grant it shares with its earlier connection.
    await r.grantRevoke!(T, { clientId: 'guest-2' });
    expect(await w.grantFind!('c:anon', T)).toBeUndefined();
    await w.grantAdd!('m:alice', T, 'alice');
    await r.grantRevoke!(T, { clientId: 'bob-tab' }); // held the member grant: gone, bound to whom it may be
    expect(await w.grantFind!('m:alice', T)).toBeUndefined();
    expect(await w.grantFind!('c:b1', T)).toBe('bob'); // what bob-tab holds for another topic stays
    await r.grantRevoke!(T, { member: 'nobody' });
    await r.grantRevoke!(T, { clientId: 'nobody' });
    // A grant added again after its revocation is revocable again.
    await w.grantAdd!('c:a1', T, 'alice', 60_000);
    await r.grantRevoke!(T, { member: 'alice' });
    expect(await w.grantFind!('c:a1', T)).toBeUndefined();
  });
});
