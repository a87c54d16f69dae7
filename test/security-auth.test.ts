/**
 * Authentication end to end (docs/protocol.md §1.2–1.4, §4, §5): `jwt()` verification with every
 * key source, the four token transports, first-message authentication, token refresh, the client's
 * reaction to refusals, and the rule that a token never reaches a log line, an error message, a
 * close reason or an HTTP body. Real sockets on 127.0.0.1, tokens signed with jose.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Client, ClientEvents, ClientOptions } from '../src/client/node.js';
import { encodeTokenProtocol } from '../src/protocol/subprotocol.js';
import { jwt, type JwtClaims, type JwtOptions, type ServerOptions, type Server, type TokenAuthenticate } from '../src/server/index.js';
import { createTestScope, guardUnhandledRejections, recordingLogger, until, within, type RawPeer } from './helpers.js';

const V1 = 'switchboard.v1.json';
// 64 bytes or more: RFC 7518 §3.2 asks as many as the hash for every HS algorithm the tests use.
const SECRET = 'switchboard-test-secret-of-sufficient-length-for-hs256-hs384-hs512';
const KEY = new TextEncoder().encode(SECRET);

// ---------------------------------------------------------------------------------------------
// Bookkeeping: everything a test opens is closed in afterEach, and no promise may go unhandled.

guardUnhandledRejections();
const scope = createTestScope();

const nowSec = () => Math.floor(Date.now() / 1000);

/** Signs `claims` (HS256 with the shared secret unless told otherwise). */
function sign(claims: JWTPayload, o: { alg?: string; key?: Parameters<SignJWT['sign']>[0]; kid?: string } = {}): Promise<string> {
  const header = { alg: o.alg ?? 'HS256', ...(o.kid ? { kid: o.kid } : {}) };
  return new SignJWT(claims).setProtectedHeader(header).sign(o.key ?? KEY);
}

/**
 * A token whose `exp` (whole seconds) falls 0.4–1.4 s from now: long enough for the handshake,
 * short enough that a refresh test does not wait long. Returns the expiry in ms too.
 */
async function soonExpiring(claims: JWTPayload = { sub: 'alice' }): Promise<{ token: string; exp: number }> {
  const exp = Math.ceil((Date.now() + 400) / 1000);
  return { token: await sign({ ...claims, exp }), exp };
}

/** Base64url without padding (RFC 4648 §5), for hand-made tokens. */
const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A server with `whoami` and the `news` topic registered before `setup`. */
function start(options: ServerOptions<JwtClaims> = {}, setup?: (s: Server<JwtClaims>) => void) {
  return scope.server<JwtClaims>(options, (s) => {
    s.command('whoami', (_input: undefined, ctx) => ({ identity: ctx.identity, clientId: ctx.clientId }));
    s.topic('news', { subscribe: true });
    setup?.(s);
  });
}

/** A server authenticating with `jwt({ secret, algorithms: ['HS256'], ...o })`. */
const startJwt = (o: Partial<JwtOptions> = {}, options: ServerOptions<JwtClaims> = {}) =>
  start({ authenticate: jwt({ secret: SECRET, algorithms: ['HS256'], ...o } as JwtOptions), ...options });

/** A raw peer carrying `token` in its `switchboard.auth.*` subprotocol entry. */
const tokenPeer = (url: string, token: string) => scope.peer(url, [V1, encodeTokenProtocol(token)]);

/** Calls `whoami` on a raw peer and returns the identity the server holds. */
async function whoami(p: RawPeer, id: number): Promise<Record<string, unknown>> {
  p.send({ t: 'call', id, name: 'whoami' });
  const answer = await p.answer(id);
  expect(answer.t).toBe('ok');
  return (answer.output as { identity: Record<string, unknown> }).identity;
}

/** Status and body of an upgrade attempt (101 and '' when it opened). */
function attempt(url: string, protocols: string[] = [V1], opts: WebSocket.ClientOptions = {}): Promise<{ status: number; body: string }> {
  return within(
    new Promise((resolve) => {
      const ws = new WebSocket(url, protocols, opts);
      scope.defer(() => ws.terminate());
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      ws.on('open', () => {
        resolve({ status: 101, body: '' });
        ws.close();
      });
      ws.on('error', () => {});
    }),
    'upgrade attempt',
  );
}

type Logged = ReturnType<typeof recordingLogger>;
/** Logger lines rendered deeply (errors with causes and stacks) for substring checks. */
const rendered = (logger: Logged) => logger.lines.map((l) => inspect(l, { depth: 20, breakLength: Infinity }));

/** Asserts that neither `token` nor its subprotocol spelling occurs in any log line. */
function expectNoTokenIn(logger: Logged, token: string): void {
  const encoded = encodeTokenProtocol(token).slice('switchboard.auth.'.length);
  for (const line of rendered(logger)) {
    expect(line).not.toContain(token);
    expect(line).not.toContain(encoded);
  }
}

/** A Node client that records its events; closed in afterEach. */
function client(url: string, opts: ClientOptions = {}): Client & { log: string[]; errors: Error[] } {
  const c = scope.client(url, opts) as Client & { log: string[]; errors: Error[] };
  c.log = [];
  c.errors = [];
  c.on('open', (e) => c.log.push(`open:${e.clientId}`));
  c.on('close', (e) => c.log.push(`close:${e.code}:${e.willReconnect}${e.httpStatus ? `:${e.httpStatus}` : ''}`));
  c.on('reconnecting', (e) => c.log.push(`reconnecting:${e.attempt}`));
  c.on('error', (e) => {
    c.errors.push(e);
    c.log.push(`error:${(e as { code?: string }).code ?? e.message}`);
  });
  return c;
}

function nextEvent<K extends keyof ClientEvents>(c: Client, event: K, timeoutMs = 5_000): Promise<ClientEvents[K]> {
  return within(
    new Promise((resolve) => {
      const off = c.on(event, (e) => {
        off();
        resolve(e);
      });
    }),
    `client event ${event}`,
    timeoutMs,
  );
}

/** Probes until `ok` holds (async probes, e.g. a call), with a deadline. */
async function eventually<T>(probe: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 3_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const fast = { initialDelayMs: 10, maxDelayMs: 30, stableAfterMs: 5_000 };

/** An HTTP server on 127.0.0.1 answering every request with `handler`; counts requests. */
async function httpServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const http: HttpServer = createHttpServer((req, res) => {
    hits++;
    handler(req, res);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  scope.defer(
    () =>
      new Promise<void>((r) => {
        http.close(() => r());
        http.closeAllConnections(); // fetch keeps connections alive
      }),
  );
  return { url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/.well-known/jwks.json`, hits: () => hits };
}

/** Wraps a `jwt()` authenticate to count the tokens it verifies after the upgrade. */
function counted(auth: TokenAuthenticate<JwtClaims>): TokenAuthenticate<JwtClaims> & { verified: string[] } {
  const verified: string[] = [];
  const wrapped = Object.assign((req: Parameters<typeof auth>[0], t: string | undefined) => auth(req, t), {
    transports: auth.transports,
    findToken: auth.findToken,
    verified,
    verify: (t: string) => (verified.push(t), auth.verify(t)),
  });
  return wrapped;
}

// ---------------------------------------------------------------------------------------------

describe('jwt() with a shared secret (HS256)', () => {
  it('accepts a valid token and makes its claims ctx.identity', async () => {
    const { url } = await startJwt();
    const exp = nowSec() + 600;
    const token = await sign({ sub: 'alice', role: 'admin', exp, iat: nowSec() });
    const p = await tokenPeer(url, token).ready();
    expect(await whoami(p, 1)).toEqual({ sub: 'alice', role: 'admin', exp, iat: expect.any(Number) });
  });

  it('refuses alg "none" with 401, even with the claims of a valid user', async () => {
    const { url } = await startJwt();
    const none = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ sub: 'alice', exp: nowSec() + 600 })}.`;
    expect((await attempt(url, [V1, encodeTokenProtocol(none)])).status).toBe(401);
    // The same claims, signed: accepted (the refusal is about the algorithm, not the claims).
    expect((await attempt(url, [V1, encodeTokenProtocol(await sign({ sub: 'alice', exp: nowSec() + 600 }))])).status).toBe(101);
  });

  it('refuses an algorithm not listed (HS384 with the right secret while algorithms is [HS256]) with 401', async () => {
    const { url } = await startJwt();
    const hs384 = await sign({ sub: 'alice' }, { alg: 'HS384' });
    expect((await attempt(url, [V1, encodeTokenProtocol(hs384)])).status).toBe(401);
    const both = await startJwt({ algorithms: ['HS256', 'HS384'] });
    expect((await attempt(both.url, [V1, encodeTokenProtocol(hs384)])).status).toBe(101);
  });

  it('refuses an expired token, a bad signature and garbage with 401', async () => {
    const { url } = await startJwt();
    const expired = await sign({ sub: 'alice', exp: nowSec() - 5 });
    const wrongSecret = await sign({ sub: 'alice' }, { key: new TextEncoder().encode(`${SECRET}-but-not-quite`) });
    const valid = await sign({ sub: 'alice' });
    const [h, p] = valid.split('.');
    const tampered = `${h}.${b64url({ sub: 'root' })}.${valid.split('.')[2]}`;
    for (const token of [expired, wrongSecret, tampered, 'not-a-jwt', `${h}.${p}`]) {
      expect((await attempt(url, [V1, encodeTokenProtocol(token)])).status, token).toBe(401);
    }
    // No token at all is refused too (jwt() requires one).
    expect((await attempt(url)).status).toBe(401);
    expect((await attempt(url, [V1, encodeTokenProtocol(valid)])).status).toBe(101);
  });

  it('checks audience and issuer', async () => {
    const { url } = await startJwt({ audience: 'chat', issuer: 'https://auth.test' });
    const token = (claims: JWTPayload) => sign({ sub: 'alice', ...claims }).then((t) => [V1, encodeTokenProtocol(t)]);
    expect((await attempt(url, await token({ aud: 'billing', iss: 'https://auth.test' }))).status).toBe(401);
    expect((await attempt(url, await token({ aud: 'chat', iss: 'https://evil.test' }))).status).toBe(401);
    expect((await attempt(url, await token({ aud: 'chat' }))).status).toBe(401); // issuer missing
    expect((await attempt(url, await token({ iss: 'https://auth.test' }))).status).toBe(401); // audience missing
    expect((await attempt(url, await token({ aud: ['other', 'chat'], iss: 'https://auth.test' }))).status).toBe(101);
  });

  it('clockToleranceSec lets a just-expired token pass, and only within the tolerance', async () => {
    const lenient = await startJwt({ clockToleranceSec: 30 });
    const strict = await startJwt();
    const justExpired = await sign({ sub: 'alice', exp: nowSec() - 3 });
    const longExpired = await sign({ sub: 'alice', exp: nowSec() - 120 });
    expect((await attempt(strict.url, [V1, encodeTokenProtocol(justExpired)])).status).toBe(401);
    expect((await attempt(lenient.url, [V1, encodeTokenProtocol(justExpired)])).status).toBe(101);
    expect((await attempt(lenient.url, [V1, encodeTokenProtocol(longExpired)])).status).toBe(401);
  });

  it('throws TypeError for impossible options', async () => {
    const pem = await exportSPKI((await generateKeyPair('RS256', { extractable: true })).publicKey);
    expect(() => jwt({ secret: SECRET, algorithms: [] })).toThrow(TypeError);
    expect(() => jwt({ secret: SECRET } as JwtOptions)).toThrow(TypeError);
    expect(() => jwt({ secret: SECRET, algorithms: ['none'] })).toThrow(TypeError);
    expect(() => jwt({ secret: SECRET, algorithms: ['HS256', 'NONE'] })).toThrow(TypeError);
    expect(() => jwt({ secret: SECRET, jwks: { keys: [] }, algorithms: ['HS256'] })).toThrow(TypeError);
    expect(() => jwt({ algorithms: ['HS256'] })).toThrow(TypeError);
    expect(() => jwt({ secret: SECRET, algorithms: ['HS256'], from: [] })).toThrow(TypeError);
    // A key source verifies one algorithm family: a mixed list would turn crafted headers into 500s.
    expect(() => jwt({ secret: SECRET, algorithms: ['HS256', 'RS256'] })).toThrow(TypeError);
    expect(() => jwt({ publicKey: pem, algorithms: ['RS256', 'HS256'] })).toThrow(TypeError);
    expect(typeof jwt({ publicKey: pem, algorithms: ['RS256', 'PS256'] })).toBe('function');
    expect(() => jwt({ jwks: { keys: [] }, algorithms: ['HS256'] })).toThrow(TypeError);
    expect(typeof jwt({ secret: SECRET, algorithms: ['HS256'] })).toBe('function');
    // Each option is checked with its name; an explicit undefined keeps the default.
    expect(() => jwt({ secret: SECRET, algorithms: ['HS256'], cookieName: '' })).toThrow(/cookieName must be a non-empty string/);
    expect(() => jwt({ secret: SECRET, algorithms: ['HS256'], queryParam: 5 as never })).toThrow(/queryParam must be a non-empty string/);
    expect(() => jwt({ secret: SECRET, algorithms: ['HS256'], clockToleranceSec: -1 })).toThrow(/clockToleranceSec/);
    expect(() => jwt({ secret: SECRET, algorithms: ['HS256'], from: ['header' as never] })).toThrow(/from\[0\] must be one of/);
    const defaults = jwt({ secret: SECRET, algorithms: ['HS256'], from: undefined, cookieName: undefined, queryParam: undefined, clockToleranceSec: undefined });
    expect(defaults.transports).toEqual(['protocol']);
  });
});

describe('jwt() with public keys and key sets', () => {
  it.each(['RS256', 'ES256', 'EdDSA'])('%s with a PEM publicKey: accepts its own signature, refuses another key pair', async (alg) => {
    const mine = await generateKeyPair(alg, { extractable: true });
    const theirs = await generateKeyPair(alg, { extractable: true });
    const { url } = await start({ authenticate: jwt({ publicKey: await exportSPKI(mine.publicKey), algorithms: [alg] }) });
    const good = await sign({ sub: `${alg}-user` }, { alg, key: mine.privateKey });
    const forged = await sign({ sub: `${alg}-user` }, { alg, key: theirs.privateKey });
    expect((await attempt(url, [V1, encodeTokenProtocol(forged)])).status).toBe(401);
    // An HS256 token made with the public key's PEM as the secret (key confusion): refused.
    const pemAsSecret = await sign({ sub: 'mallory' }, { key: new TextEncoder().encode(await exportSPKI(mine.publicKey)) });
    expect((await attempt(url, [V1, encodeTokenProtocol(pemAsSecret)])).status).toBe(401);
    const p = await tokenPeer(url, good).ready();
    expect(await whoami(p, 1)).toEqual({ sub: `${alg}-user` });
  });

  it('accepts a CryptoKey as publicKey', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const { url } = await start({ authenticate: jwt({ publicKey, algorithms: ['ES256'] }) });
    expect((await attempt(url, [V1, encodeTokenProtocol(await sign({ sub: 'k' }, { alg: 'ES256', key: privateKey }))])).status).toBe(101);
  });

  it('verifies against a local JSON Web Key Set, choosing the key by kid', async () => {
    const a = await generateKeyPair('ES256', { extractable: true });
    const b = await generateKeyPair('ES256', { extractable: true });
    const stranger = await generateKeyPair('ES256', { extractable: true });
    const keys: JWK[] = [
      { ...(await exportJWK(a.publicKey)), kid: 'a', alg: 'ES256' },
      { ...(await exportJWK(b.publicKey)), kid: 'b', alg: 'ES256' },
    ];
    const { url } = await start({ authenticate: jwt({ jwks: { keys }, algorithms: ['ES256'] }) });
    const ok = async (key: CryptoKey, kid: string) => (await attempt(url, [V1, encodeTokenProtocol(await sign({ sub: kid }, { alg: 'ES256', key, kid }))])).status;
    expect(await ok(a.privateKey, 'a')).toBe(101);
    expect(await ok(b.privateKey, 'b')).toBe(101);
    expect(await ok(a.privateKey, 'b')).toBe(401); // right key set, wrong key for that kid
    expect(await ok(stranger.privateKey, 'c')).toBe(401); // unknown kid
  });

  it('fetches a remote JWKS (createRemoteJWKSet) from an HTTP server and caches it', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const jwks = await httpServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    });
    const { url } = await start({ authenticate: jwt({ jwks: jwks.url, algorithms: ['RS256'], audience: 'chat' }) });
    const token = await sign({ sub: 'remote', aud: 'chat' }, { alg: 'RS256', key: privateKey, kid: 'k1' });
    const p = await tokenPeer(url, token).ready();
    expect(await whoami(p, 1)).toEqual({ sub: 'remote', aud: 'chat' });
    expect((await attempt(url, [V1, encodeTokenProtocol(token)])).status).toBe(101);
    expect(jwks.hits()).toBe(1); // the key set was fetched once and cached
    const wrongAud = await sign({ sub: 'remote', aud: 'other' }, { alg: 'RS256', key: privateKey, kid: 'k1' });
    expect((await attempt(url, [V1, encodeTokenProtocol(wrongAud)])).status).toBe(401);
  });
});

describe('token transports', () => {
  it('protocol: the client default; a server without "protocol" in from ignores that entry', async () => {
    const token = await sign({ sub: 'proto' });
    const { url } = await startJwt();
    const c = client(url, { token });
    const { clientId } = await nextEvent(c, 'open');
    expect(await c.call('whoami')).toEqual({ identity: { sub: 'proto' }, clientId });
    const queryOnly = await startJwt({ from: ['query'] });
    expect((await attempt(queryOnly.url, [V1, encodeTokenProtocol(token)])).status).toBe(401);
  });

  it('query: the client with tokenIn "query", a raw ?token=, a custom queryParam; refused when not in from', async () => {
    const token = await sign({ sub: 'query' });
    const { url } = await startJwt({ from: ['query'] });
    const c = client(url, { token, tokenIn: 'query' });
    await nextEvent(c, 'open');
    expect(await c.call('whoami')).toMatchObject({ identity: { sub: 'query' } });
    const p = await scope.peer(`${url}?room=1&token=${encodeURIComponent(token)}`).ready();
    expect(await whoami(p, 1)).toEqual({ sub: 'query' });
    expect((await attempt(`${url}?token=${encodeURIComponent(await sign({ sub: 'x' }, { key: KEY.slice(1) }))}`)).status).toBe(401);

    const custom = await startJwt({ from: ['query'], queryParam: 'access_token' });
    expect((await attempt(`${custom.url}?token=${token}`)).status).toBe(401);
    expect((await attempt(`${custom.url}?access_token=${token}`)).status).toBe(101);
    const c2 = client(custom.url, { token, tokenIn: 'query', tokenQueryParam: 'access_token' });
    await nextEvent(c2, 'open');

    // A server that only takes the protocol entry does not look at the query string.
    const protocolOnly = await startJwt({ from: ['protocol'] });
    expect((await attempt(`${protocolOnly.url}?token=${token}`)).status).toBe(401);
  });

  it('cookie: the default sb_token and a custom cookieName; refused when not in from', async () => {
    const token = await sign({ sub: 'cookie' });
    const { url } = await startJwt({ from: ['cookie'] });
    const p = await scope.peer(url, [V1], { headers: { Cookie: `theme=dark; sb_token=${token}; other=1` } }).ready();
    expect(await whoami(p, 1)).toEqual({ sub: 'cookie' });
    expect((await attempt(url, [V1], { headers: { Cookie: `session=${token}` } })).status).toBe(401);

    const custom = await startJwt({ from: ['cookie'], cookieName: 'session' });
    expect((await attempt(custom.url, [V1], { headers: { Cookie: `sb_token=${token}` } })).status).toBe(401);
    const q = await scope.peer(custom.url, [V1], { headers: { Cookie: `session=${token}` } }).ready();
    expect(await whoami(q, 1)).toEqual({ sub: 'cookie' });

    const protocolOnly = await startJwt();
    expect((await attempt(protocolOnly.url, [V1], { headers: { Cookie: `sb_token=${token}` } })).status).toBe(401);
  });

  it('from order decides which transport is looked at first', async () => {
    const alice = await sign({ sub: 'alice' });
    const bob = await sign({ sub: 'bob' });
    const { url } = await startJwt({ from: ['cookie', 'protocol'] });
    const p = await scope.peer(url, [V1, encodeTokenProtocol(bob)], { headers: { Cookie: `sb_token=${alice}` } }).ready();
    expect(await whoami(p, 1)).toEqual({ sub: 'alice' });
  });

  it('message: the client with tokenIn "message" authenticates in its first frame', async () => {
    const auth = counted(jwt({ secret: SECRET, algorithms: ['HS256'], from: ['message'] }));
    const { url } = await start({ authenticate: auth });
    const token = await sign({ sub: 'first' });
    const c = client(url, { token, tokenIn: 'message' });
    const { clientId } = await nextEvent(c, 'open');
    expect(await c.call('whoami')).toEqual({ identity: { sub: 'first' }, clientId });
    expect(auth.verified).toEqual([token]);
  });
});

describe('first-message authentication (§1.3)', () => {
  const startFirst = (authTimeoutMs = 5_000) => startJwt({ from: ['protocol', 'message'] }, { authTimeoutMs });

  it('sends no welcome until the auth frame; then welcome, and calls work', async () => {
    let ran = 0;
    const { url } = await start(
      { authenticate: jwt({ secret: SECRET, algorithms: ['HS256'], from: ['protocol', 'message'] }) },
      (s) => s.command('count', () => ++ran),
    );
    const p = scope.peer(url);
    await within(once(p.ws, 'open'), 'upgrade');
    // A handshake token still works the usual way on the same server.
    const q = await tokenPeer(url, await sign({ sub: 'handshake' })).ready();
    expect(await whoami(q, 1)).toEqual({ sub: 'handshake' });
    expect(p.frames).toEqual([]);
    p.send({ t: 'auth', token: await sign({ sub: 'late' }) });
    const welcome = await p.next((f) => f.t === 'welcome', 'welcome after auth');
    expect(p.frames[0]).toBe(welcome);
    expect(await whoami(p, 1)).toEqual({ sub: 'late' });
    p.send({ t: 'call', id: 2, name: 'count' });
    expect(await p.answer(2)).toEqual({ t: 'ok', id: 2, output: 1 });
  });

  it('closes with 4408 when another frame comes first, without running it', async () => {
    let ran = 0;
    const { url } = await start(
      { authenticate: jwt({ secret: SECRET, algorithms: ['HS256'], from: ['message'] }) },
      (s) => s.command('count', () => ++ran),
    );
    const p = scope.peer(url);
    await within(once(p.ws, 'open'), 'upgrade');
    p.send({ t: 'call', id: 1, name: 'count' });
    p.send({ t: 'auth', token: await sign({ sub: 'too-late' }) });
    expect(await p.closed()).toBe(4408);
    expect(p.frames).toEqual([]);
    expect(ran).toBe(0);

    // A ping is "another frame" as well, and so is a refresh-style auth with an id.
    for (const first of [{ t: 'ping' }, { t: 'auth', id: 1, token: await sign({ sub: 'x' }) }]) {
      const r = scope.peer(url);
      await within(once(r.ws, 'open'), 'upgrade');
      r.send(first);
      expect(await r.closed()).toBe(4408);
      expect(r.frames).toEqual([]);
    }
  });

  it('closes with 4408 after authTimeoutMs when nothing arrives', async () => {
    const { url } = await startFirst(300);
    const p = scope.peer(url);
    await within(once(p.ws, 'open'), 'upgrade');
    const opened = Date.now();
    expect(await p.closed()).toBe(4408);
    expect(Date.now() - opened).toBeGreaterThanOrEqual(250);
    expect(p.frames).toEqual([]);
  });

  it('closes with 4501 for a refused token, and the reason does not contain it', async () => {
    const { url } = await startFirst();
    const token = await sign({ sub: 'alice' }, { key: new TextEncoder().encode('wrong secret, wrong secret!') });
    const p = scope.peer(url);
    await within(once(p.ws, 'open'), 'upgrade');
    p.send({ t: 'auth', token });
    expect(await p.closed()).toBe(4501);
    expect(p.frames).toEqual([]);
    expect(p.closeReason).not.toContain(token);
  });

  it('the client with a fixed bad token ends closed with UNAUTHORIZED after one attempt', async () => {
    const auth = counted(jwt({ secret: SECRET, algorithms: ['HS256'], from: ['message'] }));
    const { url } = await start({ authenticate: auth });
    const bad = await sign({ sub: 'alice', exp: nowSec() - 60 });
    const c = client(url, { token: bad, tokenIn: 'message', reconnect: fast });
    const close = await nextEvent(c, 'close');
    expect(close).toMatchObject({ code: 4501, willReconnect: false });
    expect(c.state).toBe('closed');
    expect(c.log).toEqual(['error:UNAUTHORIZED', 'close:4501:false']);
    expect(c.errors[0]!.message).not.toContain(bad);
    expect(auth.verified).toEqual([bad]);
    // It stopped by itself: later calls get what it stopped with, not CLOSED (kept for close()).
    await expect(c.call('whoami')).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('after 4501 the client retries only when the provider yields a different token', async () => {
    const auth = counted(jwt({ secret: SECRET, algorithms: ['HS256'], from: ['message'] }));
    const { url } = await start({ authenticate: auth });
    const bad = await sign({ sub: 'alice' }, { key: new TextEncoder().encode('not the secret at all!!') });
    const good = await sign({ sub: 'alice' });
    const queue = [bad, good];
    const c = client(url, { token: () => queue.shift() ?? good, tokenIn: 'message', reconnect: fast });
    await nextEvent(c, 'open');
    expect(c.log.slice(0, 4)).toEqual(['error:UNAUTHORIZED', 'close:4501:true', 'reconnecting:1', expect.stringMatching(/^open:/)]);
    expect(auth.verified).toEqual([bad, good]);

    // The same refused token again: one reconnect is scheduled, then the client stops without connecting.
    auth.verified.length = 0;
    const stuck = client(url, { token: () => bad, tokenIn: 'message', reconnect: fast });
    await until(() => stuck.state === 'closed', 'client gives up on a token that cannot change');
    expect(auth.verified).toEqual([bad]);
    expect(stuck.log).toEqual(['error:UNAUTHORIZED', 'close:4501:true', 'reconnecting:1', 'error:UNAUTHORIZED', 'close:1006:false']);
  });
});

describe('HTTP 403 with a token provider', () => {
  /** The ws client with an Origin header (as a browser would send), reporting the HTTP status like the Node entry. */
  function originSocket(origins: string[], made: string[]) {
    return class extends WebSocket {
      httpStatus: number | undefined;
      constructor(url: string | URL, protocols?: string | string[]) {
        const origin = origins[Math.min(made.length, origins.length - 1)]!;
        made.push(origin);
        super(url, protocols, { origin, perMessageDeflate: false });
        this.on('unexpected-response', (_req, res) => {
          this.httpStatus = res.statusCode;
          res.resume();
          this.terminate();
        });
      }
    } as unknown as NonNullable<ClientOptions['WebSocket']>;
  }

  it('is final when the provider yields the same token, and retried when it yields another', async () => {
    const { url } = await startJwt({}, { origins: ['https://app.test'] });
    const token = await sign({ sub: 'alice' });
    const made: string[] = [];
    const c = client(url, { token: () => token, reconnect: fast, WebSocket: originSocket(['https://evil.test'], made) });
    await until(() => c.state === 'closed', 'client stops after 403 with an unchanged token');
    expect(made).toEqual(['https://evil.test']);
    expect(c.log).toEqual(['error:FORBIDDEN', 'close:1006:true:403', 'reconnecting:1', 'error:FORBIDDEN', 'close:1006:false']);

    let n = 0;
    const made2: string[] = [];
    const c2 = client(url, {
      token: async () => sign({ sub: 'alice', jti: String(++n) }),
      reconnect: fast,
      WebSocket: originSocket(['https://evil.test', 'https://app.test'], made2),
    });
    await nextEvent(c2, 'open');
    expect(made2).toEqual(['https://evil.test', 'https://app.test']);
    expect(c2.log.slice(0, 2)).toEqual(['error:FORBIDDEN', 'close:1006:true:403']);
    expect(await c2.call('whoami')).toMatchObject({ identity: { sub: 'alice', jti: '2' } });
  });
});

describe('tokens stay secret', () => {
  it('a JWKS endpoint that is down: HTTP 500 on every transport, logged, no token in logs or bodies', async () => {
    const jwks = await httpServer((_req, res) => res.writeHead(500).end('key service broken'));
    const logger = recordingLogger();
    const { url } = await start({
      logger,
      authenticate: jwt({ jwks: jwks.url, algorithms: ['RS256'], from: ['protocol', 'query', 'cookie'] }),
    });
    const { privateKey } = await generateKeyPair('RS256');
    const token = await sign({ sub: 'alice' }, { alg: 'RS256', key: privateKey, kid: 'k1' });
    const outcomes = [
      await attempt(url, [V1, encodeTokenProtocol(token)]),
      await attempt(`${url}?token=${token}`),
      await attempt(url, [V1], { headers: { Cookie: `sb_token=${token}` } }),
    ];
    for (const o of outcomes) {
      expect(o.status).toBe(500);
      expect(o.body).toBe('Authentication failed\n');
    }
    expect(jwks.hits()).toBeGreaterThanOrEqual(1);
    const errors = logger.lines.filter((l) => l.level === 'error');
    expect(errors.map((l) => l.msg)).toEqual(['authenticate threw', 'authenticate threw', 'authenticate threw']);
    expect((errors[0]!.obj as { err?: Error }).err).toBeInstanceOf(Error);
    expectNoTokenIn(logger, token);
  });

  it('first-message authentication with the JWKS down: logged without the token, closed 1011 so the client retries', async () => {
    const jwks = await httpServer((_req, res) => res.writeHead(500).end());
    const logger = recordingLogger();
    const { url } = await start({ logger, authenticate: jwt({ jwks: jwks.url, algorithms: ['RS256'], from: ['message'] }) });
    const { privateKey } = await generateKeyPair('RS256');
    const token = await sign({ sub: 'alice' }, { alg: 'RS256', key: privateKey, kid: 'k1' });
    const p = scope.peer(url);
    await within(once(p.ws, 'open'), 'upgrade');
    p.send({ t: 'auth', token });
    // A server fault is not a refused token: 1011 (reconnect), not 4501 (final) — §1.2 answers 500 alike.
    expect(await p.closed()).toBe(1011);
    expect(p.closeReason).not.toContain(token);
    expect(logger.lines.filter((l) => l.level === 'error').map((l) => l.msg)).toEqual(['authenticate threw']);

    // A client with a fixed token keeps trying instead of giving up for good.
    const c = client(url, { token, tokenIn: 'message', reconnect: fast });
    await until(() => c.log.includes('reconnecting:2'), 'client retries after 1011');
    expect(c.log.slice(0, 3)).toEqual(['error:HANDSHAKE_FAILED', 'close:1011:true', 'reconnecting:1']);
    expect(c.state).not.toBe('closed');
    expectNoTokenIn(logger, token);
  });

  it('an authenticate that throws during a refresh: INTERNAL to the caller, logged without the token', async () => {
    const logger = recordingLogger();
    const boom = `boom-${SECRET}`;
    const { url } = await start({
      logger,
      authenticate: (_req, token) => {
        if (token === boom) throw new Error('user store unavailable');
        return token === 'alice-1' ? { sub: 'alice', exp: nowSec() + 600 } : null;
      },
    });
    const p = await tokenPeer(url, 'alice-1').ready();
    p.send({ t: 'auth', id: 1, token: boom });
    expect(await p.answer(1)).toEqual({ t: 'err', id: 1, code: 'INTERNAL', message: 'Internal server error' });
    const errors = logger.lines.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect((errors[0]!.obj as { err?: Error }).err?.message).toBe('user store unavailable');
    expectNoTokenIn(logger, boom);
    // The connection and its identity are unharmed.
    expect(await whoami(p, 2)).toMatchObject({ sub: 'alice' });
  });

  it('refusals carry no token in HTTP bodies, close reasons or client errors', async () => {
    const logger = recordingLogger();
    const { url } = await start({ logger, authenticate: jwt({ secret: SECRET, algorithms: ['HS256'], from: ['protocol', 'query', 'message'] }) });
    const token = await sign({ sub: 'alice', exp: nowSec() - 60 });
    const viaProtocol = await attempt(url, [V1, encodeTokenProtocol(token)]);
    const viaQuery = await attempt(`${url}?token=${token}`);
    expect([viaProtocol, viaQuery]).toEqual([{ status: 401, body: 'Unauthorized\n' }, { status: 401, body: 'Unauthorized\n' }]);
    for (const tokenIn of ['protocol', 'query', 'message'] as const) {
      const c = client(url, { token, tokenIn, reconnect: fast });
      await until(() => c.state === 'closed', `client with tokenIn ${tokenIn} gives up`);
      expect(c.log).toContain('error:UNAUTHORIZED');
      for (const e of c.errors) expect(inspect(e, { depth: 20 })).not.toContain(token);
    }
    expectNoTokenIn(logger, token);
  });

  it('a malformed URL with tokenIn "query": the client error does not quote the token', async () => {
    const token = await sign({ sub: 'alice' });
    const c = client('ws://bad host:1/ws', { token, tokenIn: 'query' });
    await until(() => c.state === 'closed', 'client stops on an invalid URL');
    expect(c.errors).toHaveLength(1);
    expect(c.errors[0]!.message).toMatch(/invalid url/i);
    expect(inspect(c.errors[0], { depth: 20 })).not.toContain(token);
  });
});

describe('token refresh (§1.4)', () => {
  it('a fresh token from the provider keeps the connection, its clientId and its subscriptions', async () => {
    const { url, server } = await startJwt({}, { refreshGraceMs: 500 });
    const first = await soonExpiring();
    const laterExp = nowSec() + 3_600;
    const later = await sign({ sub: 'alice', exp: laterExp });
    const handed: string[] = [];
    const c = client(url, { token: () => (handed.push(handed.length === 0 ? first.token : later), handed.at(-1)), reconnect: fast });
    const { clientId } = await nextEvent(c, 'open');
    const got: unknown[] = [];
    await within(c.subscribe('news', (d) => got.push(d)).ready, 'subscribed');
    expect(await c.call('whoami')).toMatchObject({ identity: { exp: first.exp } });

    await until(() => handed.length === 2, 'the server asks for a refresh at expiry', 3_000);
    // The answer to the auth frame races the next call; poll until the new identity shows.
    const identity = await eventually(
      async () => ((await c.call('whoami')) as { identity: Record<string, unknown> }).identity,
      (i) => i.exp === laterExp,
      'identity renewed',
    );
    expect(identity).toEqual({ sub: 'alice', exp: laterExp });
    // Past the old expiry plus the grace: the connection would have closed with 4401 by now.
    await new Promise((r) => setTimeout(r, Math.max(0, first.exp * 1000 + 500 + 150 - Date.now())));
    expect(c.state).toBe('open');
    expect(c.clientId).toBe(clientId);
    expect(c.log).toEqual([`open:${clientId}`]);
    await server.publish('news', 'after refresh');
    await until(() => got.length === 1, 'message after the refresh');
    expect(got).toEqual(['after refresh']);
    expect(handed).toHaveLength(2);
  });

  it('the same expiring token is refused (UNAUTHORIZED), 4401 after the grace, then a reconnect with the new token', async () => {
    const auth = counted(jwt({ secret: SECRET, algorithms: ['HS256'] }));
    const { url } = await start({ authenticate: auth, refreshGraceMs: 400 });
    const first = await soonExpiring();
    let current = first.token;
    let calls = 0;
    const c = client(url, { token: () => (calls++, current), reconnect: fast });
    const { clientId } = await nextEvent(c, 'open');
    const error = await nextEvent(c, 'error', 3_000);
    expect(error).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(auth.verified).toEqual([first.token]);
    expect(c.state).toBe('open'); // the grace is still running
    const laterExp = nowSec() + 3_600;
    current = await sign({ sub: 'alice', exp: laterExp });
    const close = await nextEvent(c, 'close', 3_000);
    expect(close).toMatchObject({ code: 4401, willReconnect: true });
    const reopened = await nextEvent(c, 'open');
    expect(reopened.clientId).not.toBe(clientId);
    expect(await c.call('whoami')).toEqual({ identity: { sub: 'alice', exp: laterExp }, clientId: reopened.clientId });
    expect(calls).toBe(3); // handshake, refresh, reconnect
  });

  it('on the wire: refresh with deadlineMs at expiry, then 4401 after the grace without an answer', async () => {
    const { url } = await startJwt({}, { refreshGraceMs: 300 });
    const { token, exp } = await soonExpiring();
    const p = await tokenPeer(url, token).ready();
    const refresh = await p.next((f) => f.t === 'refresh', 'refresh frame', 3_000);
    const asked = Date.now();
    expect(refresh).toEqual({ t: 'refresh', deadlineMs: 300 });
    expect(asked).toBeGreaterThanOrEqual(exp * 1000 - 5);
    expect(await p.closed()).toBe(4401);
    expect(Date.now() - asked).toBeGreaterThanOrEqual(250);
    expect(p.closeReason).not.toContain(token);
  });

  it('a proactive refresh before expiry renews in place; a shorter-lived, foreign or forged token is refused', async () => {
    const { url } = await startJwt();
    const exp1 = nowSec() + 600;
    const p = await tokenPeer(url, await sign({ sub: 'alice', exp: exp1, v: 1 })).ready();
    const welcome = p.frames[0]!;
    const exp2 = exp1 + 600;
    p.send({ t: 'auth', id: 1, token: await sign({ sub: 'alice', exp: exp2, v: 2 }) });
    expect(await p.answer(1)).toEqual({ t: 'ok', id: 1, output: { expiresAt: exp2 * 1000 } });
    expect(await whoami(p, 2)).toEqual({ sub: 'alice', exp: exp2, v: 2 });

    const refused = async (id: number, claims: JWTPayload, key?: Uint8Array) => {
      p.send({ t: 'auth', id, token: await sign(claims, key ? { key } : {}) });
      const a = await p.answer(id);
      expect(a).toMatchObject({ t: 'err', id, code: 'UNAUTHORIZED' });
      return a.message;
    };
    expect(await refused(3, { sub: 'alice', exp: exp2 })).toBe('Token is not renewed'); // not later-expiring
    expect(await refused(4, { sub: 'mallory', exp: exp2 + 600 })).toBe('Token is for another identity');
    expect(await refused(5, { sub: 'alice', exp: exp2 + 600 }, new TextEncoder().encode('forged forged forged!'))).toBe('Token refused: bad-signature');
    expect(await refused(6, { sub: 'alice', exp: nowSec() - 1 })).toBe('Token refused: expired');
    // After all those refusals the connection keeps the identity it had.
    expect(await whoami(p, 7)).toEqual({ sub: 'alice', exp: exp2, v: 2 });
    expect(p.frames.filter((f) => f.t === 'welcome')).toEqual([welcome]);
  });

  it('an auth frame without id after welcome closes the connection with 1002', async () => {
    const { url } = await startJwt({ from: ['protocol', 'message'] });
    const token = await sign({ sub: 'alice' });
    const p = await tokenPeer(url, token).ready();
    p.send({ t: 'auth', token });
    expect(await p.closed()).toBe(1002);
  });
});
