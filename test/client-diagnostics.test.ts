/**
 * Client diagnostics (docs/client.md, "When things go wrong"): a coded error per handshake outcome,
 * an `error` event for each failed attempt, `CONNECTION_FAILED` when the client stops trying for
 * good (on the event and on every pending request), and refused subscriptions nobody listens to.
 * Real servers throughout: Switchboard's, a plain HTTP server, a closed port, and raw sockets
 * answering the upgrade for statuses a Switchboard server does not produce here.
 */
import { once } from 'node:events';
import { createServer as createHttp, type IncomingMessage } from 'node:http';
import { createServer as createNet } from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { WebSocket as WsClient, WebSocketServer, type WebSocket as WsSocket } from 'ws';
import type { Client, ClientOptions } from '../src/client/node.js';
import { SwitchboardError } from '../src/protocol/errors.js';
import { jwt } from '../src/server/index.js';
import { SignJWT } from 'jose';
import { createTestScope, guardUnhandledRejections, until, within } from './helpers.js';

guardUnhandledRejections();
const scope = createTestScope();

const fast = { initialDelayMs: 5, maxDelayMs: 10 };

/** A client whose `error` and `close` events are recorded. */
function client(url: string, opts: ClientOptions = {}): Client & { errors: SwitchboardError[]; closes: { code: number; willReconnect: boolean; httpStatus?: number }[] } {
  const c = scope.client(url, opts) as Client & { errors: SwitchboardError[]; closes: { code: number; willReconnect: boolean; httpStatus?: number }[] };
  c.errors = [];
  c.closes = [];
  c.on('error', (e) => void c.errors.push(e as SwitchboardError));
  c.on('close', (e) => void c.closes.push(e));
  return c;
}

const codes = (c: { errors: SwitchboardError[] }) => c.errors.map((e) => e.code);

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const net = createNet();
  await new Promise<void>((r) => net.listen(0, '127.0.0.1', r));
  const { port } = net.address() as { port: number };
  await new Promise<void>((r) => net.close(() => r()));
  return port;
}

/** An HTTP server whose upgrades are answered by `answer` (raw response text), closed after the test. */
async function upgradeAnswering(answer: (req: IncomingMessage) => string): Promise<{ url: string; upgrades: () => number }> {
  let upgrades = 0;
  const http = createHttp((_req, res) => res.end('plain'));
  http.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    upgrades++;
    socket.on('error', () => {});
    socket.end(answer(req));
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  scope.defer(() => new Promise<void>((r) => http.close(() => r())));
  return { url: `ws://127.0.0.1:${(http.address() as { port: number }).port}/ws`, upgrades: () => upgrades };
}

/** A raw `ws` server speaking just enough of the protocol (a welcome, then `onFrame`), closed after the test. */
async function fakeServer(onFrame: (ws: WsSocket, frame: Record<string, unknown>) => void): Promise<{ url: string; connections: () => number }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'switchboard.v1.json' });
  await once(wss, 'listening');
  let connections = 0;
  wss.on('connection', (ws) => {
    connections++;
    ws.send(JSON.stringify({ t: 'welcome', v: 1, clientId: `c${connections}`, heartbeat: { intervalMs: 30_000, timeoutMs: 10_000 }, maxPayload: 1_048_576 }));
    ws.on('message', (data) => onFrame(ws, JSON.parse(String(data)) as Record<string, unknown>));
  });
  scope.defer(() => {
    for (const ws of wss.clients) ws.terminate();
    return new Promise<void>((r) => wss.close(() => r()));
  });
  return { url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}/ws`, connections: () => connections };
}

describe('handshake outcomes', () => {
  it('a wrong path: ENDPOINT_NOT_FOUND naming the URL and the fix, final after one attempt', async () => {
    const { port } = await scope.server();
    const url = `ws://127.0.0.1:${port}/wrong`;
    const c = client(url, { reconnect: fast });
    await until(() => c.state === 'closed', 'the client to stop');
    expect(codes(c)).toEqual(['ENDPOINT_NOT_FOUND']);
    expect(c.errors[0]!.message).toContain(url);
    expect(c.errors[0]!.message).toContain('check the path');
    expect(c.errors[0]!.details).toMatchObject({ status: 404 });
    expect(c.closes).toEqual([expect.objectContaining({ willReconnect: false, httpStatus: 404 })]);
  });

  it('an HTTP server that answers the upgrade with 200: HANDSHAKE_FAILED "not a WebSocket endpoint", on every attempt', async () => {
    const http = createHttp((_req, res) => res.end('an app, without Switchboard attached'));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    scope.defer(() => new Promise<void>((r) => http.close(() => r())));
    const url = `ws://127.0.0.1:${(http.address() as { port: number }).port}/ws`;
    const c = client(url, { reconnect: { ...fast, maxAttempts: 1 } });
    await until(() => c.state === 'closed', 'the client to give up');
    expect(codes(c)).toEqual(['HANDSHAKE_FAILED', 'HANDSHAKE_FAILED', 'CONNECTION_FAILED']);
    expect(c.errors[0]!.message).toBe(`${url}: not a WebSocket endpoint (is the Switchboard server attached?) (HTTP 200)`);
    expect(c.errors[0]!.details).toMatchObject({ status: 200 });
  });

  it('a closed port: UNREACHABLE with ECONNREFUSED on every attempt, then CONNECTION_FAILED for the queued calls', async () => {
    const port = await closedPort();
    const url = `ws://127.0.0.1:${port}/ws`;
    const c = client(url, { reconnect: { ...fast, maxAttempts: 2 } });
    const queued = c.call('add', { a: 1, b: 2 }).then(() => undefined, (e: unknown) => e);
    await until(() => c.state === 'closed', 'the client to give up');
    expect(codes(c)).toEqual(['UNREACHABLE', 'UNREACHABLE', 'UNREACHABLE', 'CONNECTION_FAILED']);
    expect(c.errors[0]!.message).toBe(`${url}: cannot connect: ECONNREFUSED (close code 1006)`);
    expect(c.errors[0]!.details).toMatchObject({ cause: 'ECONNREFUSED' });
    const failed = c.errors[3]!;
    expect(failed.message).toContain('gave up after 2 attempts');
    expect(failed.details).toMatchObject({ code: 1006, cause: expect.objectContaining({ code: 'UNREACHABLE' }) });
    expect(await queued).toBe(failed);
    // Asked after it stopped: the same error, not CLOSED (close() was never called).
    await expect(c.call('add')).rejects.toMatchObject({ code: 'CONNECTION_FAILED' });
    await expect(c.subscribe('t', () => {}).ready).rejects.toMatchObject({ code: 'CONNECTION_FAILED' });
  });

  it("an app's own ws-derived WebSocket class (to set Origin) reports the HTTP status and the system cause too", async () => {
    class OriginWs extends WsClient {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { origin: 'https://app.example' });
      }
    }
    const { port } = await scope.server();
    const wrong = client(`ws://127.0.0.1:${port}/wrong`, { reconnect: fast, WebSocket: OriginWs as never });
    await until(() => wrong.state === 'closed', 'the client to stop');
    expect(codes(wrong)).toEqual(['ENDPOINT_NOT_FOUND']);
    expect(wrong.errors[0]!.details).toMatchObject({ status: 404 });
    const down = client(`ws://127.0.0.1:${await closedPort()}/ws`, { reconnect: { ...fast, maxAttempts: 1 }, WebSocket: OriginWs as never });
    await until(() => down.state === 'closed', 'the client to give up');
    expect(codes(down)).toEqual(['UNREACHABLE', 'UNREACHABLE', 'CONNECTION_FAILED']);
    expect(down.errors[0]!.details).toMatchObject({ cause: 'ECONNREFUSED' });
  });

  it('a call that times out while the client cannot connect names the last failure as its cause', async () => {
    const url = `ws://127.0.0.1:${await closedPort()}/ws`;
    const c = client(url, { reconnect: { ...fast, maxAttempts: 1_000 } });
    await until(() => c.errors.length > 0, 'a failed attempt');
    const err = await c.call('add', {}, { timeoutMs: 50 }).then(() => undefined, (e: SwitchboardError) => e);
    expect(err).toMatchObject({ code: 'TIMEOUT', details: { cause: { code: 'UNREACHABLE' } } });
    expect(err!.message).toBe(`No answer within 50 ms: not connected (UNREACHABLE: ${url}: cannot connect: ECONNREFUSED (close code 1006))`);
    c.close();
  });

  it('a token provider whose tokens are refused 3 times in a row for a reason a new token does not heal: final', async () => {
    const secret = 'client-diagnostics-secret-0123456789abcdef';
    const key = new TextEncoder().encode(secret);
    const { url } = await scope.server({ authenticate: jwt({ secret, algorithms: ['HS256'], audience: 'app' }) });
    let minted = 0;
    const provider = () => {
      minted++;
      return new SignJWT({ sub: 'u1', aud: 'other', jti: String(minted) }).setProtectedHeader({ alg: 'HS256' }).sign(key);
    };
    const c = client(url, { token: provider, reconnect: { ...fast, maxAttempts: 50 } });
    await until(() => c.state === 'closed', 'the client to stop');
    expect(codes(c)).toEqual(['UNAUTHORIZED', 'UNAUTHORIZED', 'UNAUTHORIZED']);
    expect(c.errors[2]!.message).toBe(
      'The server refused 3 tokens in a row as wrong-audience; new tokens from the same provider will not fix that: check what it signs (audience, issuer, algorithm, key)',
    );
    expect(c.errors[2]!.details).toMatchObject({ status: 401, reason: 'wrong-audience' });
    expect(minted).toBe(3);
    // The same over first-message authentication: the category comes in the 4501 close reason.
    const first = await scope.server({ authenticate: jwt({ secret, algorithms: ['HS256'], audience: 'app', from: ['message'] }) });
    const m = client(first.url, { token: provider, tokenIn: 'message', reconnect: { ...fast, maxAttempts: 50 } });
    await until(() => m.state === 'closed', 'the first-message client to stop');
    expect(codes(m)).toEqual(['UNAUTHORIZED', 'UNAUTHORIZED', 'UNAUTHORIZED']);
    expect(m.errors[2]!.message).toContain('refused 3 tokens in a row as wrong-audience');
    // Expiry heals with a new token: retried as before, until maxAttempts.
    const expired = () => new SignJWT({ sub: 'u1', aud: 'app', jti: String(++minted), exp: Math.floor(Date.now() / 1000) - 60 }).setProtectedHeader({ alg: 'HS256' }).sign(key);
    const e = client(url, { token: expired, reconnect: { ...fast, maxAttempts: 4 } });
    await until(() => e.state === 'closed', 'the expired-token client to give up');
    expect(codes(e)).toEqual(['UNAUTHORIZED', 'UNAUTHORIZED', 'UNAUTHORIZED', 'UNAUTHORIZED', 'UNAUTHORIZED', 'CONNECTION_FAILED']);
  });

  it('403: FORBIDDEN, final with a fixed token', async () => {
    const srv = await upgradeAnswering(() => 'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    const c = client(srv.url, { token: 't', reconnect: fast });
    await until(() => c.state === 'closed', 'the client to stop');
    expect(codes(c)).toEqual(['FORBIDDEN']);
    expect(c.errors[0]!.details).toMatchObject({ status: 403 });
    expect(srv.upgrades()).toBe(1);
  });

  it("401 with WWW-Authenticate: the token refusal's category in details.reason and the message", async () => {
    const srv = await upgradeAnswering(
      () => 'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer error="invalid_token", error_description="expired"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
    );
    const c = client(srv.url, { token: 'old', reconnect: fast });
    await until(() => c.state === 'closed', 'the client to stop');
    expect(codes(c)).toEqual(['UNAUTHORIZED']);
    expect(c.errors[0]!.message).toContain('token refused: expired');
    expect(c.errors[0]!.details).toMatchObject({ status: 401, reason: 'expired' });
  });

  it('401 from a Switchboard server: UNAUTHORIZED on each attempt while the provider yields new tokens', async () => {
    let n = 0;
    const { url } = await scope.server({ authenticate: () => null });
    const c = client(url, { token: () => `t${++n}`, reconnect: { ...fast, maxAttempts: 2 } });
    await until(() => c.state === 'closed', 'the client to give up');
    expect(codes(c)).toEqual(['UNAUTHORIZED', 'UNAUTHORIZED', 'UNAUTHORIZED', 'CONNECTION_FAILED']);
    expect(c.errors[0]!.details).toMatchObject({ status: 401 });
  });

  it('other statuses: HANDSHAKE_FAILED with details.status, retried', async () => {
    const srv = await upgradeAnswering(() => 'HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    const c = client(srv.url, { reconnect: { ...fast, maxAttempts: 1 } });
    await until(() => c.state === 'closed', 'the client to give up');
    expect(codes(c)).toEqual(['HANDSHAKE_FAILED', 'HANDSHAKE_FAILED', 'CONNECTION_FAILED']);
    expect(c.errors[0]!.details).toMatchObject({ status: 502 });
    expect(c.errors[0]!.message).toContain('HTTP 502');
    expect(srv.upgrades()).toBe(2);
  });

  it('a URL with a query token is quoted without the token', async () => {
    const { port } = await scope.server();
    const c = client(`ws://127.0.0.1:${port}/nope`, { token: 'sekrit', tokenIn: 'query', reconnect: fast });
    await until(() => c.state === 'closed', 'the client to stop');
    expect(codes(c)).toEqual(['ENDPOINT_NOT_FOUND']);
    expect(c.errors[0]!.message).toContain(`ws://127.0.0.1:${port}/nope`);
    expect(c.errors[0]!.message).not.toContain('sekrit');
  });
});

describe('giving up', () => {
  it('a final close code: CONNECTION_FAILED on the event and on pending and later calls; DISCONNECTED for what was sent and may have run', async () => {
    const srv = await fakeServer((ws, f) => {
      // Answer nothing; once both calls are in, close in the final band.
      if (f.t === 'call' && f.key !== undefined) ws.close(4503, 'kicked');
    });
    const c = client(srv.url, { reconnect: fast });
    await until(() => c.state === 'open', 'open');
    const caught = (p: Promise<unknown>) => p.then(() => undefined, (e: SwitchboardError) => e);
    const plain = caught(c.call('slow'));
    const keyed = caught(c.call('pay', { amount: 5 }, { idempotencyKey: 'k1' }));
    await until(() => c.state === 'closed', 'the client to stop');
    expect(await plain).toMatchObject({ code: 'DISCONNECTED' });
    const err = await keyed;
    // Sent before, so it may have run: DISCONNECTED, as for any call in flight (docs/guarantees.md).
    expect(err).toMatchObject({ code: 'DISCONNECTED' });
    expect(codes(c)).toEqual(['CONNECTION_FAILED']);
    expect(c.errors[0]!.message).toContain('the server asked not to reconnect');
    expect(c.errors[0]!.details).toMatchObject({ code: 4503, reason: 'kicked' });
    await expect(c.call('later')).rejects.toMatchObject({ code: 'CONNECTION_FAILED' });
    expect(srv.connections()).toBe(1);
  });

  it('reconnect: false after a drop: CONNECTION_FAILED, not CLOSED', async () => {
    const srv = await fakeServer((ws, f) => {
      if (f.t === 'call') ws.terminate();
    });
    const c = client(srv.url, { reconnect: false });
    await until(() => c.state === 'open', 'open');
    await expect(c.call('x')).rejects.toMatchObject({ code: 'DISCONNECTED' });
    await until(() => c.state === 'closed', 'closed');
    expect(codes(c)).toEqual(['CONNECTION_FAILED']);
    expect(c.errors[0]!.message).toContain('reconnect is off');
    expect(c.errors[0]!.details).toMatchObject({ code: 1006 });
    const stream = c.stream('s');
    await expect(within(stream.next(), 'stream to settle')).rejects.toMatchObject({ code: 'CONNECTION_FAILED' });
    await expect(c.upload('u', [1])).rejects.toMatchObject({ code: 'CONNECTION_FAILED' });
  });

  it('close() keeps CLOSED and emits no error', async () => {
    const port = await closedPort();
    const c = client(`ws://127.0.0.1:${port}/ws`, { reconnect: { initialDelayMs: 10_000, maxDelayMs: 10_000 } });
    await until(() => c.errors.length === 1, 'the first attempt to fail');
    const queued = c.call('x').then(() => undefined, (e: unknown) => e);
    c.close();
    expect(await queued).toMatchObject({ code: 'CLOSED' });
    expect(codes(c)).toEqual(['UNREACHABLE']);
  });
});

describe('refused subscriptions', () => {
  it('a fire-and-forget subscribe on a topic no rule allows is reported on the client error event', async () => {
    const { url } = await scope.server();
    const c = client(url);
    c.subscribe('chat:random', () => {});
    await until(() => c.errors.length > 0, 'the refusal on the error event');
    expect(codes(c)).toEqual(['FORBIDDEN']);
  });

  it('is not reported twice: a read ready, or an error listener on the subscription, hears it instead', async () => {
    const { url } = await scope.server();
    const c = client(url);
    await expect(c.subscribe('chat:random', () => {}).ready).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const heard: string[] = [];
    c.subscribe('chat:other', () => {}).on('error', (e) => heard.push(e.code));
    await until(() => heard.length > 0, 'the subscription error event');
    // A round trip after both refusals: nothing reached the client's error event.
    await expect(c.publish('chat:x', 1)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    expect(heard).toEqual(['FORBIDDEN']);
    expect(codes(c)).toEqual([]);
  });
});
