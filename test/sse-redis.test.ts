/**
 * No sticky sessions (docs/protocol.md §8.3): two nodes on one Redis behind a round-robin proxy
 * that sends each HTTP request to the other node and refuses WebSocket upgrades. A client's event
 * stream lives on one node; every other POST lands on the other one and is forwarded through the
 * engine (`Engine.relay`). Calls, publishes and streams must work, in order, as on one node. The
 * figures are printed for the closing note.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { WebSocketConstructor } from '../src/client/node.js';
import { redisEngine } from '../src/engines/redis/index.js';
import { silentLogger } from '../src/shared/logger.js';
import type { Server } from '../src/server/index.js';
import { sse } from '../src/sse/index.js';
import { alternateBySession, createHttpProxy } from './http-proxy.js';
import { createTestScope, until, within } from './helpers.js';
import { dropPrefix, REDIS_URL, requireRedis, testPrefix } from './redis-helpers.js';

const scope = createTestScope();
const hasRedis = await requireRedis('test/sse-redis.test.ts');

const CLIENTS = 4;
const CALLS = 15;
const MESSAGES = 15;
const ITEMS = 100;

describe('two nodes on Redis behind a round-robin proxy, no stickiness', () => {
  it.skipIf(!hasRedis)('calls, publishes and streams over the SSE fallback, with every other POST forwarded', { timeout: 60_000 }, async () => {
    const prefix = testPrefix();
    scope.defer(() => dropPrefix(prefix));
    let relayed = 0;
    const node = async (name: string) => {
      const engine = scope.track(redisEngine({ url: REDIS_URL, prefix, logger: silentLogger }));
      const relay = engine.relay.bind(engine);
      engine.relay = (to, payload) => (relayed++, relay(to, payload));
      return scope.server({ engine, sse: true, limits: { rate: false } }, (s: Server) => {
        s.command('add', ({ a, b }: { a: number; b: number }) => a + b);
        s.command('where', () => name);
        s.topic('room:*', { subscribe: true, publish: true });
        s.stream('count', async function* (n: number) {
          for (let i = 1; i <= n; i++) yield i;
        });
      });
    };
    const a = await node('a');
    const b = await node('b');
    const proxy = scope.track(await createHttpProxy([a.port, b.port], { refuseUpgrades: true, route: alternateBySession(2) }));
    const transport = sse({ WebSocket: WebSocket as unknown as WebSocketConstructor, upgradeTimeoutMs: 1_000 });
    const clients = Array.from({ length: CLIENTS }, () => scope.client(proxy.url, { WebSocket: transport, reconnect: { initialDelayMs: 10, maxDelayMs: 100 } }));
    const started = Date.now();
    // Every client subscribes, then each publishes MESSAGES messages; everyone sees everyone's, in order.
    const got = clients.map(() => new Map<number, number[]>());
    await Promise.all(
      clients.map((c, i) =>
        c.subscribe<{ from: number; n: number }>('room:x', (m) => {
          const list = got[i]!.get(m.from) ?? [];
          list.push(m.n);
          got[i]!.set(m.from, list);
        }).ready,
      ),
    );
    const homes = await Promise.all(clients.map((c) => c.call('where')));
    const work = clients.map(async (c, i) => {
      const sums: number[] = [];
      for (let k = 0; k < CALLS; k++) sums.push((await c.call('add', { a: i, b: k })) as number);
      for (let n = 1; n <= MESSAGES; n++) await c.publish('room:x', { from: i, n });
      const items: unknown[] = [];
      for await (const x of c.stream('count', ITEMS, { highWaterMark: 32 })) items.push(x);
      return { sums, items };
    });
    const results = await within(Promise.all(work), 'every client done', 45_000);
    await until(() => got.every((m) => [...m.values()].reduce((s, l) => s + l.length, 0) === CLIENTS * MESSAGES), 'every message everywhere', 10_000);
    const ms = Date.now() - started;
    for (const [i, r] of results.entries()) {
      expect(r.sums).toEqual(Array.from({ length: CALLS }, (_, k) => i + k));
      expect(r.items).toEqual(Array.from({ length: ITEMS }, (_, k) => k + 1));
    }
    for (const m of got) for (let from = 0; from < CLIENTS; from++) expect(m.get(from)).toEqual(Array.from({ length: MESSAGES }, (_, n) => n + 1));
    expect(transport.current).toBe('sse');
    expect(new Set(homes)).toEqual(new Set(['a', 'b']));
    const [toA, toB] = proxy.forwarded;
    console.log(
      `no-stickiness figures: ${CLIENTS} clients over SSE through a proxy (upgrades refused; requests round robin, each session's POSTs alternating between the nodes) to 2 Redis nodes; ` +
        `HTTP requests to node a ${toA}, to node b ${toB}; POSTs forwarded node to node ${relayed}; ` +
        `${CLIENTS * CALLS} calls, ${CLIENTS * MESSAGES} publishes (${CLIENTS * CLIENTS * MESSAGES} deliveries), ${CLIENTS} streams of ${ITEMS} items; ` +
        `all correct and in order in ${ms} ms; 0 lost, 0 duplicated`,
    );
    expect(relayed).toBeGreaterThan(CLIENTS * 5);
  });
});
