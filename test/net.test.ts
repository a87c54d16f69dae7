/**
 * The shared endpoint layer (src/net/) piece by piece: admission, the HTTP refusal, origins, the
 * deadline, the offered-subprotocol reader, the HTTP server with its listen/close, shutdown of peers,
 * and the upgrade listener with a minimal endpoint of its own — real sockets on 127.0.0.1, port 0.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { Admission, addressKey, releaseOnce } from '../src/net/admission.js';
import { closeWithin, type ClosingPeer } from '../src/net/close-peers.js';
import { TIMED_OUT, deadline } from '../src/net/deadline.js';
import { connectionsCheckingInterval, createHttpEndpoint } from '../src/net/http-endpoint.js';
import { originAllowed } from '../src/net/origin.js';
import { refuse } from '../src/net/refuse.js';
import { REFUSED, authenticateUpgrade, completeUpgrade, createUpgradeListener, type Upgrade, type UpgradeEndpoint } from '../src/net/upgrade.js';
import { encodeTokenProtocol, readOfferedProtocols } from '../src/protocol/subprotocol.js';
import { silentLogger } from '../src/shared/logger.js';
import { createTestScope, guardUnhandledRejections, recordingLogger, until, upgradeHead, within } from './helpers.js';

guardUnhandledRejections();
const scope = createTestScope();

/** An HTTP server on 127.0.0.1, closed (with its sockets) after the test. */
async function httpServer(): Promise<{ http: HttpServer; port: number }> {
  const http = createHttpServer();
  scope.defer(() => new Promise<void>((r) => (http.closeAllConnections(), http.close(() => r()))));
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  return { http, port: (http.address() as AddressInfo).port };
}

describe('Admission', () => {
  it('refuses 503 past the total and 429 past the per-address count, and gives slots back', () => {
    const a = new Admission(3, 2);
    expect(a.admit('a')).toBe(0);
    expect(a.admit('a')).toBe(0);
    expect(a.admit('a')).toBe(429);
    expect(a.admit('b')).toBe(0);
    expect(a.admit('c')).toBe(503);
    a.release('a');
    expect(a.admit('c')).toBe(0);
    a.release('never-admitted'); // no effect: the count cannot go below what was taken
    expect(a.admit('d')).toBe(503);
  });

  it('releaseOnce gives the slot back once however often it is called', () => {
    const a = new Admission(1, 1);
    expect(a.admit('x')).toBe(0);
    const release = releaseOnce(a, 'x');
    release();
    expect(a.admit('x')).toBe(0);
    release(); // a second call must not free the slot the new connection holds
    expect(a.admit('x')).toBe(503);
  });

  it('counts IPv4-mapped addresses as IPv4 and IPv6 by /64', () => {
    expect(addressKey('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(addressKey('2001:db8:0:1:aaaa::1')).toBe(addressKey('2001:db8:0:1::2'));
  });
});

describe('originAllowed', () => {
  const req = (origin?: string) => ({ headers: origin === undefined ? {} : { origin } }) as IncomingMessage;
  it('passes every origin without a list, requests without Origin always, and exact matches only', () => {
    expect(originAllowed(req('https://evil.example'), undefined)).toBe(true);
    const list = new Set(['https://app.example']);
    expect(originAllowed(req(), list)).toBe(true);
    expect(originAllowed(req('https://app.example'), list)).toBe(true);
    expect(originAllowed(req('https://app.example.evil'), list)).toBe(false);
    expect(originAllowed(req('http://app.example'), list)).toBe(false);
  });
});

describe('refuse', () => {
  it('answers one complete HTTP response and closes the socket', async () => {
    const server = createNetServer((socket) => refuse(socket, 429, 'Too many', { 'Retry-After': '1' }));
    scope.defer(() => new Promise<void>((r) => server.close(() => r())));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { status, text } = await scope.rawRequest((server.address() as AddressInfo).port, ['GET / HTTP/1.1']);
    expect(status).toBe(429);
    expect(text).toBe(
      'HTTP/1.1 429 Too Many Requests\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 9\r\nRetry-After: 1\r\n\r\nToo many\n',
    );
  });
});

describe('deadline', () => {
  it('resolves plain values and settled promises as they are', async () => {
    expect(await deadline(42, 10)).toBe(42);
    expect(await deadline(null, 10)).toBe(null);
    expect(await deadline(Promise.resolve('x'), 10)).toBe('x');
    await expect(deadline(Promise.reject(new Error('boom')), 10)).rejects.toThrow('boom');
  });

  it.each([
    { what: 'a Promise', pending: () => new Promise<never>(() => {}) },
    { what: "another realm's Promise", pending: () => vm.runInNewContext('new Promise(() => {})') as Promise<never> },
    { what: 'a bare thenable', pending: () => ({ then() {} }) as PromiseLike<never> },
  ])('cuts $what that never settles at the deadline', async ({ pending }) => {
    const t0 = performance.now();
    expect(await deadline(pending(), 50)).toBe(TIMED_OUT);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
  });

  it('ignores the loser, a late rejection included', async () => {
    let reject!: (err: Error) => void;
    const late = new Promise<never>((_, r) => (reject = r));
    expect(await deadline(late, 10)).toBe(TIMED_OUT);
    reject(new Error('too late')); // must not become an unhandled rejection (the guard above checks)
    await new Promise((r) => setImmediate(r));
  });
});

describe('readOfferedProtocols', () => {
  it('sets the token entry apart and keeps the others in order', () => {
    expect(readOfferedProtocols(undefined)).toEqual({ ok: true, protocols: [], token: undefined });
    expect(readOfferedProtocols(` a , ${encodeTokenProtocol('tök')},b,,`)).toEqual({ ok: true, protocols: ['a', 'b'], token: 'tök' });
    expect(readOfferedProtocols(encodeTokenProtocol(''))).toEqual({ ok: true, protocols: [], token: '' });
  });

  it('refuses two token entries, and a malformed one', () => {
    expect(readOfferedProtocols(`a, ${encodeTokenProtocol('x')}, ${encodeTokenProtocol('x')}`)).toEqual({ ok: false, message: 'More than one token subprotocol' });
    for (const bad of ['switchboard.auth.%', 'switchboard.auth.a', 'switchboard.auth.YQ==', 'switchboard.auth./w']) {
      expect(readOfferedProtocols(`a, ${bad}`)).toEqual({ ok: false, message: 'Malformed token subprotocol' });
    }
  });
});

describe('createHttpEndpoint', () => {
  it('keeps the slowloris check interval well below the timeout, within [100, 1000] ms', () => {
    expect(connectionsCheckingInterval(300)).toBe(100);
    expect(connectionsCheckingInterval(2_000)).toBe(500);
    expect(connectionsCheckingInterval(10_000)).toBe(1_000);
  });

  it('its own server: listens, answers plain HTTP with 426, times out slow headers, and closes', async () => {
    const ep = createHttpEndpoint({ server: undefined, port: 0, host: '127.0.0.1', handshakeTimeoutMs: 200 });
    scope.track(ep);
    expect(ep.owned).toBe(true);
    const port = await ep.listen();
    expect(await ep.listen()).toBe(port); // idempotent
    const plain = await scope.rawRequest(port, ['GET / HTTP/1.1', 'Host: x', 'Connection: close']);
    expect(plain.status).toBe(426);
    const slow = connect(port, '127.0.0.1');
    scope.defer(() => slow.destroy());
    slow.on('error', () => {});
    let text = '';
    slow.setEncoding('latin1');
    slow.on('data', (d: string) => (text += d));
    const t0 = performance.now();
    slow.write('GET / HTTP/1.1\r\nHost: x\r\n');
    await within(once(slow, 'close'), 'the slow socket to be closed', 3_000);
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(180);
    await ep.close();
    expect(ep.http.listening).toBe(false);
  });

  it('its own server: a port in use rejects listen() and leaves no listener behind', async () => {
    const { port } = await httpServer();
    const ep = createHttpEndpoint({ server: undefined, port, host: '127.0.0.1', handshakeTimeoutMs: 1_000 });
    // Node's HTTP server keeps a 'listening' listener of its own (connection tracking).
    const before = [ep.http.listenerCount('listening'), ep.http.listenerCount('error')];
    await expect(ep.listen()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect([ep.http.listenerCount('listening'), ep.http.listenerCount('error')]).toEqual(before);
  });

  it('an attached server: listen() waits for the application to listen (or fail), and close() leaves it running', async () => {
    const http = createHttpServer();
    scope.defer(() => new Promise<void>((r) => (http.closeAllConnections(), http.close(() => r()))));
    const ep = createHttpEndpoint({ server: http, port: 0, host: undefined, handshakeTimeoutMs: 1_000 });
    expect(ep.owned).toBe(false);
    let settled = false;
    const listening = ep.listen().finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(settled).toBe(false); // nothing listens yet; the endpoint does not listen on its own
    http.listen(0, '127.0.0.1');
    expect(await within(listening, 'listen() to resolve')).toBe((http.address() as AddressInfo).port);
    await ep.close();
    expect(http.listening).toBe(true);

    const { port } = await httpServer();
    const other = createHttpServer();
    const failing = createHttpEndpoint({ server: other, port: 0, host: undefined, handshakeTimeoutMs: 1_000 }).listen();
    other.listen(port, '127.0.0.1');
    await expect(within(failing, 'listen() to reject')).rejects.toMatchObject({ code: 'EADDRINUSE' });
  });
});

describe('closeWithin', () => {
  /** A peer that closes `closeAfterMs` after close() (never when undefined), recording what was done to it. */
  function fakePeer(closeAfterMs: number | undefined, closed = false) {
    const done: string[] = [];
    let cbs: (() => void)[] = [];
    const finish = () => {
      closed = true;
      for (const cb of cbs) cb();
      cbs = [];
    };
    const peer: ClosingPeer = {
      close: () => {
        done.push('close');
        if (closeAfterMs !== undefined) setTimeout(finish, closeAfterMs);
      },
      terminate: () => {
        done.push('terminate');
        finish();
      },
      onClosed: (cb) => (closed ? cb() : void cbs.push(cb)),
    };
    return { peer, done };
  }

  it('closes every peer, terminates only those still open at the timeout, and resolves when all are gone', async () => {
    const polite = fakePeer(5);
    const deaf = fakePeer(undefined);
    const gone = fakePeer(undefined, true);
    const t0 = performance.now();
    await within(closeWithin([polite.peer, deaf.peer, gone.peer], 100), 'every peer to close');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(95);
    expect(polite.done).toEqual(['close']);
    expect(deaf.done).toEqual(['close', 'terminate']);
    expect(gone.done).toEqual(['close']);
    await closeWithin([], 100);
  });
});

describe('the upgrade listener', () => {
  /** A minimal endpoint on `path` whose own decision is `decide`; accepted sockets are tracked. */
  async function endpoint(o: { decide?: (u: Upgrade, ep: UpgradeEndpoint, wss: WebSocketServer) => Promise<boolean>; other?: boolean } & Partial<UpgradeEndpoint> = {}) {
    const { http, port } = await httpServer();
    const wss = new WebSocketServer({ noServer: true, clientTracking: false });
    const accepted: WebSocket[] = [];
    scope.defer(() => accepted.forEach((ws) => ws.terminate()));
    let closing = false;
    const ep: UpgradeEndpoint = {
      http,
      path: '/here',
      admission: new Admission(10, 2),
      origins: undefined,
      handshakeTimeoutMs: 1_000,
      name: 'Thing',
      logger: silentLogger,
      isClosing: () => closing,
      ...o,
    };
    const decide = o.decide ?? ((u) => completeUpgrade(ep, wss, u, (ws) => (accepted.push(ws), ws.once('close', u.release))));
    http.on('upgrade', createUpgradeListener(ep, (u) => decide(u, ep, wss)));
    if (o.other) http.on('upgrade', (req, socket) => req.url === '/other' && socket.end('HTTP/1.1 418 I\'m a teapot\r\n\r\n'));
    return { ep, port, accepted, wss, url: `ws://127.0.0.1:${port}/here`, shutDown: () => (closing = true) };
  }

  it('answers 404 for another path only when it is the only upgrade listener', async () => {
    const alone = await endpoint();
    expect((await scope.rawRequest(alone.port, upgradeHead(alone.port, '/other'))).status).toBe(404);
    const shared = await endpoint({ other: true });
    expect((await scope.rawRequest(shared.port, upgradeHead(shared.port, '/other'))).status).toBe(418);
  });

  it('counts admissions from the request (429 with Retry-After, 503 naming the endpoint) and releases on close', async () => {
    const { port, url, accepted, ep } = await endpoint({ admission: new Admission(3, 2) });
    const open = async () => {
      const ws = new WebSocket(url);
      ws.on('error', () => {});
      await within(once(ws, 'open'), 'open');
      return ws;
    };
    const a = await open();
    await open();
    const tooMany = await scope.rawRequest(port, upgradeHead(port, '/here?x=1'));
    expect(tooMany.status).toBe(429);
    expect(tooMany.text).toContain('Retry-After: 1');
    a!.close();
    await until(() => ep.admission.admit('127.0.0.1') === 0, 'the slot to come back');
    ep.admission.release('127.0.0.1');
    await open();
    ep.admission.admit('elsewhere'); // the third and last slot in all
    const full = await scope.rawRequest(port, upgradeHead(port, '/here'));
    expect(full.status).toBe(503);
    expect(full.text).toContain('Thing is at capacity');
    expect(accepted).toHaveLength(3);
  });

  it('refuses a foreign origin (403) and every upgrade once shutting down (503), releasing their slots', async () => {
    const { port, ep, shutDown } = await endpoint({ origins: new Set(['https://app.example']), admission: new Admission(10, 1) });
    expect((await scope.rawRequest(port, upgradeHead(port, '/here', ['Origin: https://evil.example']))).status).toBe(403);
    shutDown();
    expect((await scope.rawRequest(port, upgradeHead(port, '/here', ['Origin: https://app.example']))).status).toBe(503);
    expect(ep.admission.admit('127.0.0.1')).toBe(0); // both slots were given back
  });

  it('releases the slot when the decision refuses, and answers 500 (logged) when it throws', async () => {
    const logger = recordingLogger();
    let fail = false;
    const { port, ep } = await endpoint({
      logger,
      admission: new Admission(10, 1),
      decide: async (u) => {
        if (fail) throw new Error('bug');
        refuse(u.socket, 400, 'No');
        return false;
      },
    });
    expect((await scope.rawRequest(port, upgradeHead(port, '/here'))).status).toBe(400);
    fail = true;
    expect((await scope.rawRequest(port, upgradeHead(port, '/here'))).status).toBe(500);
    expect(logger.lines.map((l) => l.msg)).toEqual(['upgrade failed']);
    // Which endpoint failed: the server and the relay log the same messages.
    expect(logger.lines[0]!.obj).toMatchObject({ endpoint: ep.name });
    expect(ep.admission.admit('127.0.0.1')).toBe(0);
  });

  it('authenticateUpgrade: 401 for no identity, 500 (logged) for a throw, 503 (logged) past the deadline, the token never logged', async () => {
    const logger = recordingLogger();
    let outcome: () => unknown = () => null;
    const identities: unknown[] = [];
    let released = false;
    const { port, ep } = await endpoint({
      logger,
      handshakeTimeoutMs: 150,
      decide: async (u, e, w) => {
        const id = await authenticateUpgrade(u, e.logger, () => outcome() as string);
        if (id === REFUSED) return false;
        identities.push(id);
        return completeUpgrade(e, w, u, (ws) => {
          ws.once('close', () => (u.release(), (released = true)));
          ws.close();
        });
      },
    });
    const token = ['Sec-WebSocket-Protocol: ' + encodeTokenProtocol('secret-token')];
    expect((await scope.rawRequest(port, upgradeHead(port, '/here', token))).status).toBe(401);
    outcome = () => {
      throw new Error('db down');
    };
    expect((await scope.rawRequest(port, upgradeHead(port, '/here', token))).status).toBe(500);
    outcome = () => new Promise(() => {});
    const t0 = performance.now();
    expect((await scope.rawRequest(port, upgradeHead(port, '/here', token))).status).toBe(503);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(130);
    outcome = () => Promise.resolve('alice');
    const ws = new WebSocket(`ws://127.0.0.1:${port}/here`);
    ws.on('error', () => {});
    await within(new Promise((r) => ws.on('close', r)), 'the accepted socket to be closed');
    expect(identities).toEqual(['alice']);
    expect(logger.lines.map((l) => [l.level, l.msg])).toEqual([
      ['info', 'handshake refused'],
      ['error', 'authenticate threw'],
      ['warn', 'authenticate timed out'],
    ]);
    // authenticate returned null: the application's own refusal (docs/security.md, "Refusal logs").
    expect(logger.lines[0]!.obj).toMatchObject({ category: 'refused', status: 401, ip: '127.0.0.1' });
    for (const line of logger.lines) expect(line.obj).toMatchObject({ endpoint: ep.name });
    expect(JSON.stringify(logger.lines)).not.toContain('secret-token');
    // Both of the address's slots are free again: every refusal gave its slot back.
    await until(() => released, 'the accepted socket to close on the server');
    expect([ep.admission.admit('127.0.0.1'), ep.admission.admit('127.0.0.1')]).toEqual([0, 0]);
  });

  it('completeUpgrade answers 503 when shutdown began during the decision, and the slot comes back', async () => {
    const waiting: (() => void)[] = [];
    const results: boolean[] = [];
    const { port, ep, shutDown } = await endpoint({
      admission: new Admission(10, 1),
      decide: async (u, e, w) => {
        await new Promise<void>((r) => waiting.push(r));
        const r = await completeUpgrade(e, w, u, () => {});
        results.push(r);
        return r;
      },
    });
    const pending = scope.rawRequest(port, upgradeHead(port, '/here'));
    await until(() => waiting.length === 1, 'the decision to start');
    shutDown();
    waiting[0]!();
    expect((await pending).status).toBe(503);
    expect(results).toEqual([false]);
    expect(ep.admission.admit('127.0.0.1')).toBe(0);
  });
});
