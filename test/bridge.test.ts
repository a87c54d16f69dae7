/**
 * The Node side of the iframe bridge (docs/bridge.md) and its pure cores: URL policy, header and
 * credential checks, request parsing, retry delays; the egress relay and the backend SDK against
 * real `ws` servers on 127.0.0.1, port 0. The browser side is test/bridge.browser.test.ts.
 */
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import { createHash } from 'node:crypto';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import WebSocket from 'ws';
import { connect } from '../src/client/node.js';
import { checkHeaders, credentialReference, referencedCredentials, resolveCredentials } from '../src/bridge/headers.js';
import { checkClose, checkProtocols, dataSize, parseRequest } from '../src/bridge/messages.js';
import { createEgressRelay, createResourceServer, createUrlPolicy, type BackendRp, type EgressOptions, type EgressRelay } from '../src/bridge/node.js';
import { retryDelay } from '../src/bridge/retry.js';
import { EGRESS_SUBPROTOCOL } from '../src/bridge/egress-protocol.js';
import { pipe } from '../src/bridge/node-upstream.js';
import { encodeTokenProtocol } from '../src/protocol/subprotocol.js';
import type { WsEventMessage } from '../src/bridge/messages.js';
import { startEcho, type Echo } from './bridge-fixtures.js';
import { createTestScope, guardUnhandledRejections, handshakeStatus, recordingLogger, until, within } from './helpers.js';
import { silentLogger } from '../src/shared/logger.js';

guardUnhandledRejections();

describe('URL policy', () => {
  const policy = createUrlPolicy([
    'wss://*.example.com',
    'wss://api.example.org:8443/v1',
    'ws://127.0.0.1:*',
    'wss://[::1]',
    'wss://Bücher.example',
  ]);
  const allowed = (u: unknown) => policy.check(u).ok;

  it('allows exactly what the patterns say', () => {
    for (const u of [
      'wss://feed.example.com',
      'wss://a.b.example.com/x?y=1',
      'WSS://FEED.EXAMPLE.COM/',
      'wss://api.example.org:8443/v1',
      'wss://api.example.org:8443/v1/stream',
      'ws://127.0.0.1:9',
      'ws://127.0.0.1/',
      'wss://[::1]/',
      'wss://xn--bcher-kva.example/',
    ]) {
      expect(allowed(u), u).toBe(true);
    }
    for (const u of [
      'wss://example.com', // apex is not a subdomain
      'wss://evilexample.com',
      'wss://feed.example.com.evil.net',
      'ws://feed.example.com', // plain ws only where a ws:// pattern allows it
      'wss://feed.example.com:444', // default port only
      'wss://api.example.org:8443/v10',
      'wss://api.example.org:8443/',
      'wss://api.example.org/v1',
      'wss://[::2]/',
      'https://feed.example.com',
      'http://127.0.0.1:9',
      'wss://user:pw@feed.example.com',
      'wss://feed.example.com/#x',
      'not a url',
      '',
      42,
      'wss://' + 'a'.repeat(3_000) + '.example.com',
    ]) {
      expect(allowed(u), String(u).slice(0, 80)).toBe(false);
    }
  });

  it('normalises paths before matching (no way around a path prefix)', () => {
    const p = createUrlPolicy(['wss://api.example.com/public']);
    expect(p.check('wss://api.example.com/public/../admin').ok).toBe(false);
    expect(p.check('wss://api.example.com/public/%2e%2e/admin').ok).toBe(false);
    expect(p.check('wss://api.example.com/public/./x').ok).toBe(true);
  });

  it('refuses with URL_NOT_ALLOWED and a reason, and allows nothing when empty', () => {
    expect(policy.check('ws://feed.example.com')).toMatchObject({ ok: false, code: 'URL_NOT_ALLOWED', message: expect.stringContaining('not allowed') });
    expect(createUrlPolicy([]).check('wss://feed.example.com').ok).toBe(false);
    expect(createUrlPolicy(['wss://*']).check('wss://anything.test').ok).toBe(true);
  });

  it('throws a TypeError for an invalid pattern', () => {
    for (const bad of ['example.com', 'http://example.com', 'wss://*foo.com', 'wss://ex*.com', 'wss://a.com:99999', 'wss://a.com?x', 'wss://a.com/#', 'wss://a@b.com']) {
      expect(() => createUrlPolicy([bad]), bad).toThrow(TypeError);
    }
  });
});

describe('headers and credential references', () => {
  it('accepts valid headers and returns a fresh object', () => {
    const raw = { Authorization: 'Bearer x', 'X-Trace': 'a b\tc' };
    const r = checkHeaders(raw);
    expect(r).toEqual({ ok: true, headers: raw });
    expect(r.ok && r.headers !== raw).toBe(true);
  });

  it('refuses handshake headers, control characters, duplicates, non-strings and too much', () => {
    for (const h of [
      { Host: 'evil.example' },
      { 'Sec-WebSocket-Protocol': 'x' },
      { 'sec-websocket-key': 'x' },
      { Connection: 'close' },
      { Upgrade: 'h2c' },
      { 'Proxy-Authorization': 'x' },
      { 'X-A': 'a\r\nX-Injected: 1' },
      { 'X-A': 'a\u0000' },
      { 'X-A': '☃' },
      { 'Bad Name': 'x' },
      { '': 'x' },
      { 'X-A': 'x', 'x-a': 'y' },
      { 'X-A': 1 },
      Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`X-${i}`, 'v'])),
      { 'X-A': 'v'.repeat(9_000) },
      ['x'],
      null,
      'Authorization: x',
    ]) {
      expect(checkHeaders(h).ok, JSON.stringify(h)?.slice(0, 60)).toBe(false);
    }
  });

  it('finds references and replaces them with secrets (literally, no $ patterns), refusing unknown ones by name', async () => {
    const headers = { Authorization: `Bearer ${credentialReference('chat-token')}`, 'X-Both': `${credentialReference('a')}:${credentialReference('a')}` };
    expect(referencedCredentials(headers).sort()).toEqual(['a', 'chat-token']);
    const secrets: Record<string, string> = { 'chat-token': "s3cr$&t$'", a: 'A' };
    const ok = await resolveCredentials(headers, async (n) => secrets[n]);
    expect(ok).toEqual({ ok: true, headers: { Authorization: "Bearer s3cr$&t$'", 'X-Both': 'A:A' } });
    const missing = await resolveCredentials(headers, async (n) => (n === 'a' ? 'A' : undefined));
    expect(missing).toEqual({ ok: false, name: 'chat-token', message: 'credential chat-token is not available for this URL' });
    const invalid = await resolveCredentials({ A: credentialReference('a') }, async () => 'line\r\nbreak');
    expect(invalid.ok).toBe(false);
    expect(JSON.stringify(invalid)).not.toContain('line');
  });
});

describe('request parsing', () => {
  it('ignores messages that are not rp:request and flags malformed ones', () => {
    for (const d of ['x', null, 1, [], { type: 'other' }, { type: 'rp:ws' }]) expect(parseRequest(d)).toEqual({ kind: 'ignore' });
    expect(parseRequest({ type: 'rp:request' })).toMatchObject({ kind: 'bad', id: null });
    expect(parseRequest({ type: 'rp:request', id: 'x'.repeat(129), method: 'ready' })).toMatchObject({ kind: 'bad', id: null });
    expect(parseRequest({ type: 'rp:request', id: -1, method: 'ready' })).toMatchObject({ kind: 'bad', id: null });
    expect(parseRequest({ type: 'rp:request', id: 1.5, method: 'ready' })).toMatchObject({ kind: 'bad', id: null });
    expect(parseRequest({ type: 'rp:request', id: 'a', method: '' })).toMatchObject({ kind: 'bad', id: 'a' });
    expect(parseRequest({ type: 'rp:request', id: 'a', method: 'ready', params: 'x' })).toMatchObject({ kind: 'bad', id: 'a' });
    expect(parseRequest({ type: 'rp:request', id: 'a', method: 'ready', params: new Date() })).toMatchObject({ kind: 'bad', id: 'a' });
    expect(parseRequest({ type: 'rp:request', id: 0, method: 'ws.send', params: { a: 1 } })).toEqual({
      kind: 'request',
      request: { type: 'rp:request', id: 0, method: 'ws.send', params: { a: 1 } },
    });
  });

  it('checks subprotocols, close codes and data as WebSocket does', () => {
    expect(checkProtocols(undefined)).toEqual([]);
    expect(checkProtocols(['chat-v2', 'x'])).toEqual(['chat-v2', 'x']);
    for (const bad of [['a b'], ['a', 'a'], [''], [1], 'chat', Array(17).fill('x').map((x, i) => x + i)]) expect(typeof checkProtocols(bad)).toBe('string');
    for (const ok of [undefined, 1000, 3000, 4999]) expect(checkClose(ok, undefined)).toBeUndefined();
    for (const bad of [999, 1001, 1005, 2999, 5000, 1000.5, '1000']) expect(checkClose(bad, undefined)).toBeTypeOf('string');
    expect(checkClose(1000, 'é'.repeat(61))).toBeUndefined(); // 122 bytes
    expect(checkClose(1000, 'é'.repeat(62))).toBeTypeOf('string'); // 124 bytes
    expect(dataSize('héllo', 100)).toBe(6);
    expect(dataSize(new Uint8Array(10).subarray(2, 5), 100)).toBe(3);
    expect(dataSize(new ArrayBuffer(7), 100)).toBe(7);
    expect(dataSize('x'.repeat(101), 100)).toBeGreaterThan(100);
    expect(dataSize({}, 100)).toBeTypeOf('string');
  });
});

describe('retryDelay', () => {
  it('is full jitter under a doubling ceiling with a cap', () => {
    expect(retryDelay(1, 1_000, 30_000, () => 0)).toBe(0);
    expect(retryDelay(1, 1_000, 30_000, () => 0.999)).toBe(999);
    expect(retryDelay(2, 1_000, 30_000, () => 0.5)).toBe(1_000);
    expect(retryDelay(4, 1_000, 30_000, () => 0.999)).toBe(7_992);
    expect(retryDelay(50, 1_000, 30_000, () => 0.999)).toBe(29_970);
    expect(new Set(Array.from({ length: 50 }, () => retryDelay(5, 1_000, 30_000))).size).toBeGreaterThan(10);
  });
});

/** A raw host-side client of the egress relay, speaking egress-protocol.ts. */
class EgressPeer {
  readonly ws: WebSocket;
  readonly messages: { binary: boolean; text: string }[] = [];
  closed: { code: number; reason: string } | undefined;
  status: number | undefined;
  constructor(url: string, { token, protocols = [EGRESS_SUBPROTOCOL], origin }: { token?: string; protocols?: string[]; origin?: string } = {}) {
    this.ws = new WebSocket(url, token === undefined ? protocols : [...protocols, encodeTokenProtocol(token)], origin ? { origin } : {});
    this.ws.on('message', (d: Buffer, binary: boolean) => this.messages.push({ binary, text: binary ? d.toString('hex') : d.toString() }));
    this.ws.on('close', (code, reason) => (this.closed = { code, reason: reason.toString() }));
    this.ws.on('unexpected-response', (_req, res) => {
      this.status = res.statusCode;
      res.resume();
    });
    this.ws.on('error', () => {});
  }
  async opened(): Promise<this> {
    if (this.ws.readyState !== WebSocket.OPEN) await within(once(this.ws, 'open'), 'the relay to open');
    return this;
  }
  connect(url: string, headers: Record<string, string> = {}, protocols: string[] = []): this {
    this.ws.send(JSON.stringify({ type: 'connect', url, headers, protocols, resource: 'com.example.test' }));
    return this;
  }
  async reply(): Promise<Record<string, unknown>> {
    await until(() => this.messages.length > 0 || this.closed !== undefined, 'the relay reply');
    return JSON.parse(this.messages[0]?.text ?? 'null') as Record<string, unknown>;
  }
  async closedWith(): Promise<{ code: number; reason: string }> {
    await until(() => this.closed !== undefined, 'the relay to close');
    return this.closed!;
  }
}

describe('egress relay', () => {
  const scope = createTestScope();
  let echo: Echo;
  afterEach(async () => {
    await echo?.close();
  });

  async function relay<I = unknown>(o: Partial<EgressOptions<I>> = {}): Promise<{ relay: EgressRelay; url: string }> {
    echo = await startEcho();
    const r = scope.track(createEgressRelay<I>({ port: 0, host: '127.0.0.1', allow: [`ws://127.0.0.1:${echo.port}/echo`], logger: silentLogger, ...o }));
    const { port } = await r.listen();
    return { relay: r, url: `ws://127.0.0.1:${port}/bridge/egress` };
  }

  it('opens the upstream with the headers and injected credential, relays both ways in order, and passes closes on', async () => {
    const logger = recordingLogger();
    const { url } = await relay<{ user: string }>({
      authenticate: (_req, token) => (token === 'good' ? { user: 'alice' } : null),
      credentials: { tok: { urls: ['ws://127.0.0.1:*'], value: ({ identity, resource }) => `secret-${identity.user}-${resource}` } },
      logger,
    });
    const peer = await new EgressPeer(url, { token: 'good' }).opened();
    expect(peer.ws.protocol).toBe(EGRESS_SUBPROTOCOL);
    peer.connect(echo.url, { Authorization: `Bearer ${credentialReference('tok')}` }, ['chat-v2', 'other']);
    expect(await peer.reply()).toEqual({ type: 'open', protocol: 'chat-v2' });
    for (let i = 0; i < 10; i++) peer.ws.send(i % 2 ? Buffer.from([i, 255]) : `m${i}`, { binary: i % 2 === 1 });
    await until(() => peer.messages.length === 11, 'ten echoes');
    expect(peer.messages.slice(1)).toEqual(Array.from({ length: 10 }, (_, i) => (i % 2 ? { binary: true, text: Buffer.from([i, 255]).toString('hex') } : { binary: false, text: `m${i}` })));
    const up = echo.connections[0]!;
    expect(up.headers.authorization).toBe('Bearer secret-alice-com.example.test');
    // Close from the host side: the upstream sees the same code and reason.
    peer.ws.close(4321, 'host says bye');
    await until(() => up.closed !== undefined, 'the upstream to close');
    expect(up.closed).toEqual({ code: 4321, reason: 'host says bye' });
    // Nothing the relay logged holds the secret.
    expect(JSON.stringify(logger.lines)).not.toContain('secret-alice');
  });

  it('relays a message the upstream sends with its handshake (none is lost before the pipe exists)', async () => {
    const { url } = await relay({ allow: ['ws://127.0.0.1:*'] });
    for (let i = 0; i < 5; i++) {
      const p = await new EgressPeer(url).opened();
      p.connect(echo.url.replace('/echo', '/big'));
      await until(() => p.messages.length === 2, 'the open reply and the greeting');
      expect(p.messages[0]!.text).toBe('{"type":"open","protocol":""}');
      expect(p.messages[1]).toEqual({ binary: false, text: 'x'.repeat(4_096) });
      p.ws.close();
    }
  });

  it('passes an upstream close on with its code, and a dropped upstream as a dropped relay (1006)', async () => {
    const { url } = await relay();
    const a = await new EgressPeer(url).opened();
    a.connect(echo.url);
    await a.reply();
    echo.connections[0]!.ws.close(4002, 'upstream bye');
    expect(await a.closedWith()).toEqual({ code: 4002, reason: 'upstream bye' });
    const b = await new EgressPeer(url).opened();
    b.connect(echo.url);
    await b.reply();
    echo.connections[1]!.ws.terminate();
    expect((await b.closedWith()).code).toBe(1006);
  });

  it('refuses at the upgrade: no relay subprotocol (400), a bad token (401), a foreign origin (403), too many per IP (429)', async () => {
    const { url } = await relay({
      authenticate: (_req, token) => (token === 'good' ? 'me' : null),
      origins: ['https://app.example'],
      limits: { maxConnectionsPerIp: 2 },
    });
    const status = async (p: EgressPeer) => {
      await until(() => p.status !== undefined || p.ws.readyState === WebSocket.OPEN, 'an answer');
      return p.status ?? 101;
    };
    expect(await status(new EgressPeer(url, { token: 'good', protocols: ['switchboard.v1.json'] }))).toBe(400);
    expect(await status(new EgressPeer(url, { token: 'bad' }))).toBe(401);
    expect(await status(new EgressPeer(url))).toBe(401);
    expect(await status(new EgressPeer(url, { token: 'good', origin: 'https://evil.example' }))).toBe(403);
    const ok1 = new EgressPeer(url, { token: 'good', origin: 'https://app.example' });
    const ok2 = new EgressPeer(url, { token: 'good' });
    expect(await status(ok1)).toBe(101);
    expect(await status(ok2)).toBe(101);
    expect(await status(new EgressPeer(url, { token: 'good' }))).toBe(429);
    ok1.ws.close();
    ok2.ws.close();
    expect(await handshakeStatus(url.replace('/bridge/egress', '/elsewhere'), {}, [EGRESS_SUBPROTOCOL])).toBe(404);
  });

  it('answers a bad connect message with a coded error and closes with 1008', async () => {
    const { url } = await relay({ credentials: { tok: { urls: ['ws://127.0.0.1:1'], value: 'x' } }, authenticate: () => 'me' });
    const cases: [(p: EgressPeer) => void, string][] = [
      [(p) => p.connect('ws://127.0.0.1:1/echo'), 'URL_NOT_ALLOWED'],
      [(p) => p.connect(echo.url.replace('/echo', '/other')), 'URL_NOT_ALLOWED'],
      [(p) => p.connect(echo.url, { Host: 'evil' }), 'BAD_REQUEST'],
      [(p) => p.connect(echo.url, {}, ['a b']), 'BAD_REQUEST'],
      [(p) => p.connect(echo.url, { A: credentialReference('tok') }), 'CREDENTIAL_DENIED'], // tok is for another URL
      [(p) => p.connect(echo.url, { A: credentialReference('unknown') }), 'CREDENTIAL_DENIED'],
      [(p) => p.ws.send('{not json'), 'BAD_REQUEST'],
      [(p) => p.ws.send(Buffer.from('{}'), { binary: true }), 'BAD_REQUEST'],
      [(p) => p.ws.send('{"type":"hello"}'), 'BAD_REQUEST'],
    ];
    for (const [act, code] of cases) {
      const p = await new EgressPeer(url).opened();
      act(p);
      expect(await p.reply()).toMatchObject({ type: 'error', code });
      expect(await p.closedWith()).toEqual({ code: 1008, reason: code });
    }
    expect(echo.connections).toHaveLength(0);
  });

  it('reports an unreachable or refusing upstream, and a connect that never comes, as UPSTREAM_FAILED', async () => {
    const refusing = createHttpServer((_req, res) => res.writeHead(401).end());
    refusing.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n'));
    refusing.listen(0, '127.0.0.1');
    await once(refusing, 'listening');
    const refusingPort = (refusing.address() as AddressInfo).port;
    try {
      const { url } = await relay({ allow: ['ws://127.0.0.1:*'], limits: { handshakeTimeoutMs: 1_000 } });
      const p1 = await new EgressPeer(url).opened();
      p1.connect(`ws://127.0.0.1:${refusingPort}/`);
      expect(await p1.reply()).toEqual({ type: 'error', code: 'UPSTREAM_FAILED', message: 'the upstream answered the upgrade with HTTP 401' });
      refusing.close();
      const p2 = await new EgressPeer(url).opened();
      p2.connect(`ws://127.0.0.1:${refusingPort}/`); // nobody listens there now
      expect(await p2.reply()).toMatchObject({ type: 'error', code: 'UPSTREAM_FAILED', message: expect.stringContaining('unreachable') });
      const p3 = await new EgressPeer(url).opened(); // sends nothing
      expect(await within(p3.reply(), 'the handshake deadline', 5_000)).toMatchObject({ type: 'error', code: 'UPSTREAM_FAILED' });
      expect(await p3.closedWith()).toEqual({ code: 1008, reason: 'UPSTREAM_FAILED' });
    } finally {
      refusing.closeAllConnections();
      refusing.close();
    }
  });

  it('loses nothing and keeps order when the upstream reads slowly (backpressure)', async () => {
    const { url } = await relay({ allow: ['ws://127.0.0.1:*'], limits: { highWaterMark: 64 * 1_024 } });
    const p = await new EgressPeer(url).opened();
    p.connect(echo.url.replace('/echo', '/silent'));
    await p.reply();
    const up = echo.connections[0]!;
    up.ws.pause(); // stops reading: TCP fills, and the relay must hold back rather than buffer
    const chunk = (i: number) => Buffer.alloc(64 * 1_024, i);
    for (let i = 0; i < 128; i++) p.ws.send(chunk(i));
    up.ws.resume();
    await until(() => up.messages.length === 128, 'every chunk upstream', 10_000);
    expect(up.messages.every((m, i) => m.binary && m.data.equals(chunk(i)))).toBe(true);
  });

  it('pipe() pauses the reading side past the high-water mark and resumes it once drained', async () => {
    echo = await startEcho();
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    try {
      const accepted = once(wss, 'connection') as Promise<[WebSocket]>;
      const src = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
      const [from] = await within(accepted, 'the source connection');
      const to = new WebSocket(echo.url.replace('/echo', '/silent'));
      await within(once(to, 'open'), 'the sink connection');
      await until(() => echo.connections.length === 1, 'the sink on the server');
      const sink = echo.connections[0]!;
      sink.ws.pause();
      pipe(from, to, 64 * 1_024);
      const chunk = (i: number) => Buffer.alloc(64 * 1_024, i);
      for (let i = 0; i < 256; i++) src.send(chunk(i));
      await until(() => from.isPaused, 'the source to be paused', 8_000);
      sink.ws.resume();
      await until(() => sink.messages.length === 256, 'every chunk', 10_000);
      expect(from.isPaused).toBe(false);
      expect(sink.messages.every((m, i) => m.data.equals(chunk(i)))).toBe(true);
      src.terminate();
      to.terminate();
    } finally {
      await new Promise<void>((r) => wss.close(() => r()));
    }
  });

  it('shares an HTTP server with a Switchboard server, each on its own path, and close() ends relayed connections with 1001', async () => {
    const { createServer } = await import('../src/server/index.js');
    echo = await startEcho();
    const http = createHttpServer();
    const server = scope.track(createServer({ server: http, logger: silentLogger }).command('hi', () => 'hello'));
    const egress = createEgressRelay({ server: http, allow: [echo.url], logger: silentLogger });
    http.listen(0, '127.0.0.1');
    const { port } = await server.listen();
    expect((await egress.listen()).port).toBe(port);
    const client = connect(`ws://127.0.0.1:${port}/ws`, { reconnect: false });
    try {
      expect(await within(client.call('hi'), 'the command')).toBe('hello');
      const p = await new EgressPeer(`ws://127.0.0.1:${port}/bridge/egress`).opened();
      p.connect(echo.url);
      expect(await p.reply()).toMatchObject({ type: 'open' });
      await egress.close();
      expect(await p.closedWith()).toEqual({ code: 1001, reason: 'relay shutting down' });
      await until(() => echo.connections[0]!.closed !== undefined, 'the upstream to close');
      expect(echo.connections[0]!.closed).toEqual({ code: 1001, reason: 'relay shutting down' });
      expect(egress.connections).toBe(0);
      // Shutting down, the relay refuses new upgrades; the Switchboard server is unaffected.
      expect(await handshakeStatus(`ws://127.0.0.1:${port}/bridge/egress`, {}, [EGRESS_SUBPROTOCOL])).toBe(503);
      expect(await within(client.call('hi'), 'the command again')).toBe('hello');
    } finally {
      client.close();
      await server.close();
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    }
  });

  it('refuses impossible options with a TypeError', () => {
    expect(() => createEgressRelay({ allow: [] })).toThrow(/open proxy/);
    expect(() => createEgressRelay({ allow: ['http://x'] })).toThrow(TypeError);
    expect(() => createEgressRelay({ allow: ['wss://x'], credentials: { t: { urls: ['wss://x'], value: 's' } } })).toThrow(/authenticate/);
    expect(() => createEgressRelay({ allow: ['wss://x'], authenticate: () => 1, credentials: { t: { urls: [], value: 's' } } })).toThrow(TypeError);
    expect(() => createEgressRelay({ allow: ['wss://x'], authenticate: () => 1, credentials: { 'bad name': { urls: ['wss://x'], value: 's' } } })).toThrow(TypeError);
    expect(() => createEgressRelay({ allow: ['wss://x'], port: 0, server: createHttpServer() })).toThrow(TypeError);
  });
});

describe('backend SDK (createResourceServer)', () => {
  let echo: Echo;
  const servers: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
    await echo?.close();
  });

  function backend(limits = {}) {
    const events: WsEventMessage[] = [];
    const server = createResourceServer({
      policy: { allow: [`ws://127.0.0.1:${echo.port}`] },
      limits,
      onEvent: (e) => events.push(e),
      methods: {
        // The RightPlace document's example (docs/bridge.md), unchanged but for the params type.
        startStream: async (params: { url: string; token: string }, { rp }) => {
          const connectionId = `stream-${Date.now()}`;
          await rp.ws.connect(connectionId, params.url, { headers: { Authorization: `Bearer ${params.token}` } });
          await rp.ws.send(connectionId, JSON.stringify({ subscribe: 'prices' }));
          return { connectionId };
        },
        stopStream: async (params: { connectionId: string }, { rp }) => {
          await rp.ws.close(params.connectionId);
        },
        // Runs what a test passes, with the handler's `rp`.
        raw: async (params: { op: (rp: BackendRp) => Promise<unknown> }, { rp }) => params.op(rp),
      },
    });
    servers.push(server);
    return { server, events };
  }
  const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: { code?: string }) => e.code);

  it('close() drops an upstream that never answers the close frame after shutdownTimeoutMs', async () => {
    // An upstream that completes the handshake, then never reads again (so never answers the close).
    const sockets = new Set<import('node:net').Socket>();
    const upstream = createNetServer((sock) => {
      sockets.add(sock);
      sock.on('error', () => {});
      sock.once('data', (head: Buffer) => {
        const key = /sec-websocket-key: *(\S+)/i.exec(head.toString('latin1'))?.[1] ?? '';
        const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
        sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
        sock.pause();
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const port = (upstream.address() as AddressInfo).port;
    try {
      const shutdownTimeoutMs = 200;
      const server = createResourceServer({
        policy: { allow: [`ws://127.0.0.1:${port}`] },
        shutdownTimeoutMs,
        methods: { open: async (_p: undefined, { rp }) => rp.ws.connect('c1', `ws://127.0.0.1:${port}/`) },
      });
      await server.call('open', undefined);
      expect(server.connections).toBe(1);
      const t0 = performance.now();
      await within(server.close(), 'close() to resolve', 3_000);
      const ms = performance.now() - t0;
      expect(ms).toBeGreaterThanOrEqual(shutdownTimeoutMs - 20);
      expect(ms).toBeLessThan(2_000);
      expect(() => createResourceServer({ policy: { allow: ['ws://x'] }, methods: {}, shutdownTimeoutMs: -1 })).toThrow(/shutdownTimeoutMs/);
    } finally {
      for (const sock of sockets) sock.destroy();
      await new Promise<void>((r) => upstream.close(() => r()));
    }
  });

  it('runs the RightPlace documentation example: connect with headers, send, events to listeners, close', async () => {
    echo = await startEcho();
    const { server, events } = backend();
    const { connectionId } = await server.call('startStream', { url: echo.url, token: 't0k' });
    expect(echo.connections[0]!.headers.authorization).toBe('Bearer t0k');
    await until(() => events.length === 2, 'open and the echo');
    expect(events).toEqual([
      { type: 'rp:ws', connectionId, event: 'open', protocol: '' },
      { type: 'rp:ws', connectionId, event: 'message', data: '{"subscribe":"prices"}' },
    ]);
    await server.call('raw', { op: (rp) => rp.ws.send(connectionId, new Uint8Array([1, 2])) });
    await until(() => events.length === 3, 'the binary echo');
    expect(new Uint8Array(events[2]!.event === 'message' ? (events[2]!.data as ArrayBuffer) : new ArrayBuffer(0))).toEqual(new Uint8Array([1, 2]));
    expect(server.connections).toBe(1);
    await server.call('stopStream', { connectionId });
    expect(events.at(-1)).toEqual({ type: 'rp:ws', connectionId, event: 'close', code: 1000, reason: '' });
    expect(server.connections).toBe(0);
    expect(echo.connections[0]!.closed?.code).toBe(1000);
  });

  it('refuses with codes: URL, duplicate id, bad headers, caps, not connected, unknown method, and after close()', async () => {
    echo = await startEcho();
    const { server, events } = backend({ maxConnections: 1, maxPayload: 100 });
    const run = (op: (rp: BackendRp) => Promise<unknown>) => code(server.call('raw', { op }));
    expect(await run((rp) => rp.ws.connect('a', 'ws://127.0.0.1:1/'))).toBe('URL_NOT_ALLOWED');
    expect(await run((rp) => rp.ws.connect('a', echo.url, { headers: { Host: 'x' } }))).toBe('BAD_REQUEST');
    expect(await run((rp) => rp.ws.connect('', echo.url))).toBe('BAD_REQUEST');
    expect(await run((rp) => rp.ws.connect('a', echo.url))).toBe('ok');
    expect(await run((rp) => rp.ws.connect('a', echo.url))).toBe('BAD_REQUEST'); // in use
    expect(await run((rp) => rp.ws.connect('b', echo.url))).toBe('LIMIT_EXCEEDED');
    expect(await run((rp) => rp.ws.send('a', 'x'.repeat(101)))).toBe('PAYLOAD_TOO_LARGE');
    expect(await run((rp) => rp.ws.send('nope', 'x'))).toBe('NOT_CONNECTED');
    expect(await run((rp) => rp.ws.close('nope'))).toBe('NOT_CONNECTED');
    expect(await run((rp) => rp.ws.close('a', 1005))).toBe('BAD_REQUEST');
    expect(await code(server.call('nope' as 'raw', { op: async () => {} }))).toBe('UNKNOWN_METHOD');
    expect(await code(server.call('toString' as 'raw', { op: async () => {} }))).toBe('UNKNOWN_METHOD');
    await server.close();
    await until(() => echo.connections[0]!.closed !== undefined, 'the upstream to close');
    expect(echo.connections[0]!.closed).toEqual({ code: 1001, reason: 'resource server closing' });
    expect(events.at(-1)).toMatchObject({ event: 'close', code: 1001 });
    expect(await code(server.call('raw', { op: async () => {} }))).toBe('DISPOSED');
  });

  it('reports open before a message the upstream sends with its handshake', async () => {
    echo = await startEcho();
    const { server, events } = backend();
    await server.call('raw', { op: (rp) => rp.ws.connect('big', echo.url.replace('/echo', '/big')) });
    await until(() => events.length === 2, 'open and the greeting');
    expect(events.map((e) => e.event)).toEqual(['open', 'message']);
  });

  it('rejects a failed connect with UPSTREAM_FAILED and reports it as error + close events', async () => {
    echo = await startEcho();
    const { server, events } = backend();
    const port = echo.port;
    await echo.close();
    const err = await server.call('raw', { op: (rp) => rp.ws.connect('gone', `ws://127.0.0.1:${port}/`) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'BridgeError', code: 'UPSTREAM_FAILED' });
    expect(events).toEqual([
      { type: 'rp:ws', connectionId: 'gone', event: 'error', error: expect.stringContaining('unreachable'), errorCode: 'UPSTREAM_FAILED' },
      { type: 'rp:ws', connectionId: 'gone', event: 'close', code: 1006, reason: '' },
    ]);
    expect(server.connections).toBe(0);
  });

  it('types call() from the handlers', () => {
    const server = createResourceServer({
      policy: { allow: [] },
      methods: { add: (p: { a: number; b: number }) => p.a + p.b, hello: async () => 'hi' },
    });
    servers.push(server);
    expectTypeOf(server.call<'add'>).parameter(1).toEqualTypeOf<{ a: number; b: number }>();
    expectTypeOf(server.call<'add'>).returns.toEqualTypeOf<Promise<number>>();
    expectTypeOf(server.call<'hello'>).returns.toEqualTypeOf<Promise<string>>();
    // @ts-expect-error: not a method
    void server.call('nope', {}).catch(() => {});
    // @ts-expect-error: wrong params
    void server.call('add', { a: 'x', b: 1 }).catch(() => {});
  });
});
