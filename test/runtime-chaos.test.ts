/**
 * The chaos test of docs/guarantees.md, shortened, against a server process on every runtime of
 * test/runtime-server.ts: a TCP proxy between the clients and the server severs every connection
 * after a random 50–500 ms while the server publishes on two topics at a steady rate and the
 * clients make keyed calls. Every client must receive every message exactly once and in order
 * (offsets), with no gap, and every keyed call must run once. The long in-process run, over every
 * engine, stays in test/chaos.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { Client, GapEvent } from '../src/client/node.js';
import { createChaosProxy } from './chaos-proxy.js';
import { createTestScope, until, within } from './helpers.js';
import { RUNTIMES, runtimeServer, warnSkippedRuntimes } from './runtime-server.js';

warnSkippedRuntimes('test/runtime-chaos.test.ts');
const scope = createTestScope();

const CLIENTS = 6;
const TOPICS = ['chaos:a', 'chaos:b'];
/** Per topic, 5 per 10 ms tick: about 2 s of publishing. */
const PER_TOPIC = 1_000;
const PER_TICK = 5;
const CALLS_PER_CLIENT = 10;

describe.each(RUNTIMES)('chaos on $name: connections severed every 50-500 ms', (runtime) => {
  describe.skipIf(runtime.skip !== undefined)(runtime.skip ? `skipped: ${runtime.skip}` : 'against a server process', () => {
    it('delivers every message exactly once and in order, and runs every keyed call once', { timeout: 60_000 }, async () => {
      const server = await runtimeServer(scope, runtime, {
        history: { size: PER_TOPIC, ttlMs: 120_000 },
        limits: { rate: { perSecond: 1_000, burst: 1_000 } },
      });
      const proxy = scope.track(await createChaosProxy(server.port));
      const control = scope.client(server.url);
      proxy.chaos({ minMs: 50, maxMs: 500 }); // for every connection from now on

      const seen = Array.from({ length: CLIENTS }, () => new Map(TOPICS.map((t) => [t, [] as number[]])));
      const gaps: GapEvent[] = [];
      const clients: Client[] = [];
      const ready: Promise<void>[] = [];
      for (let i = 0; i < CLIENTS; i++) {
        const c = scope.client(proxy.url, {
          reconnect: { initialDelayMs: 10, maxDelayMs: 100, maxAttempts: Infinity, stableAfterMs: 1_000 },
          timeoutMs: 30_000,
        });
        c.on('error', () => {}); // resubscribe timeouts under chaos are reported, not fatal
        clients.push(c);
        for (const topic of TOPICS) {
          const sub = c.subscribe<number>(topic, (_value, meta) => void seen[i]!.get(topic)!.push(meta.offset!));
          sub.on('gap', (g) => gaps.push(g));
          ready.push(sub.ready);
        }
      }
      // Confirmed once before the first message (a fresh subscription starts at the topic's
      // position then); later cuts are recovered by the clients themselves.
      await within(Promise.all(ready), 'every subscription confirmed', 15_000);

      // The publisher, on a direct connection: a steady rate, value = offset on its topic.
      const publishing = (async () => {
        for (let from = 1; from <= PER_TOPIC; from += PER_TICK) {
          await Promise.all(TOPICS.map((topic) => control.call('publish', { topic, from, to: from + PER_TICK - 1 })));
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      const calls = clients.map(async (c, i) => {
        for (let n = 0; n < CALLS_PER_CLIENT; n++) {
          const key = `c${i}-${n}`;
          expect(await c.call('once', key, { idempotencyKey: key })).toBe(`ran ${key}`);
        }
      });
      await within(publishing, 'publishing finished', 30_000);
      await within(Promise.all(calls), 'every keyed call answered', 30_000);
      const cuts = proxy.cuts;
      proxy.chaos(false);
      proxy.severAll(); // connections opened under chaos still carry their timers; start clean
      await until(() => seen.every((m) => [...m.values()].every((offsets) => offsets.length >= PER_TOPIC)), 'every client received every message', 20_000);

      console.log(`runtime chaos figures (${runtime.name}): ${CLIENTS} clients, ${TOPICS.length * PER_TOPIC} messages, connections cut ${cuts}, gaps ${gaps.length}`);
      expect(cuts, 'the proxy really cut connections').toBeGreaterThan(CLIENTS);
      expect(gaps).toEqual([]);
      for (const m of seen) for (const offsets of m.values()) expect(offsets).toEqual(Array.from({ length: PER_TOPIC }, (_, k) => k + 1));
      const runs = (await control.call('runs')) as Record<string, number>;
      expect(Object.keys(runs)).toHaveLength(CLIENTS * CALLS_PER_CLIENT);
      expect(Object.values(runs).every((n) => n === 1)).toBe(true);
    });
  });
});
