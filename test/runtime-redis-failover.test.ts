/**
 * Failover on a shared engine (docs/scaling.md), Redis and NATS, against server processes on every
 * runtime of test/runtime-server.ts: two nodes on one Redis prefix (or NATS prefix), one of them killed with SIGKILL (no close
 * frames, no goodbye to Redis). A subscriber that fails over to the surviving node recovers what
 * was published while it was away from the shared history, exactly once and in order; the killed
 * node's presence members leave once its node TTL ran out; a keyed call that was running on the
 * killed node runs once on the survivor after its lease. Each engine is skipped with a printed reason
 * where its server does not answer. The link failures of a live node stay in test/redis-resilience.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { createTestScope, until, within } from './helpers.js';
import { record } from './record.js';
import { dropPrefix, REDIS_URL, redisAnswers, testPrefix } from './redis-helpers.js';
import { dropNatsPrefix, NATS_URL, natsMissing, natsTestPrefix } from './nats-helpers.js';
import { RUNTIMES, runtimeServer, warnSkippedRuntimes, type Runtime, type RuntimeServerConfig } from './runtime-server.js';

warnSkippedRuntimes('test/runtime-redis-failover.test.ts');
const hasRedis = await redisAnswers();
if (!hasRedis) console.warn(`SKIP test/runtime-redis-failover.test.ts: no Redis answers at ${REDIS_URL} (start redis-server, or set SWITCHBOARD_TEST_REDIS_URL)`);
const noNats = await natsMissing();
if (noNats) console.warn(`SKIP test/runtime-redis-failover.test.ts on NATS: ${noNats}`);
const scope = createTestScope();

const NODE_TTL_MS = 600;

/** The shared engines, each with a fresh data set per cluster. */
const ENGINES = [
  {
    name: 'Redis',
    skip: hasRedis ? undefined : `no Redis answers at ${REDIS_URL}`,
    dataset(): RuntimeServerConfig['engine'] {
      const prefix = testPrefix();
      scope.defer(() => dropPrefix(prefix));
      return { kind: 'redis', url: REDIS_URL, prefix, nodeTtlMs: NODE_TTL_MS };
    },
  },
  {
    name: 'NATS',
    skip: noNats,
    dataset(): RuntimeServerConfig['engine'] {
      const prefix = natsTestPrefix();
      scope.defer(() => dropNatsPrefix(prefix));
      return { kind: 'nats', url: NATS_URL, prefix, nodeTtlMs: NODE_TTL_MS };
    },
  },
];

const FAST = { initialDelayMs: 5, maxDelayMs: 50, maxAttempts: Infinity, stableAfterMs: 1_000 };

/** Two nodes of one cluster on a fresh data set of `engine`, dropped after the test. */
async function cluster(runtime: Runtime, engine: (typeof ENGINES)[number], extra: RuntimeServerConfig = {}) {
  const config: RuntimeServerConfig = {
    engine: engine.dataset(),
    history: { size: 1_000, ttlMs: 60_000 },
    ...extra,
  };
  const [a, b] = await Promise.all([runtimeServer(scope, runtime, config), runtimeServer(scope, runtime, config)]);
  return { a: a!, b: b! };
}

describe.each(RUNTIMES.flatMap((runtime) => ENGINES.map((engine) => ({ runtime, engine, name: `${engine.name} on ${runtime.name}` }))))('failover: $name', ({ runtime, engine }) => {
  const skip = runtime.skip ?? engine.skip;
  describe.skipIf(skip !== undefined)(skip ? `skipped: ${skip}` : 'two server processes, one killed', () => {
    it('a subscriber of the killed node fails over and recovers what it missed from the shared history, once and in order', async () => {
      const { a, b } = await cluster(runtime, engine);
      const control = scope.client(b.url);
      const c = scope.client([a.url, b.url], { reconnect: FAST });
      const r = record(c, 'feed:failover');
      await within(r.sub.ready, 'subscribed on A');
      expect(await c.call('pid')).toBe(a.pid);
      await control.call('publish', { topic: 'feed:failover', from: 1, to: 10 });
      await until(() => r.got.length === 10, 'messages published on B reach the subscriber on A');
      expect(await a.kill()).toBe('SIGKILL');
      await until(() => c.state !== 'open', 'the client saw A die');
      await control.call('publish', { topic: 'feed:failover', from: 11, to: 30 });
      await until(() => r.got.length === 30, 'the missed messages recovered on B');
      expect(await c.call('pid')).toBe(b.pid);
      await control.call('publish', { topic: 'feed:failover', from: 31, to: 31 });
      await until(() => r.got.length === 31, 'live on B');
      expect(r.data()).toEqual(Array.from({ length: 31 }, (_, i) => i + 1));
      expect(r.offsets()).toEqual(Array.from({ length: 31 }, (_, i) => i + 1));
      expect(r.gaps).toEqual([]);
    });

    it('the members of the killed node leave once its node TTL ran out', async () => {
      const { a, b } = await cluster(runtime, engine);
      const alice = scope.client(a.url, { token: 'alice', reconnect: false });
      await within(alice.subscribe('room:failover', () => {}).ready, 'alice in on A');
      const bob = scope.client(b.url, { token: 'bob' });
      const leaves: string[] = [];
      const sub = bob.subscribe('room:failover', () => {});
      sub.on('leave', (m) => leaves.push(m.id));
      await within(sub.ready, 'bob in on B');
      expect(sub.members().map((m) => m.id).sort()).toEqual(['alice', 'bob']);
      const killedAt = Date.now();
      await a.kill();
      await until(() => leaves.includes('alice'), 'bob hears alice leave', 10 * NODE_TTL_MS);
      // Not before its silence ran out: the TTL counts from the node's last heartbeat, which comes
      // every TTL / 3 (src/engines/redis/presence.ts), so up to that long before the kill.
      expect(Date.now() - killedAt).toBeGreaterThanOrEqual(NODE_TTL_MS - Math.floor(NODE_TTL_MS / 3) - 50);
      expect(((await bob.call('presence', 'room:failover')) as { id: string }[]).map((m) => m.id)).toEqual(['bob']);
    });

    it('a keyed call running on the killed node runs once on the survivor, after its lease', async () => {
      const { a, b } = await cluster(runtime, engine, { idempotency: { leaseMs: 500 } });
      const c = scope.client([a.url, b.url], { reconnect: FAST });
      expect(await c.call('pid')).toBe(a.pid);
      const call = c.call('sleep', 700, { idempotencyKey: 'failover-1' });
      // The call is running on A when A dies (A answers other calls meanwhile).
      await c.call('echo', 'A is running it');
      await a.kill();
      expect(await within(call, 'the keyed call answered by B', 10_000)).toBe(700);
      expect(await c.call('pid')).toBe(b.pid);
      // Answered once more from the record, not run again.
      expect(await c.call('sleep', 700, { idempotencyKey: 'failover-1' })).toBe(700);
    });
  });
});
