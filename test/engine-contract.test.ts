/**
 * The engine contract (src/engines/engine.ts), one suite run against every engine through the
 * `Engine` interface only: publish order, history windows (size and ttl), epochs, `since` reads,
 * presence per member, idempotent-call records, and the cleanup after a node that died. A new
 * engine (Redis Cluster, NATS…) runs the same suite by adding one entry to ENGINES.
 * The Redis entry needs a real Redis; it is skipped with a printed reason where none answers.
 */
import { describe, expect, it } from 'vitest';
import { Cluster, Redis } from 'ioredis';
import type { CallOutcome, Engine, EngineEvent, EngineNode, HistoryOptions, StoredMessage } from '../src/engines/engine.js';
import { createMemoryEngine } from '../src/engines/memory.js';
import { redisEngine } from '../src/engines/redis/index.js';
import { silentLogger } from '../src/shared/logger.js';
import { createTestScope, until } from './helpers.js';
import { dropPrefix, REDIS_URL, redisAnswers, testPrefix } from './redis-helpers.js';
import { CLUSTER_URLS, clusterSkipReason, dropClusterPrefix } from './redis-cluster-helpers.js';
import { connect as natsConnect } from '@nats-io/transport-node';
import { natsEngine } from '../src/engines/nats/index.js';
import { dropNatsPrefix, NATS_URL, natsMissing, natsTestPrefix } from './nats-helpers.js';

const hasRedis = await redisAnswers();
const noCluster = await clusterSkipReason();
const noNats = await natsMissing();
const scope = createTestScope();

/** One engine family under test: how to make instances that share (or do not share) their data. */
interface EngineFixture {
  name: string;
  /** Why the whole entry is skipped here, if it is. */
  skip?: string;
  /** A fresh data set (a Redis prefix); instances made with the same one share their data. */
  dataset(): string;
  /** An engine on `dataset`; `nodeTtlMs` for engines with a node registry. */
  create(dataset: string, o?: { nodeTtlMs?: number }): Engine;
  /** Whether two instances on one data set share it (several nodes), or each has its own. */
  shared: boolean;
  /** Makes the data set lose everything (a Redis restarted without persistence). */
  loseData?(dataset: string): Promise<void>;
  /**
   * An engine on `dataset` and a way to make it die without a goodbye (its heartbeat stops), for
   * engines whose nodes are separate processes; absent where a node cannot die apart from its
   * server (the memory engine is one process, and its members go with it).
   */
  mortal?: { create(dataset: string, nodeTtlMs: number): { engine: Engine; die(): void } };
}

const ENGINES: EngineFixture[] = [
  {
    name: 'memory',
    dataset: () => 'memory',
    create: () => createMemoryEngine(),
    shared: false,
  },
  {
    name: 'redis',
    ...(hasRedis ? {} : { skip: `no Redis answers at ${REDIS_URL} (start redis-server, or set SWITCHBOARD_TEST_REDIS_URL)` }),
    dataset: () => {
      const p = testPrefix();
      scope.defer(() => dropPrefix(p));
      return p;
    },
    create: (prefix, o) => redisEngine({ url: REDIS_URL, prefix, ...o }),
    shared: true,
    loseData: (prefix) => dropPrefix(prefix),
    mortal: {
      create(prefix, nodeTtlMs) {
        // Its own command connection, which the test cuts without reconnecting: the engine can no
        // longer heartbeat, exactly as if its process had been killed.
        const client = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => null });
        client.on('error', () => {});
        scope.defer(() => client.disconnect());
        return { engine: redisEngine({ client, prefix, nodeTtlMs }), die: () => client.disconnect() };
      },
    },
  },
  {
    name: 'redis cluster',
    ...(noCluster ? { skip: noCluster } : {}),
    dataset: () => {
      const p = testPrefix();
      scope.defer(() => dropClusterPrefix(p));
      return p;
    },
    create: (prefix, o) => redisEngine({ cluster: CLUSTER_URLS, prefix, ...o }),
    shared: true,
    loseData: (prefix) => dropClusterPrefix(prefix),
    mortal: {
      create(prefix, nodeTtlMs) {
        // Its own cluster client, which the test cuts without reconnecting (as for one Redis).
        const client = new Cluster(CLUSTER_URLS, { enableOfflineQueue: false, clusterRetryStrategy: () => null, redisOptions: { maxRetriesPerRequest: 1 } });
        client.on('error', () => {});
        scope.defer(() => client.disconnect());
        return { engine: redisEngine({ client, prefix, nodeTtlMs }), die: () => client.disconnect() };
      },
    },
  },
  {
    name: 'nats',
    ...(noNats ? { skip: noNats } : {}),
    dataset: () => {
      const p = natsTestPrefix();
      scope.defer(() => dropNatsPrefix(p));
      return p;
    },
    create: (prefix, o) => natsEngine({ url: NATS_URL, prefix, ...o }),
    shared: true,
    // JetStream lost the topics' streams (a server restarted without its store).
    loseData: (prefix) => dropNatsPrefix(prefix, { all: false }),
    mortal: {
      create(prefix, nodeTtlMs) {
        // Its own connection, closed by the test without a goodbye: the engine can no longer
        // heartbeat, as if its process had been killed.
        const conn = natsConnect({ servers: NATS_URL, maxReconnectAttempts: 0 });
        let engine: Engine | undefined;
        const lazy: Engine = new Proxy({} as Engine, {
          get: (_, k: keyof Engine) =>
            k === 'attach'
              ? async (n: EngineNode) => {
                  engine = natsEngine({ connection: await conn, prefix, nodeTtlMs });
                  return engine.attach(n);
                }
              : (...args: unknown[]) => (engine![k] as (...a: unknown[]) => unknown)(...args),
        });
        scope.defer(async () => (await conn).close());
        return { engine: lazy, die: () => void conn.then((c) => c.close()) };
      },
    },
  },
];

/** A node that records what it is given. */
function recordingNode(): EngineNode & { events: { topic: string; event: EngineEvent }[] } {
  const events: { topic: string; event: EngineEvent }[] = [];
  return { events, deliver: (topic, event) => void events.push({ topic, event }), suspend() {}, async resync() {}, logger: silentLogger };
}

/** Resolves when an async `predicate` holds (engine reads may be async); rejects after `timeoutMs`. */
async function eventually(predicate: () => Promise<boolean>, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Lets `ms` pass: what a lease or a TTL test is about (no event marks the moment). */
const elapse = (ms: number) => new Promise((r) => setTimeout(r, ms));

const H: HistoryOptions = { size: 100, ttlMs: 60_000 };
const msg = (data: unknown): EngineEvent => ({ kind: 'msg', data, meta: {} });
const offsets = (ms: StoredMessage[]) => ms.map((m) => m.meta.offset);
const datas = (ms: StoredMessage[]) => ms.map((m) => m.data);

for (const f of ENGINES) if (f.skip) console.warn(`SKIP test/engine-contract.test.ts [${f.name}]: ${f.skip}`);

describe.each(ENGINES)('engine contract: $name', (f) => {
  /** An attached engine and its node, closed after the test. */
  async function start(dataset = f.dataset(), o?: { nodeTtlMs?: number }) {
    const engine = f.create(dataset, o);
    scope.defer(() => engine.close());
    const node = recordingNode();
    await engine.attach(node);
    return { engine, node, dataset };
  }

  const topic = () => `t:${Math.random().toString(36).slice(2, 10)}`;

  describe.skipIf(f.skip !== undefined)(f.skip ? `skipped: ${f.skip}` : 'through the Engine interface', () => {
    it('relay: bytes reach the node of that id in order (every other node when shared); an unknown id is refused', async () => {
      const dataset = f.dataset();
      const a = await start(dataset);
      const got: string[] = [];
      a.node.relayed = (p) => void got.push(Buffer.from(p).toString());
      expect(typeof a.engine.nodeId).toBe('string');
      expect(a.engine.relay).toBeTypeOf('function');
      for (let i = 0; i < 20; i++) expect(await a.engine.relay!(a.engine.nodeId!, Buffer.from(`self ${i}`))).toBe(true);
      if (f.shared) {
        const b = await start(dataset);
        for (let i = 0; i < 20; i++) expect(await b.engine.relay!(a.engine.nodeId!, Buffer.from(`from b ${i}`))).toBe(true);
      }
      expect(await a.engine.relay!('no-such-node', Buffer.from('lost'))).toBe(false);
      const want = [...Array.from({ length: 20 }, (_, i) => `self ${i}`), ...(f.shared ? Array.from({ length: 20 }, (_, i) => `from b ${i}`) : [])];
      await until(() => got.length === want.length, 'every relayed payload');
      expect(got).toEqual(want);
    });

    it('delivers to the subscribed node in publish order, with offsets 1, 2, 3… on a topic with history', async () => {
      const { engine, node } = await start();
      const [withHistory, without] = [topic(), topic()];
      await engine.subscribe(withHistory);
      await engine.subscribe(without);
      const positions = [];
      for (let i = 0; i < 50; i++) {
        positions.push(await engine.publish(withHistory, msg(i), H));
        await engine.publish(without, msg(i));
      }
      await until(() => node.events.length === 100, 'every event delivered');
      const on = (t: string) => node.events.filter((e) => e.topic === t).map((e) => e.event as Extract<EngineEvent, { kind: 'msg' }>);
      expect(on(withHistory).map((e) => e.data)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(on(withHistory).map((e) => e.meta.offset)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(new Set(on(withHistory).map((e) => e.meta.epoch)).size).toBe(1);
      // The position publish returns is the one delivered.
      expect(positions).toEqual(on(withHistory).map((e) => ({ epoch: e.meta.epoch, offset: e.meta.offset })));
      expect(on(without).map((e) => e.data)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(on(without).every((e) => e.meta.offset === undefined)).toBe(true);
    });

    it('delivers join and leave events, and keeps skip (echo: false) on messages and in history', async () => {
      const { engine, node } = await start();
      const t = topic();
      await engine.subscribe(t);
      await engine.publish(t, { kind: 'join', member: { id: 'alice', info: { name: 'A' } } });
      await engine.publish(t, { kind: 'msg', data: 'x', meta: { from: 'c1' }, skip: 'c1' }, H);
      await engine.publish(t, { kind: 'leave', member: { id: 'alice' } });
      await until(() => node.events.length === 3, 'three events');
      expect(node.events.map((e) => e.event.kind)).toEqual(['join', 'msg', 'leave']);
      expect(node.events[0]!.event).toEqual({ kind: 'join', member: { id: 'alice', info: { name: 'A' } } });
      expect(node.events[1]!.event).toMatchObject({ data: 'x', meta: { from: 'c1', offset: 1 }, skip: 'c1' });
      const { messages } = await engine.history(t, { limit: 1 });
      expect(messages[0]).toMatchObject({ data: 'x', skip: 'c1', meta: { from: 'c1', offset: 1 } });
    });

    it('keeps the newest `size` messages of a topic', async () => {
      const { engine } = await start();
      const t = topic();
      for (let i = 1; i <= 10; i++) await engine.publish(t, msg(i), { size: 4, ttlMs: 60_000 });
      const r = await engine.history(t, { limit: 10 });
      expect(r.top.offset).toBe(10);
      expect(offsets(r.messages)).toEqual([7, 8, 9, 10]);
      expect(datas((await engine.history(t, { limit: 2 })).messages)).toEqual([9, 10]);
      expect((await engine.history(t, {})).messages).toEqual([]);
    });

    it('keeps each message for `ttlMs` after it was published, and the position after they expired', async () => {
      const { engine } = await start();
      const t = topic();
      await engine.publish(t, msg('old'), { size: 100, ttlMs: 300 });
      await elapse(150);
      await engine.publish(t, msg('new'), { size: 100, ttlMs: 600 });
      await eventually(async () => (await engine.history(t, { limit: 10 })).messages.length === 1, 'the first expired');
      const r = await engine.history(t, { limit: 10 });
      expect(datas(r.messages)).toEqual(['new']);
      await eventually(async () => (await engine.history(t, { limit: 10 })).messages.length === 0, 'both expired');
      const after = await engine.history(t, { limit: 10 });
      expect(after.top).toEqual(r.top); // same epoch, offset 2: a returning subscriber is told `window`
      expect(await engine.history(t, { since: { epoch: r.top.epoch, offset: 0 } })).toMatchObject({ recovered: false, reason: 'window' });
    });

    it('answers `since` reads: recovered, window, epoch', async () => {
      const { engine } = await start();
      const t = topic();
      for (let i = 1; i <= 6; i++) await engine.publish(t, msg(i), { size: 4, ttlMs: 60_000 });
      const { top } = await engine.history(t, {});
      expect(top.offset).toBe(6);
      const at = (offset: number, epoch = top.epoch) => ({ epoch, offset });

      const recovered = await engine.history(t, { since: at(3) });
      expect(recovered).toMatchObject({ top, recovered: true });
      expect(offsets(recovered.messages)).toEqual([4, 5, 6]);
      expect(await engine.history(t, { since: at(6) })).toEqual({ top, messages: [], recovered: true });
      // At the window's edge: everything after offset 2 is still there.
      const edge = await engine.history(t, { since: at(2) });
      expect(edge).toMatchObject({ recovered: true });
      expect(offsets(edge.messages)).toEqual([3, 4, 5, 6]);

      // The window holds 3–6: after offset 1, message 2 is gone, so nothing is replayed (all or nothing).
      const window = await engine.history(t, { since: at(1), limit: 2 });
      expect(window).toMatchObject({ top, recovered: false, reason: 'window' });
      expect(offsets(window.messages)).toEqual([5, 6]);
      expect(await engine.history(t, { since: at(9) })).toMatchObject({ messages: [], recovered: false, reason: 'window' });

      const epoch = await engine.history(t, { since: at(3, 'another-epoch'), limit: 1 });
      expect(epoch).toMatchObject({ top, recovered: false, reason: 'epoch' });
      expect(offsets(epoch.messages)).toEqual([6]);
    });

    it('gives a topic one epoch, kept by instances that share the data and changed when the data is lost', async () => {
      const a = await start();
      const t = topic();
      const first = await a.engine.publish(t, msg(1), H);
      expect(first).toMatchObject({ offset: 1, epoch: expect.any(String) });
      // A topic read before its first message already has its epoch (positions stay comparable).
      const unread = topic();
      const empty = await a.engine.history(unread, {});
      expect(empty.top).toEqual({ epoch: expect.any(String), offset: 0 });
      expect((await a.engine.publish(unread, msg(1), H))).toEqual({ epoch: empty.top.epoch, offset: 1 });

      const b = await start(f.shared ? a.dataset : f.dataset());
      const seen = await b.engine.history(t, {});
      if (f.shared) {
        expect(seen.top).toEqual(first); // another node, same stream
      } else {
        expect(seen.top.epoch).not.toBe(first!.epoch); // a new engine lifetime starts over
        expect(seen.top.offset).toBe(0);
      }
      if (f.loseData) {
        await f.loseData(a.dataset);
        const next = await a.engine.publish(t, msg(2), H);
        expect(next).toMatchObject({ offset: 1 });
        expect(next!.epoch).not.toBe(first!.epoch);
        expect(await a.engine.history(t, { since: first! })).toMatchObject({ recovered: false, reason: 'epoch' });
      }
    });

    it('keeps presence per member: a member is present while it has one connection', async () => {
      const { engine } = await start();
      const t = topic();
      const alice = { id: 'alice', info: { name: 'Alice' } };
      const bob = { id: 'bob' };
      expect(await engine.presenceAdd({ topic: t, member: alice, clientId: 'c1' })).toBe(true);
      expect(await engine.presenceAdd({ topic: t, member: alice, clientId: 'c2' })).toBe(false); // a second tab
      expect(await engine.presenceAdd({ topic: t, member: alice, clientId: 'c2' })).toBe(false); // again: idempotent
      expect(await engine.presenceAdd({ topic: t, member: bob, clientId: 'c3' })).toBe(true);
      const ids = async () => (await engine.presenceList(t)).map((m) => m.id).sort();
      expect(await ids()).toEqual(['alice', 'bob']);
      expect((await engine.presenceList(t)).find((m) => m.id === 'alice')).toEqual(alice);
      expect(await engine.presenceList(topic())).toEqual([]);

      expect(await engine.presenceRemove({ topic: t, member: alice, clientId: 'c1' })).toBe(false);
      expect(await ids()).toEqual(['alice', 'bob']);
      expect(await engine.presenceRemove({ topic: t, member: alice, clientId: 'c2' })).toBe(true); // the last one
      expect(await engine.presenceRemove({ topic: t, member: alice, clientId: 'c2' })).toBe(false); // twice: nothing
      expect(await engine.presenceRemove({ topic: t, member: bob, clientId: 'nobody' })).toBe(false);
      expect(await ids()).toEqual(['bob']);
      expect(await engine.presenceRemove({ topic: t, member: bob, clientId: 'c3' })).toBe(true);
      expect(await engine.presenceList(t)).toEqual([]);
    });

    it('claims, renews and finishes idempotent calls; a lapsed lease can be claimed again', async () => {
      const { engine } = await start();
      const ok: CallOutcome = { ok: true, output: { paid: 5 } };
      expect(await engine.claimCall('k1', 'fp', 60_000)).toEqual({ state: 'claimed' });
      expect(await engine.claimCall('k1', 'fp', 60_000)).toEqual({ state: 'running', fingerprint: 'fp' });
      expect(await engine.claimCall('k1', 'other', 60_000)).toEqual({ state: 'running', fingerprint: 'fp' });
      await engine.finishCall('k1', 'fp', ok, 60_000);
      expect(await engine.claimCall('k1', 'fp', 60_000)).toEqual({ state: 'done', fingerprint: 'fp', outcome: ok });
      const failed: CallOutcome = { ok: false, code: 'DECLINED', message: 'card declined', details: { retry: false } };
      await engine.claimCall('k2', 'fp', 60_000);
      await engine.finishCall('k2', 'fp', failed, 60_000);
      expect(await engine.claimCall('k2', 'fp', 60_000)).toEqual({ state: 'done', fingerprint: 'fp', outcome: failed });

      // A lease lapses (its node died while running): the key can be claimed again.
      expect(await engine.claimCall('k3', 'fp', 200)).toEqual({ state: 'claimed' });
      await eventually(async () => (await engine.claimCall('k3', 'fp2', 60_000)).state === 'claimed', 'lease lapsed', 3_000);
      expect(await engine.claimCall('k3', 'fp', 60_000)).toEqual({ state: 'running', fingerprint: 'fp2' });

      // A renewed lease holds past its first term; a renewal with another fingerprint does not extend it.
      expect(await engine.claimCall('k4', 'fp', 300)).toEqual({ state: 'claimed' });
      await engine.renewCall('k4', 'fp', 60_000);
      await engine.renewCall('k4', 'not-mine', 1);
      expect(await engine.claimCall('k5', 'fp', 300)).toEqual({ state: 'claimed' });
      await engine.renewCall('k5', 'not-mine', 60_000);
      await elapse(500);
      expect(await engine.claimCall('k4', 'x', 60_000)).toEqual({ state: 'running', fingerprint: 'fp' });
      expect(await engine.claimCall('k5', 'x', 60_000)).toEqual({ state: 'claimed' });

      // An outcome lives for its ttl, then the key is free.
      await engine.claimCall('k6', 'fp', 60_000);
      await engine.finishCall('k6', 'fp', ok, 200);
      await eventually(async () => (await engine.claimCall('k6', 'fp', 60_000)).state === 'claimed', 'outcome expired', 3_000);
    });

    const family = f.mortal;
    if (family) it('removes the presence of a node that died, announcing each member’s leave', { timeout: 15_000 }, async () => {
      const nodeTtlMs = 600;
      const { engine: live, node, dataset } = await start(undefined, { nodeTtlMs });
      const t = topic();
      await live.subscribe(t);
      const mortal = family.create(dataset, nodeTtlMs);
      scope.defer(() => mortal.engine.close());
      await mortal.engine.attach({ ...recordingNode() });
      await mortal.engine.presenceAdd({ topic: t, member: { id: 'ghost' }, clientId: 'g1' });
      await mortal.engine.presenceAdd({ topic: t, member: { id: 'ghost' }, clientId: 'g2' });
      await live.presenceAdd({ topic: t, member: { id: 'alive' }, clientId: 'a1' });
      const ids = async () => (await live.presenceList(t)).map((m) => m.id).sort();
      expect(await ids()).toEqual(['alive', 'ghost']);

      const diedAt = Date.now();
      mortal.die();
      await eventually(async () => (await ids()).length === 1, 'the dead node’s member is gone', nodeTtlMs * 5);
      const took = Date.now() - diedAt;
      expect(await ids()).toEqual(['alive']);
      // Within the TTL plus a heartbeat (a third of it), with slack for a loaded machine.
      expect(took).toBeLessThan(nodeTtlMs + nodeTtlMs / 3 + 2_000);
      await until(() => node.events.some((e) => e.event.kind === 'leave'), 'leave announced');
      expect(node.events.filter((e) => e.event.kind === 'leave').map((e) => e.event)).toEqual([{ kind: 'leave', member: { id: 'ghost' } }]);
    });
  });
});
