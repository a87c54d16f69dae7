/**
 * The Redis engine when Redis freezes instead of dying (SIGSTOP, a partition without a reset): its
 * connections stay open and nothing is answered. Every command has a deadline (`commandTimeoutMs`):
 * a publish past it rejects with OUTCOME_UNKNOWN (it may still go out when Redis resumes), later
 * operations fail at once with UNAVAILABLE, health() is false until Redis answers again, and then
 * everything works as before. The Redis here is a private redis-server, frozen by its own pid.
 */
import { describe, expect, it, vi } from 'vitest';
import type { Client } from '../src/client/node.js';
import { redisEngine } from '../src/engines/redis/index.js';
import type { Server } from '../src/server/index.js';
import { createTestScope, recordingLogger, until, within } from './helpers.js';
import { record } from './record.js';
import { privateRedis, REDIS_SERVER, requireRedis, testPrefix, type PrivateRedis } from './redis-helpers.js';

const hasRedis = await requireRedis('test/redis-freeze.test.ts');
const scope = createTestScope();

/** The deadline under test; the checks allow generous slack for a loaded machine. */
const DEADLINE = 1_000;
const SLACK = 1_500;

function client(url: string, token: string): Client {
  const c = scope.client(url, { token, reconnect: { initialDelayMs: 5, maxDelayMs: 50, maxAttempts: Infinity, stableAfterMs: 1_000 } });
  c.on('error', () => {});
  return c;
}

async function frozenSetup(logger = recordingLogger()): Promise<{ redis: PrivateRedis; server: Server<string>; url: string }> {
  const redis = await privateRedis();
  scope.defer(() => redis.stop());
  const engine = redisEngine({ url: redis.url, prefix: testPrefix(), commandTimeoutMs: DEADLINE });
  scope.defer(() => engine.close());
  // Whatever a test did, the process is resumed first (cleanups run last to first).
  scope.defer(() => {
    try {
      redis.thaw();
    } catch {
      /* already stopped */
    }
  });
  const { server, url } = await scope.server<string>({ engine, logger, authenticate: (_req, token) => token ?? null, limits: { rate: false } }, (s) => {
    s.topic('room:*', { subscribe: true, publish: true, presence: true, history: { size: 100, ttlMs: 60_000 } });
    s.command('echo', (x: unknown) => x);
  });
  return { redis, server, url };
}

describe.skipIf(!hasRedis || !REDIS_SERVER)('redis engine when Redis freezes', () => {
  it('rejects publishes past the deadline with OUTCOME_UNKNOWN, fails the rest fast, reports unhealthy, and recovers', { timeout: 30_000 }, async () => {
    const { redis, server, url } = await frozenSetup();
    const subscriber = client(url, 'sub');
    const r = record(subscriber, 'room:f');
    await within(r.sub.ready, 'subscribed');
    const leaver = client(url, 'leaver');
    await within(leaver.subscribe('room:f', () => {}).ready, 'leaver in');
    const pub = client(url, 'pub');
    await pub.publish('room:f', 'before');
    await until(() => r.got.length === 1, 'before');

    redis.freeze();
    const t0 = Date.now();
    // Both are sent to the frozen Redis: neither can be confirmed nor taken back.
    const fromServer = server.publish('room:f', 'server-during').then(
      () => 'resolved',
      (err: { code?: string }) => err.code,
    );
    const fromClient = pub.publish('room:f', 'client-during', { timeoutMs: 10_000 }).then(
      () => 'resolved',
      (err: { code?: string }) => err.code,
    );
    expect(await within(fromServer, 'server.publish answered', DEADLINE + SLACK)).toBe('OUTCOME_UNKNOWN');
    expect(await within(fromClient, 'client publish answered', DEADLINE + SLACK)).toBe('OUTCOME_UNKNOWN');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(DEADLINE - 50);
    expect(server.health().engine).toMatchObject({ healthy: false, detail: expect.stringContaining(`${DEADLINE} ms`) });

    // Now known to be frozen: refused at once, without being sent (certainly not published).
    const t1 = Date.now();
    await expect(server.publish('room:f', 'refused')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(pub.publish('room:f', 'refused-too')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(subscriber.presence('room:f')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(Date.now() - t1).toBeLessThan(DEADLINE);
    await expect(pub.call('echo', 1)).resolves.toBe(1); // what needs no Redis keeps working
    expect([pub.state, subscriber.state]).toEqual(['open', 'open']);
    leaver.close(); // its removal cannot reach Redis now: made when Redis answers again
    await until(() => server.health().connections === 2, 'leaver gone');

    redis.thaw();
    await until(() => server.health().engine.healthy, 'healthy again', DEADLINE * 3 + SLACK);
    // The two unconfirmed publishes went out when Redis resumed, in order; the refused ones never.
    await until(() => r.got.length === 3, 'late deliveries');
    await pub.publish('room:f', 'after');
    await expect(server.publish('room:f', 'after-server')).resolves.toMatchObject({ offset: 5 });
    await until(() => r.got.length === 5, 'after');
    expect(r.data()).toEqual(['before', 'server-during', 'client-during', 'after', 'after-server']);
    expect(r.offsets()).toEqual([1, 2, 3, 4, 5]);
    expect(r.gaps).toEqual([]);
    await until(() => r.sub.members().length === 1, 'sub hears leaver leave');
    expect((await subscriber.presence('room:f')).map((m) => m.id)).toEqual(['sub']);
  });

  it('turns unhealthy while an idle Redis is frozen, and healthy again when it resumes, telling the server’s logger', { timeout: 20_000 }, async () => {
    const printed = [vi.spyOn(console, 'error'), vi.spyOn(console, 'warn')];
    scope.defer(() => printed.forEach((p) => p.mockRestore()));
    const logger = recordingLogger();
    const { redis, server } = await frozenSetup(logger);
    expect(server.health().engine.healthy).toBe(true);
    redis.freeze();
    // No traffic at all: the probe notices within two deadlines.
    await until(() => !server.health().engine.healthy, 'unhealthy while frozen', DEADLINE * 2 + SLACK);
    redis.thaw();
    await until(() => server.health().engine.healthy, 'healthy after SIGCONT', DEADLINE * 2 + SLACK);
    await expect(server.publish('room:i', 'works')).resolves.toMatchObject({ offset: 1 });
    // The engine reports through the server's logger, not the console: the stall, then the
    // recovery. Between them a presence heartbeat that fell due during the freeze may report its
    // own failure (it depends on where the freeze fell in the heartbeat's period).
    const lines = logger.lines.map((l) => [l.level, l.msg]);
    expect(lines[0]).toEqual(['warn', expect.stringContaining('does not answer in time')]);
    expect(lines.at(-1)).toEqual(['info', expect.stringContaining('answers again')]);
    expect(lines.slice(1, -1)).toEqual(lines.slice(1, -1).map(() => ['error', 'redis engine: presence heartbeat failed']));
    expect(printed.flatMap((p) => p.mock.calls)).toEqual([]);
  });
});
