/**
 * The SSE + HTTP fallback (docs/protocol.md §8) from the client's side: a representative set of
 * what the WebSocket suites check — calls, idempotent calls, pub/sub with presence, history and
 * resume across a reconnect, streams with credit, uploads, binary values, token refresh, the
 * heartbeat — run over each transport with the same assertions; then the fallback itself: a proxy
 * that refuses upgrades makes `sse()` carry on over SSE, remember it, and report it.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ClientOptions, WebSocketConstructor } from '../src/client/node.js';
import { sse } from '../src/sse/index.js';
import { SignJWT } from 'jose';
import { jwt, type Server } from '../src/server/index.js';
import { createHttpProxy } from './http-proxy.js';
import { createTestScope, guardUnhandledRejections, until, within } from './helpers.js';

guardUnhandledRejections();
const scope = createTestScope();
const fast = { initialDelayMs: 10, maxDelayMs: 50, maxAttempts: Infinity, stableAfterMs: 1_000 };

/** Each transport as the client options that select it. */
const TRANSPORTS: { name: string; options: () => ClientOptions }[] = [
  { name: 'websocket', options: () => ({}) },
  { name: 'sse', options: () => ({ WebSocket: sse({ WebSocket: null }) }) },
];

type Identity = { id: string; exp?: number };

function setup(s: Server<Identity>): void {
  s.command('add', ({ a, b }: { a: number; b: number }) => a + b);
  s.command('whoami', (_: undefined, ctx) => ctx.identity);
  s.command('echo', (x: unknown) => x);
  let runs = 0;
  s.command('once', () => ++runs);
  s.topic('room:*', { subscribe: true, publish: true, presence: true });
  s.topic('feed:*', { subscribe: true, publish: true, history: { size: 1_000, ttlMs: 60_000 } });
  s.stream('count', async function* (n: number) {
    for (let i = 1; i <= n; i++) yield i;
  });
  s.upload('sum', async (_input: undefined, items: AsyncIterable<unknown>) => {
    let sum = 0;
    for await (const x of items) sum += x as number;
    return sum;
  });
}

describe.each(TRANSPORTS)('over $name', ({ name, options }) => {
  const start = (extra: Parameters<typeof scope.server<Identity>>[0] = {}) =>
    scope.server<Identity>({ sse: true, authenticate: (_req, token) => (token ? { id: token } : { id: 'anon' }), ...extra }, setup);

  it('calls, errors, idempotent calls and binary values', async () => {
    const { url } = await start();
    const c = scope.client(url, { ...options(), reconnect: fast });
    expect(await c.call('add', { a: 2, b: 3 })).toBe(5);
    await expect(c.call('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const key = `k-${name}`;
    expect(await c.call('once', undefined, { idempotencyKey: key })).toBe(1);
    expect(await c.call('once', undefined, { idempotencyKey: key })).toBe(1);
    const bytes = new Uint8Array([0, 1, 2, 255, 10, 13]);
    const back = (await c.call('echo', { bytes, text: 'line\nbreak' })) as { bytes: Uint8Array; text: string };
    expect([...back.bytes]).toEqual([...bytes]);
    expect(back.text).toBe('line\nbreak');
    // Many calls in one tick: batched into few POSTs over SSE, answered in full.
    const sums = await Promise.all(Array.from({ length: 50 }, (_, i) => c.call('add', { a: i, b: 1 })));
    expect(sums).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('pub/sub with presence and echo', async () => {
    const { url } = await start();
    const alice = scope.client(url, { ...options(), token: 'alice', reconnect: fast });
    const bob = scope.client(url, { ...options(), token: 'bob', reconnect: fast });
    const got: unknown[] = [];
    const joins: string[] = [];
    const sub = alice.subscribe('room:1', (d) => got.push(d));
    sub.on('join', (m) => joins.push(m.id));
    await sub.ready;
    const bobSub = bob.subscribe('room:1', () => {});
    await bobSub.ready;
    await until(() => joins.includes('bob'), 'bob joined');
    expect(sub.members().map((m) => m.id).sort()).toEqual(['alice', 'bob']);
    await bob.publish('room:1', { hi: 1 });
    await alice.publish('room:1', 'mine', { echo: false });
    await until(() => got.length === 1, 'message');
    expect(got).toEqual([{ hi: 1 }]);
  });

  it('a reconnect resumes a topic with history without loss (kicked with reconnect mid-stream)', async () => {
    const { url, server } = await start();
    const c = scope.client(url, { ...options(), reconnect: fast });
    const got: number[] = [];
    await c.subscribe<number>('feed:1', (d) => got.push(d)).ready;
    const opened: string[] = [];
    c.on('open', (e) => opened.push(e.clientId));
    for (let i = 1; i <= 100; i++) {
      await server.publish('feed:1', i);
      if (i === 40) server.kick({ clientId: c.clientId! }, { reconnect: true, reason: 'moving' });
    }
    await until(() => got.length >= 100, 'every message', 10_000);
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(opened.length).toBe(1);
  });

  it('streams with credit and uploads', async () => {
    const { url } = await start();
    const c = scope.client(url, { ...options(), reconnect: fast });
    const items: unknown[] = [];
    // Credit flows up in POSTs over SSE: 500 items at a high-water mark of 16 is ~30 grants.
    for await (const x of c.stream('count', 500, { highWaterMark: 16 })) items.push(x);
    expect(items).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    async function* numbers() {
      for (let i = 1; i <= 100; i++) yield i;
    }
    expect(await within(c.upload('sum', numbers()), 'upload')).toBe(5_050);
  });

  it('token refresh keeps the connection; the heartbeat keeps an idle one open', async () => {
    const exp = () => Math.floor(Date.now() / 1000) + 1;
    const { url, server } = await start({
      authenticate: (_req, token) => ({ id: 'alice', exp: token === 'late' ? exp() + 3_600 : exp() }),
      refreshGraceMs: 2_000,
      heartbeat: { intervalMs: 150, timeoutMs: 300 },
    });
    const handed: string[] = [];
    const c = scope.client(url, { ...options(), token: () => (handed.push(handed.length === 0 ? 'early' : 'late'), handed.at(-1)), reconnect: fast });
    const closes: number[] = [];
    c.on('close', (e) => closes.push(e.code));
    const first = (await c.call('whoami')) as Identity;
    await until(() => handed.length === 2, 'the refresh asked for a token', 3_000);
    await until(() => server.connections === 1 && c.state === 'open', 'still open');
    // Idle across several heartbeat intervals and past the first token's expiry and grace.
    await new Promise((r) => setTimeout(r, 1_200));
    const later = (await c.call('whoami')) as Identity;
    expect(later.exp).toBeGreaterThan(first.exp! + 3_000);
    expect(closes).toEqual([]);
  });
});

describe('the token over the fallback travels as over a WebSocket', () => {
  it.each(['protocol', 'query', 'message'] as const)("tokenIn '%s'", async (tokenIn) => {
    const secret = 'a-secret-of-at-least-32-bytes-for-hs256!';
    const { url } = await scope.server<Identity>({ sse: true, authenticate: jwt({ secret, algorithms: ['HS256'], from: ['protocol', 'query', 'message'] }) as never }, setup);
    const token = await new SignJWT({ sub: 'ana' }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
    const c = scope.client(url, { WebSocket: sse({ WebSocket: null }), token, tokenIn, reconnect: false });
    expect(await c.call('whoami')).toMatchObject({ sub: 'ana' });
    const bad = scope.client(url, { WebSocket: sse({ WebSocket: null }), token: `${token}x`, tokenIn, reconnect: false });
    bad.on('error', () => {});
    await expect(bad.call('whoami')).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });
});

describe('sse(): WebSocket first, SSE when it is blocked', () => {
  it('behind a proxy that refuses upgrades: falls back, says so, remembers it; direct: stays on WebSocket', async () => {
    const { port, server } = await scope.server<Identity>({ sse: true }, setup);
    const proxy = scope.track(await createHttpProxy([port], { refuseUpgrades: true }));
    const transport = sse({ WebSocket: WebSocket as unknown as WebSocketConstructor });
    expect(transport.current).toBeUndefined();
    const c = scope.client(proxy.url, { WebSocket: transport, reconnect: fast });
    expect(await c.call('add', { a: 1, b: 1 })).toBe(2);
    expect(transport.current).toBe('sse');
    expect(proxy.upgrades).toBe(1);
    // The choice is remembered: a reconnect (and a second client) go straight to SSE.
    server.kick({ clientId: c.clientId! }, { reconnect: true, reason: 'again' });
    const d = scope.client(proxy.url, { WebSocket: transport, reconnect: fast });
    expect(await d.call('add', { a: 2, b: 2 })).toBe(4);
    await until(() => c.state === 'open' && server.connections === 2, 'both open');
    expect(await c.call('add', { a: 3, b: 3 })).toBe(6);
    expect(proxy.upgrades).toBe(1);

    const direct = sse({ WebSocket: WebSocket as unknown as WebSocketConstructor });
    const e = scope.client(`ws://127.0.0.1:${port}/ws`, { WebSocket: direct, reconnect: fast });
    expect(await e.call('add', { a: 4, b: 4 })).toBe(8);
    expect(direct.current).toBe('websocket');
  });

  it('an upgrade that never answers falls back after upgradeTimeoutMs', async () => {
    const { port } = await scope.server<Identity>({ sse: true }, setup);
    // A proxy whose upgrades hang: tunnelled to a TCP server that never answers.
    const { silentTcpServer } = await import('./helpers.js');
    const silent = await silentTcpServer();
    scope.defer(() => silent.stop());
    const proxy = scope.track(await createHttpProxy([port], { refuseUpgrades: false }));
    const transport = sse({ WebSocket: class extends (WebSocket as unknown as new (u: string, p: string[]) => object) {
      constructor(u: string, p: string[]) {
        super(u.replace(`:${proxy.port}`, `:${silent.port}`), p);
      }
    } as unknown as WebSocketConstructor, upgradeTimeoutMs: 300 });
    const c = scope.client(proxy.url, { WebSocket: transport, reconnect: fast });
    expect(await within(c.call('add', { a: 1, b: 2 }), 'call after the fallback', 5_000)).toBe(3);
    expect(transport.current).toBe('sse');
  });

  it('a server that is down (a deploy) is not taken for a blocked WebSocket: back up, the next connection is a WebSocket', async () => {
    // A free port: a server listened on it and closed.
    const first = await scope.server<Identity>({ sse: true }, setup);
    const port = first.port;
    await first.server.close();
    const transport = sse({ WebSocket: WebSocket as unknown as WebSocketConstructor });
    const c = scope.client(`ws://127.0.0.1:${port}/ws`, { WebSocket: transport, reconnect: fast });
    c.on('error', () => {});
    const failed = new Promise<void>((resolve) => void c.on('reconnecting', () => resolve()));
    // Both the WebSocket and the SSE attempt failed (connection refused): nothing is remembered.
    await within(failed, 'a failed attempt');
    await scope.server<Identity>({ sse: true, port }, setup);
    expect(await within(c.call('add', { a: 1, b: 1 }), 'a call once the server is back', 5_000)).toBe(2);
    expect(transport.current).toBe('websocket');
  });

  it('refuses bad options with the option named', () => {
    expect(() => sse({ upgradeTimeoutMs: 0 })).toThrow(/upgradeTimeoutMs/);
    expect(() => sse({ retryWebSocketMs: -1 })).toThrow(/retryWebSocketMs/);
    expect(() => sse({ upgradeTimeout: 1_000 } as never)).toThrow(new TypeError('upgradeTimeout is not an option (WebSocket, upgradeTimeoutMs, retryWebSocketMs, fetch)'));
  });
});
