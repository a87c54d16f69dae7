/**
 * A rolling restart loses nothing (docs/deploy.md, "Rolling deploys"): three server processes on
 * one Redis prefix with history, drained in turn by SIGTERM (`drainOnSignals`) and replaced by a
 * fresh process, while a publisher publishes numbered messages and subscribers, whose URL
 * providers rotate over the nodes, follow along. Every subscriber ends with every message exactly
 * once, in order, without a gap. The publisher publishes through a keyed call (exactly once per
 * key across nodes, docs/guarantees.md), one after another, so the publish order is the numbers'.
 * Skipped with a printed reason where no Redis answers.
 */
import { describe, expect, it } from 'vitest';
import { CloseCode, type Client } from '../src/client/node.js';
import { createTestScope, until, within } from './helpers.js';
import { record } from './record.js';
import { dropPrefix, REDIS_URL, redisAnswers, testPrefix } from './redis-helpers.js';
import { RUNTIMES, runtimeServer, type RuntimeServer, type RuntimeServerConfig } from './runtime-server.js';

const hasRedis = await redisAnswers();
if (!hasRedis) console.warn(`SKIP test/runtime-rolling-restart.test.ts: no Redis answers at ${REDIS_URL} (start redis-server, or set SWITCHBOARD_TEST_REDIS_URL)`);
const scope = createTestScope();

const TOPIC = 'feed:rolling';
const SUBSCRIBERS = 4;
/** Messages published between two restarts (and before the first, and after the last). */
const PER_STEP = 30;
const FAST = { initialDelayMs: 5, maxDelayMs: 50, maxAttempts: Infinity, stableAfterMs: 1_000 };
const node = RUNTIMES.find((r) => r.name === 'node')!;

describe.skipIf(!hasRedis)(hasRedis ? 'a rolling restart of three nodes on Redis' : `skipped: no Redis answers at ${REDIS_URL}`, () => {
  it('every subscriber ends with every message exactly once, in order, while each node is drained and replaced in turn', async () => {
    const prefix = testPrefix();
    scope.defer(() => dropPrefix(prefix));
    const config: RuntimeServerConfig = {
      engine: { kind: 'redis', url: REDIS_URL, prefix },
      history: { size: 10_000, ttlMs: 60_000 },
      drain: { timeoutMs: 5_000 },
    };
    const t0 = Date.now();
    // A rolling deploy with a surge of one: the replacement of a node starts while the previous
    // one drains, and takes its place in the rotation before the node gets its SIGTERM.
    const started = [0, 1, 2, 3].map(() => runtimeServer(scope, node, config));
    const nodes: RuntimeServer[] = await Promise.all(started.slice(0, 3));
    let replacement = started[3]!;
    // The URL provider of every client rotates over the nodes in service now.
    const rotating = (start: number) => {
      let next = start;
      return () => nodes[next++ % nodes.length]!.url;
    };
    const moves = new Map<Client, number>();
    let failedAttempts = 0;
    const client = (start: number) => {
      const c = scope.client(rotating(start), { reconnect: FAST });
      moves.set(c, 0);
      c.on('close', (e) => e.code === CloseCode.MOVED && moves.set(c, moves.get(c)! + 1));
      // A client that tries a node as it goes (503 while it drains) tries the next one: counted, not printed.
      c.on('error', () => failedAttempts++);
      return c;
    };
    const subscribers = Array.from({ length: SUBSCRIBERS }, (_, i) => record(client(i), TOPIC));
    await within(Promise.all(subscribers.map((s) => s.sub.ready)), 'every subscriber subscribed');

    const publisher = client(0);
    let published = 0;
    let stop = false;
    let publishFailure: unknown;
    const publishing = (async () => {
      while (!stop) {
        const n = published + 1;
        try {
          // Keyed: re-sent after a move until answered, run once across the nodes.
          await publisher.call('publish', { topic: TOPIC, data: n }, { idempotencyKey: `rolling-${n}`, timeoutMs: 20_000 });
          published = n;
        } catch (err) {
          // A fast loop on a quiet machine meets the server's rate limit: wait as told and send the
          // same key again (docs/protocol.md §4, RATE_LIMITED). Anything else fails the test.
          const e = err as { code?: string; details?: { retryAfterMs?: number } };
          if (e.code !== 'RATE_LIMITED') throw err;
          await new Promise((r) => setTimeout(r, e.details?.retryAfterMs ?? 50));
        }
      }
    })().catch((err: unknown) => {
      publishFailure = err;
      stop = true;
    });
    const publishedAtLeast = (target: number, what: string) =>
      until(() => {
        if (publishFailure) throw publishFailure;
        return published >= target;
      }, what, 20_000);
    const exits: (number | string)[] = [];
    for (let i = 0; i < nodes.length; i++) {
      const target = published + PER_STEP;
      await publishedAtLeast(target, `${target} messages published before replacing node ${i}`);
      const old = nodes[i]!;
      nodes[i] = await within(replacement, `the replacement of node ${i} to start`, 20_000);
      if (i < nodes.length - 1) replacement = runtimeServer(scope, node, config);
      // SIGTERM: the node drains (MOVED to each client once it has nothing in flight) and exits.
      exits.push(await within(old.close(), `node ${i} to drain and exit`, 10_000));
    }
    const last = published + PER_STEP;
    await publishedAtLeast(last, 'messages published after the last restart');
    stop = true;
    await within(publishing, 'the publisher to stop');
    expect(publishFailure).toBeUndefined();
    const total = published;
    await until(() => subscribers.every((s) => s.got.length >= total), 'every subscriber to catch up', 20_000);

    const counts = {
      published: total,
      received: subscribers.map((s) => s.got.length),
      moves: [...moves.values()],
      gaps: subscribers.map((s) => s.gaps.length),
      exits,
      failedAttempts,
      ms: Date.now() - t0,
    };
    console.log(`rolling restart: ${JSON.stringify(counts)}`);
    expect(exits).toEqual([0, 0, 0]);
    const expected = Array.from({ length: total }, (_, i) => i + 1);
    for (const s of subscribers) {
      expect(s.data()).toEqual(expected);
      expect(s.gaps).toEqual([]);
      // One epoch, consecutive offsets: each message once, in publish order.
      expect(new Set(s.got.map((g) => g.meta.epoch)).size).toBe(1);
      const offsets = s.offsets();
      expect(offsets.every((o, i) => i === 0 || o === offsets[i - 1]! + 1)).toBe(true);
    }
    // The drains moved clients: every node had some, so every client moved at least once over three restarts.
    expect([...moves.values()].every((m) => m >= 1)).toBe(true);
  }, 60_000);
});
