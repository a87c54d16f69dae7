import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { Client, ClientEvents, ClientOptions } from '../src/client/node.js';
import { createTestScope, silentTcpServer, until, within } from './helpers.js';

const scope = createTestScope();

const fast = { initialDelayMs: 20, maxDelayMs: 60, stableAfterMs: 5_000 };

/** A client that logs its events in order. */
function client(url: string, opts: ClientOptions = {}): Client & { log: string[] } {
  const c = scope.client(url, opts) as Client & { log: string[] };
  c.log = [];
  c.on('open', () => c.log.push('open'));
  c.on('close', (e) => c.log.push(`close:${e.code}:${e.willReconnect}`));
  c.on('reconnecting', (e) => c.log.push(`reconnecting:${e.attempt}`));
  c.on('error', (e) => c.log.push(`error:${(e as { code?: string }).code ?? e.message}`));
  return c;
}

function nextEvent<K extends keyof ClientEvents>(c: Client, event: K, timeoutMs = 5_000): Promise<ClientEvents[K]> {
  return within(new Promise((resolve) => { const off = c.on(event, (e) => { off(); resolve(e); }); }), `client event ${event}`, timeoutMs);
}

describe('reconnection', () => {
  it('reconnects across a server restart on the same port and restores the subscription', async () => {
    const subscribed: string[] = [];
    const setup = (s: import('../src/server/index.js').Server) =>
      s.topic('news', { subscribe: (ctx) => (subscribed.push(ctx.clientId), true) });
    const first = await scope.server({}, setup);
    const c = client(first.url, { reconnect: fast });
    const got: unknown[] = [];
    const sub = c.subscribe('news', (d) => got.push(d));
    await within(sub.ready, 'first subscription');
    await first.server.publish('news', 'before');
    await until(() => got.length === 1, 'first message');

    const closed = nextEvent(c, 'close');
    await first.server.close();
    expect(await closed).toMatchObject({ code: 1001, willReconnect: true });
    expect(c.state).toBe('reconnecting');

    const second = await scope.server({ port: first.port }, setup);
    await until(() => subscribed.length === 2, 're-subscription on the new server');
    expect(c.state).toBe('open');
    await second.server.publish('news', 'after');
    await until(() => got.length === 2, 'message from the restarted server');
    expect(got).toEqual(['before', 'after']);
    expect(subscribed[1]).toBe(c.clientId); // the new connection re-subscribed by itself
  });

  it('calls the token provider again before every reconnect', async () => {
    const seen: (string | undefined)[] = [];
    const auth = { authenticate: (_req: unknown, token: string | undefined) => (seen.push(token), token ? { id: token } : null) };
    const first = await scope.server(auth);
    let n = 0;
    const c = client(first.url, { reconnect: fast, token: async () => `token-${++n}` });
    await nextEvent(c, 'open');
    await first.server.close();
    await scope.server({ ...auth, port: first.port });
    await until(() => c.state === 'open' && seen.length >= 2, 'reopen with a fresh token');
    expect(seen[0]).toBe('token-1');
    expect(seen.at(-1)).toBe(`token-${n}`);
    expect(n).toBeGreaterThanOrEqual(2);
  });

  it('treats HTTP 401 as final for a fixed token: closed, UNAUTHORIZED, no further attempts', async () => {
    let attempts = 0;
    const { url } = await scope.server({ authenticate: () => (attempts++, null) });
    const c = client(url, { reconnect: fast, token: 'wrong' });
    const close = await nextEvent(c, 'close');
    expect(close).toMatchObject({ willReconnect: false, httpStatus: 401 });
    expect(c.state).toBe('closed');
    expect(c.log).toContain('error:UNAUTHORIZED');
    expect(attempts).toBe(1);
  });

  it('retries after 401 only when the token provider yields a different token', async () => {
    const tokens: (string | undefined)[] = [];
    const { url } = await scope.server({ authenticate: (_r, t) => (tokens.push(t), t === 'good' ? { id: 'u' } : null) });
    const queue = ['bad', 'good'];
    const c = client(url, { reconnect: fast, token: () => queue.shift() ?? 'good' });
    await nextEvent(c, 'open');
    expect(tokens).toEqual(['bad', 'good']);

    // Same token again after a refusal: the client stops instead of looping.
    const stuck: (string | undefined)[] = [];
    const other = await scope.server({ authenticate: (_r, t) => (stuck.push(t), null) });
    const c2 = client(other.url, { reconnect: fast, token: () => 'same' });
    await until(() => c2.state === 'closed', 'client gives up on a token that cannot change');
    expect(stuck).toEqual(['same']);
    expect(c2.log).toContain('error:UNAUTHORIZED');
  });

  it('close() while reconnecting stops every further attempt', async () => {
    const first = await scope.server();
    const c = client(first.url, { reconnect: { initialDelayMs: 200, maxDelayMs: 200 } });
    await nextEvent(c, 'open');
    const reconnecting = nextEvent(c, 'reconnecting');
    await first.server.close();
    await reconnecting;
    c.close();
    expect(c.state).toBe('closed');
    const second = await scope.server({ port: first.port });
    // Observation window of several backoff ceilings: nothing may connect.
    await new Promise((r) => setTimeout(r, 500));
    expect(second.server.connections).toBe(0);
    expect(c.log.filter((l) => l === 'open')).toHaveLength(1);
  });

  it('does not reset the attempt counter when the server accepts and drops at once', async () => {
    // Accepts, says welcome, and closes with 1001 straight away, every time.
    const fake = await scriptedServer((ws) => ws.close(1001, 'bye'));
    const c = client(fake.url, { reconnect: { initialDelayMs: 5, maxDelayMs: 10, stableAfterMs: 10_000, maxAttempts: 4 } });
    await until(() => c.state === 'closed', 'client gives up after maxAttempts', 8_000);
    const attempts = c.log.filter((l) => l.startsWith('reconnecting:')).map((l) => Number(l.split(':')[1]));
    expect(attempts).toEqual([1, 2, 3, 4]);
    expect(c.log.filter((l) => l === 'open')).toHaveLength(5); // first connection + 4 attempts, all accepted
    expect(fake.connections()).toBe(5);
  });

  it('resets the attempt counter once a connection stayed open for stableAfterMs', async () => {
    let n = 0;
    // Drops the 1st and 2nd connection at once, keeps the 3rd for 150 ms, then drops again.
    const fake = await scriptedServer((ws) => {
      n++;
      if (n === 3) setTimeout(() => ws.close(1001, 'later'), 150);
      else ws.close(1001, 'now');
    });
    const c = client(fake.url, { reconnect: { initialDelayMs: 5, maxDelayMs: 10, stableAfterMs: 50, maxAttempts: 10 } });
    await until(() => fake.connections() >= 4, 'fourth connection');
    const attempts = c.log.filter((l) => l.startsWith('reconnecting:')).map((l) => Number(l.split(':')[1]));
    expect(attempts.slice(0, 3)).toEqual([1, 2, 1]);
  });

  it('gives each attempt a connect timeout (a server that never answers the upgrade)', async () => {
    const tcp = await silentTcpServer();
    scope.defer(tcp.stop);
    const c = client(`ws://127.0.0.1:${tcp.port}/ws`, { connectTimeoutMs: 100, reconnect: { ...fast, maxAttempts: 2 } });
    await until(() => c.state === 'closed', 'attempts time out', 5_000);
    expect(c.log.filter((l) => l.startsWith('reconnecting:'))).toEqual(['reconnecting:1', 'reconnecting:2']);
  });

  it('applies the connect timeout to the first attempt with reconnect: false too', async () => {
    const tcp = await silentTcpServer();
    scope.defer(tcp.stop);
    const c = client(`ws://127.0.0.1:${tcp.port}/ws`, { reconnect: false, connectTimeoutMs: 100 });
    const close = await nextEvent(c, 'close', 3_000);
    expect(close).toMatchObject({ code: 1006, reason: 'connect timeout', willReconnect: false });
    expect(c.state).toBe('closed');
    await until(() => tcp.sockets() === 0, 'the abandoned TCP connection is closed');
  });

  it('detects a dead server by heartbeat (no traffic, no pong) and reconnects', async () => {
    // A server that says welcome with a short heartbeat and then never answers anything.
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    let connections = 0;
    wss.on('connection', (ws) => {
      connections++;
      ws.send(JSON.stringify({ t: 'welcome', v: 1, clientId: `c${connections}`, heartbeat: { intervalMs: 50, timeoutMs: 50 }, maxPayload: 1 << 20 }));
    });
    await new Promise((r) => wss.once('listening', r));
    scope.defer(() => new Promise<void>((r) => { for (const ws of wss.clients) ws.terminate(); wss.close(() => r()); }));
    const c = client(`ws://127.0.0.1:${(wss.address() as { port: number }).port}/ws`, { reconnect: fast });
    const close = await nextEvent(c, 'close', 3_000);
    expect(close).toMatchObject({ code: 1006, reason: 'heartbeat timeout', willReconnect: true });
    await until(() => connections >= 2, 'reconnect after heartbeat timeout');
  });

  it('an idle client sends no ping of its own while the server pings it, and detects the server once it stops', async () => {
    // The server announces a 200 ms heartbeat and sends a protocol Ping every 100 ms until told to stop.
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    const frames: string[] = [];
    let pings = 0;
    let pinging = true;
    wss.on('connection', (ws) => {
      ws.on('message', (data) => frames.push(String(data)));
      ws.send(JSON.stringify({ t: 'welcome', v: 1, clientId: 'c1', heartbeat: { intervalMs: 200, timeoutMs: 200 }, maxPayload: 1 << 20 }));
      const timer = setInterval(() => void (pinging && (ws.ping(), pings++)), 100);
      ws.on('close', () => clearInterval(timer));
    });
    await new Promise((r) => wss.once('listening', r));
    scope.defer(() => new Promise<void>((r) => { for (const ws of wss.clients) ws.terminate(); wss.close(() => r()); }));
    const c = client(`ws://127.0.0.1:${(wss.address() as { port: number }).port}/ws`, { reconnect: false });
    await nextEvent(c, 'open');
    await until(() => pings >= 12, 'the server to ping for six client intervals');
    // The Pings were heard as life: no ping frame, still open.
    expect(frames).toEqual([]);
    expect(c.state).toBe('open');
    // A server that falls silent (its socket still open) is found by the client's own ping.
    pinging = false;
    const close = await nextEvent(c, 'close', 5_000);
    expect(close).toMatchObject({ code: 1006, reason: 'heartbeat timeout' });
    expect(frames.map((f) => JSON.parse(f))).toEqual([{ t: 'ping' }]);
  });

  it('does not reconnect after a close code in the final band', async () => {
    const fake = await scriptedServer((ws) => ws.close(4501, 'banned'));
    const c = client(fake.url, { reconnect: fast });
    const close = await nextEvent(c, 'close');
    expect(close).toMatchObject({ code: 4501, reason: 'banned', willReconnect: false });
    expect(c.state).toBe('closed');
    expect(fake.connections()).toBe(1);
  });

  it('reconnects after a close code in the retry band', async () => {
    const fake = await scriptedServer((ws) => ws.close(4000, 'please come back'));
    const c = client(fake.url, { reconnect: { ...fast, maxAttempts: 1 } });
    await until(() => c.state === 'closed', 'retry then give up');
    expect(fake.connections()).toBe(2);
  });
});

/** A raw ws server that sends `welcome` and then runs `script` on each connection. */
async function scriptedServer(script: (ws: import('ws').WebSocket) => void) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  let count = 0;
  wss.on('connection', (ws) => {
    count++;
    ws.send(JSON.stringify({ t: 'welcome', v: 1, clientId: `c${count}`, heartbeat: { intervalMs: 30_000, timeoutMs: 10_000 }, maxPayload: 1 << 20 }));
    script(ws);
  });
  await new Promise((r) => wss.once('listening', r));
  scope.defer(() => new Promise<void>((r) => { for (const ws of wss.clients) ws.terminate(); wss.close(() => r()); }));
  return { url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/ws`, connections: () => count };
}
