/**
 * The server's HTTP upgrade handling (src/server/accept-upgrade.ts on src/net/), checked against
 * docs/protocol.md §1 with raw `ws` peers and raw TCP: origins, authentication, paths, subprotocol
 * negotiation, hostile sockets, shutdown, options.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect } from 'node:net';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { encodeTokenProtocol } from '../src/protocol/subprotocol.js';
import { createServer, silentLogger } from '../src/server/index.js';
import { createTestScope, handshakeStatus, recordingLogger, until, upgradeHead, within } from './helpers.js';

const V1 = 'switchboard.v1.json';

// Cleanups run in reverse order: Switchboard servers and their peers close before the HTTP servers
// they are attached to, which are opened first.
const scope = createTestScope();

/** Logger lines rendered deeply (Error messages and stacks included) for substring checks. */
function rendered(lines: { level: string; obj: object; msg?: string }[]): string[] {
  return lines.map((l) => inspect(l, { depth: 20, breakLength: Infinity }));
}

/**
 * Sends a hand-written HTTP request on a raw TCP socket and resolves the response's status code
 * once the server has closed the connection (refusals always close it, docs/protocol.md §1.2).
 */
/** Outcome of an upgrade attempt: 'open', the refusal's HTTP status, or the socket error's code. */
function attempt(url: string, protocols: string[] = [V1]): Promise<string | number> {
  return within(
    new Promise<string | number>((resolve) => {
      const ws = new WebSocket(url, protocols);
      ws.on('open', () => {
        resolve('open');
        ws.terminate();
      });
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        res.resume();
        ws.terminate();
      });
      ws.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    }),
    'upgrade attempt',
  );
}

describe('origin check', () => {
  it('refuses a foreign Origin with 403 and accepts the listed one and a missing one', async () => {
    const { url } = await scope.server({ origins: ['http://good.test'] });
    expect(await handshakeStatus(url, { origin: 'http://evil.test' })).toBe(403);
    expect(await handshakeStatus(url, { origin: 'http://good.test' })).toBe(101);
    // ws sends no Origin header unless asked to: a non-browser client.
    expect(await handshakeStatus(url)).toBe(101);
    // Exact match: a prefix or another scheme is a different origin.
    expect(await handshakeStatus(url, { origin: 'http://good.test.evil.test' })).toBe(403);
    expect(await handshakeStatus(url, { origin: 'https://good.test' })).toBe(403);
  });
});

describe('authentication', () => {
  it('refuses with 401 when authenticate returns null', async () => {
    const { url } = await scope.server({ authenticate: () => null });
    expect(await handshakeStatus(url)).toBe(401);
  });

  it('refuses with 401 when authenticate returns undefined', async () => {
    const { url } = await scope.server({ authenticate: () => undefined });
    expect(await handshakeStatus(url)).toBe(401);
  });

  it('refuses with 401 when an async authenticate resolves null', async () => {
    const { url } = await scope.server({ authenticate: async () => null });
    expect(await handshakeStatus(url)).toBe(401);
  });

  it('answers 500 when authenticate throws, logs the error, and never logs the token', async () => {
    const logger = recordingLogger();
    const token = 'sekret-token.with.dots';
    const entry = encodeTokenProtocol(token);
    const seen: (string | undefined)[] = [];
    const { url } = await scope.server({
      logger,
      authenticate: (_req, t) => {
        seen.push(t);
        throw new Error('user store unavailable');
      },
    });
    expect(await handshakeStatus(url, {}, [V1, entry])).toBe(500);
    expect(seen).toEqual([token]);
    const errors = logger.lines.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect((errors[0]!.obj as { err?: Error }).err?.message).toBe('user store unavailable');
    for (const line of rendered(logger.lines)) {
      expect(line).not.toContain(token);
      expect(line).not.toContain(entry.slice('switchboard.auth.'.length));
    }
  });

  it('answers 500 when an async authenticate rejects, and the body does not leak the error', async () => {
    const logger = recordingLogger();
    const { port } = await scope.server({
      logger,
      authenticate: async () => {
        throw new Error('connection string postgres://admin:pw@db');
      },
    });
    const res = await scope.rawRequest(port, upgradeHead(port, '/ws', ['Connection: close']));
    expect(res.status).toBe(500);
    expect(res.text).not.toContain('postgres');
    expect(logger.lines.filter((l) => l.level === 'error')).toHaveLength(1);
  });

  it('never logs the token when refusing with 401', async () => {
    const logger = recordingLogger();
    const token = 'another-secret';
    const { url } = await scope.server({ logger, authenticate: () => null });
    expect(await handshakeStatus(url, {}, [V1, encodeTokenProtocol(token)])).toBe(401);
    for (const line of rendered(logger.lines)) expect(line).not.toContain(token);
  });

  it('runs an async authenticate and hands its identity to command handlers as ctx.identity', async () => {
    const { url } = await scope.server<{ id: string; role: string }>(
      {
        authenticate: async (_req, token) => {
          await new Promise((r) => setImmediate(r));
          return token === 'good' ? { id: 'u-1', role: 'admin' } : null;
        },
      },
      (s) => s.command('whoami', (_input, ctx) => ({ identity: ctx.identity, clientId: ctx.clientId })),
    );
    expect(await handshakeStatus(url, {}, [V1, encodeTokenProtocol('bad')])).toBe(401);
    const p = await scope.peer(url, [V1, encodeTokenProtocol('good')]).ready();
    const welcome = p.frames[0]!;
    p.send({ t: 'call', id: 1, name: 'whoami' });
    expect(await p.answer(1)).toEqual({
      t: 'ok',
      id: 1,
      output: { identity: { id: 'u-1', role: 'admin' }, clientId: welcome.clientId },
    });
  });

  it('passes authenticate exactly the decoded token (non-ASCII, dots, astral chars), or undefined without one', async () => {
    const seen: (string | undefined)[] = [];
    const { url } = await scope.server({
      authenticate: (_req, token) => {
        seen.push(token);
        return 'someone';
      },
    });
    const tokens = ['eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiLDqSJ9.c2ln', 'naïve.Ω.日本.𝄞', '', '?>~+/='];
    for (const token of tokens) {
      const p = await scope.peer(url, [V1, encodeTokenProtocol(token)]).ready();
      // The server answers with the codec only; the token entry is never echoed (§1.1).
      expect(p.ws.protocol).toBe(V1);
    }
    await scope.peer(url, [V1]).ready();
    expect(seen).toEqual([...tokens, undefined]);
  });
});

describe('paths', () => {
  it('answers 404 on another path when it owns the HTTP server, and ignores the query string', async () => {
    const { port } = await scope.server();
    expect(await handshakeStatus(`ws://127.0.0.1:${port}/other`)).toBe(404);
    expect(await handshakeStatus(`ws://127.0.0.1:${port}/ws/extra`)).toBe(404);
    expect(await handshakeStatus(`ws://127.0.0.1:${port}/ws?room=1`)).toBe(101);
  });

  it('answers plain HTTP requests with 426', async () => {
    const { port } = await scope.server();
    const res = await scope.rawRequest(port, [`GET /ws HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close']);
    expect(res.status).toBe(426);
  });

  it('shares an existing http.Server with another upgrade listener without disturbing it', async () => {
    const http: HttpServer = createHttpServer();
    const other = new WebSocketServer({ noServer: true });
    other.on('connection', (ws) => ws.on('message', (data) => ws.send(`other:${String(data)}`)));
    let otherUpgrades = 0;
    http.on('upgrade', (req, socket, head) => {
      if (req.url !== '/other') return;
      otherUpgrades++;
      other.handleUpgrade(req, socket, head, (ws) => other.emit('connection', ws, req));
    });
    scope.defer(
      () => new Promise<void>((resolve) => {
        for (const c of other.clients) c.terminate();
        other.close();
        http.close(() => resolve());
        http.closeAllConnections();
      }),
    );
    const sb = createServer({ server: http, path: '/ws' }).command('add', ({ a, b }: { a: number; b: number }) => a + b);
    scope.track(sb);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = await sb.listen();
    expect(port).toBe((http.address() as { port: number }).port);

    // The other endpoint works and keeps its own socket; Switchboard neither answers nor closes it.
    const ows = new WebSocket(`ws://127.0.0.1:${port}/other`);
    ows.on('error', () => {});
    scope.defer(() => ows.terminate());
    await within(once(ows, 'open'), 'other endpoint open');
    const reply = once(ows, 'message');
    ows.send('hi');
    expect(String((await within(reply, 'other endpoint echo'))[0])).toBe('other:hi');
    expect(otherUpgrades).toBe(1);
    expect(ows.protocol).toBe('');

    // Switchboard's own path works on the same server.
    const p = await scope.peer(`ws://127.0.0.1:${port}/ws`).ready();
    p.send({ t: 'call', id: 1, name: 'add', input: { a: 2, b: 3 } });
    expect(await p.answer(1)).toEqual({ t: 'ok', id: 1, output: 5 });
    expect(sb.connections).toBe(1);

    // Closing Switchboard closes its peers only; the other endpoint's socket stays open.
    await sb.close();
    expect(await p.closed()).toBe(1001);
    expect(ows.readyState).toBe(WebSocket.OPEN);
    const again = once(ows, 'message');
    ows.send('still');
    expect(String((await within(again, 'other endpoint after close'))[0])).toBe('other:still');
  });
});

describe('subprotocol negotiation', () => {
  it('refuses with 400 when subprotocols are offered but no supported switchboard.v1.*', async () => {
    const { url } = await scope.server();
    expect(await handshakeStatus(url, {}, ['switchboard.v9.json'])).toBe(400);
    expect(await handshakeStatus(url, {}, ['switchboard.v1.cbor'])).toBe(400);
    expect(await handshakeStatus(url, {}, ['graphql-ws'])).toBe(400);
    // A token alone is not a protocol.
    expect(await handshakeStatus(url, {}, [encodeTokenProtocol('t')])).toBe(400);
  });

  it("picks the first supported codec in the client's order, within the server's codecs", async () => {
    const { url } = await scope.server();
    expect((await scope.peer(url, ['graphql-ws', 'switchboard.v1.cbor', V1, 'switchboard.v1.msgpack']).ready()).ws.protocol).toBe(V1);
    expect((await scope.peer(url, ['switchboard.v1.msgpack', V1]).ready()).ws.protocol).toBe('switchboard.v1.msgpack');
    const jsonOnly = await scope.server({ codecs: ['json'] });
    expect(await handshakeStatus(jsonOnly.url, {}, ['switchboard.v1.msgpack'])).toBe(400);
    expect((await scope.peer(jsonOnly.url, ['switchboard.v1.msgpack', V1]).ready()).ws.protocol).toBe(V1);
  });

  it('refuses a malformed token entry with 400 (through ws and through raw TCP)', async () => {
    let calls = 0;
    const { url, port } = await scope.server({
      authenticate: () => {
        calls++;
        return 'x';
      },
    });
    // '%' is a valid token character for ws's client, but not base64url.
    expect(await handshakeStatus(url, {}, [V1, 'switchboard.auth.%%%'])).toBe(400);
    // One base64 character cannot encode a byte.
    expect(await handshakeStatus(url, {}, [V1, 'switchboard.auth.A'])).toBe(400);
    // Bytes that are not UTF-8 (0xff 0xfe) are not a token.
    expect(await handshakeStatus(url, {}, [V1, 'switchboard.auth._-4'])).toBe(400);
    // Characters a ws client refuses to send: hand-written request.
    const res = await scope.rawRequest(port, upgradeHead(port, '/ws', [`Sec-WebSocket-Protocol: ${V1}, switchboard.auth.@@ @`]));
    expect(res.status).toBe(400);
    expect(calls).toBe(0);
  });

  it('treats a request without subprotocols as switchboard.v1.json', async () => {
    const { url } = await scope.server({}, (s) => s.command('echo', (x) => x));
    const p = await scope.peer(url, []).ready();
    expect(p.ws.protocol).toBe('');
    expect(p.frames[0]).toMatchObject({ t: 'welcome', v: 1, maxPayload: 1_048_576 });
    p.send({ t: 'call', id: 7, name: 'echo', input: ['json'] });
    expect(await p.answer(7)).toEqual({ t: 'ok', id: 7, output: ['json'] });
  });

  it('sends a complete welcome frame first', async () => {
    const { url } = await scope.server({ heartbeat: { intervalMs: 1234, timeoutMs: 567 }, limits: { maxPayload: 4096 } });
    const p = await scope.peer(url).ready();
    const [welcome] = p.frames;
    expect(welcome).toEqual({
      t: 'welcome',
      v: 1,
      clientId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      heartbeat: { intervalMs: 1234, timeoutMs: 567 },
      maxPayload: 4096,
    });
    const q = await scope.peer(url).ready();
    expect(q.frames[0]!.clientId).not.toBe(welcome!.clientId);
  });
});

describe('hostile sockets', () => {
  it('survives a half-written HTTP request and keeps serving other clients', async () => {
    const { url, port, server } = await scope.server({}, (s) => s.command('echo', (x) => x));
    const half = connect(port, '127.0.0.1');
    scope.defer(() => half.destroy());
    half.on('error', () => {});
    await once(half, 'connect');
    half.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upg`);
    const p = await scope.peer(url).ready();
    p.send({ t: 'call', id: 1, name: 'echo', input: 'still here' });
    expect(await p.answer(1)).toEqual({ t: 'ok', id: 1, output: 'still here' });
    // The peer that never finished its request is not a connection.
    expect(server.connections).toBe(1);
    half.destroy();
    p.send({ t: 'call', id: 2, name: 'echo', input: 2 });
    expect(await p.answer(2)).toEqual({ t: 'ok', id: 2, output: 2 });
  });

  it('answers garbage bytes with 400 and closes, without crashing', async () => {
    const { url, port } = await scope.server();
    const res = await scope.rawRequest(port, ['\u0000\u00ff not http at all']);
    expect(res.status).toBe(400);
    await scope.peer(url).ready();
  });

  it('refuses an upgrade with no Sec-WebSocket-Key with 400', async () => {
    const { port } = await scope.server();
    const head = upgradeHead(port, '/ws').filter((l) => !l.startsWith('Sec-WebSocket-Key'));
    expect((await scope.rawRequest(port, head)).status).toBe(400);
  });

  it('survives a peer that resets its socket while authenticate is pending', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started = 0;
    const { url, port, server } = await scope.server({
      authenticate: async () => {
        started++;
        await gate;
        return 'late';
      },
    });
    const s = connect(port, '127.0.0.1');
    scope.defer(() => s.destroy());
    s.on('error', () => {});
    await once(s, 'connect');
    s.write(`${upgradeHead(port, '/ws').join('\r\n')}\r\n\r\n`);
    await until(() => started === 1, 'authenticate to start');
    s.resetAndDestroy();
    await within(once(s, 'close'), 'raw socket closed');
    release();
    // The next handshake goes through the same (now open) gate and succeeds.
    await scope.peer(url).ready();
    expect(server.connections).toBe(1);
  });
});

describe('shutdown', () => {
  it('close() closes every peer with 1001, resolves, and refuses later upgrades', async () => {
    const { url, server } = await scope.server();
    const a = await scope.peer(url).ready();
    const b = await scope.peer(url, []).ready();
    expect(server.connections).toBe(2);
    await within(server.close(), 'server.close()');
    expect(server.connections).toBe(0);
    expect(await a.closed()).toBe(1001);
    expect(await b.closed()).toBe(1001);
    expect(a.closeReason.length).toBeGreaterThan(0);
    expect(await attempt(url)).toBe('ECONNREFUSED');
    // Idempotent, and listen() after close is an error rather than a silent restart.
    await within(server.close(), 'second close()');
    await expect(server.listen()).rejects.toThrow(/closed/);
  });

  it('answers 503 to a handshake whose authenticate finishes after close() began', async () => {
    let calls = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { url, server } = await scope.server({
      authenticate: async () => {
        if (++calls === 1) return 'keeper';
        await gate;
        return 'late';
      },
    });
    // An open peer keeps close() busy with its close handshake while the late handshake finishes.
    const keeper = await scope.peer(url).ready();
    const status = handshakeStatus(url);
    await until(() => calls === 2, 'second authenticate to start');
    const closing = server.close();
    release();
    expect(await status).toBe(503);
    await within(closing, 'server.close()');
    expect(await keeper.closed()).toBe(1001);
    expect(server.connections).toBe(0);
  });
});

describe('shutdown on a shared HTTP server', () => {
  it('answers 503 to upgrades after close() instead of leaving them hanging, and keeps the HTTP server', async () => {
    const http = createHttpServer((_req, res) => res.end('still here'));
    scope.defer(() => new Promise<void>((r) => { http.close(() => r()); http.closeAllConnections(); }));
    const server = createServer({ server: http, logger: silentLogger });
    http.listen(0, '127.0.0.1');
    const { port } = await server.listen();
    const url = `ws://127.0.0.1:${port}/ws`;
    await scope.peer(url).ready();
    const first = server.close();
    expect(server.close()).toBe(first); // one shutdown, however often it is asked for
    await within(first, 'server.close()');
    expect(await attempt(url)).toBe(503);
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(await res.text()).toBe('still here');
  });

  it('listen() rejects when the attached server fails to listen', async () => {
    const taken = createHttpServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    scope.defer(() => new Promise<void>((r) => taken.close(() => r())));
    const http = createHttpServer();
    const server = createServer({ server: http });
    const listening = server.listen();
    http.listen((taken.address() as { port: number }).port, '127.0.0.1');
    await expect(within(listening, 'listen() to settle')).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});

describe('options', () => {
  it('throws TypeError for port together with server', () => {
    const http = createHttpServer();
    expect(() => createServer({ port: 1, server: http })).toThrow(TypeError);
    expect(() => createServer({ port: 0, server: http })).toThrow(TypeError);
  });

  it('throws TypeError for a path that does not start with "/"', () => {
    expect(() => createServer({ path: 'ws' })).toThrow(TypeError);
    expect(() => createServer({ path: '' })).toThrow(TypeError);
  });

  it('throws TypeError for non-positive limits and heartbeat values', () => {
    expect(() => createServer({ limits: { maxPayload: 0 } })).toThrow(TypeError);
    expect(() => createServer({ heartbeat: { intervalMs: -1 } })).toThrow(TypeError);
    expect(() => createServer({ heartbeat: { timeoutMs: Number.NaN } })).toThrow(TypeError);
    expect(() => createServer({ port: -1 })).toThrow(TypeError);
  });
});
