/**
 * Server diagnostics (docs/security.md "Refusal logs", docs/server.md "Diagnostics",
 * docs/protocol.md §1.2, §4): every refused handshake logged once with its reason and address and
 * never the token, rate-limited per address; the 401's `WWW-Authenticate`; FORBIDDEN's
 * `details.reason`; INVALID_INPUT's message; short HS secrets refused at construction; the debug
 * trace on at debug and absent otherwise.
 */
import { once } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import { SignJWT, type JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { z } from 'zod';
import { createEgressRelay } from '../src/bridge/node.js';
import { createRefusalLog } from '../src/net/refusal-log.js';
import { REFUSAL_CATEGORIES, refusalHeaders, unauthorized } from '../src/net/refusal.js';
import { encodeTokenProtocol } from '../src/protocol/subprotocol.js';
import { jwt, type JwtClaims, type JwtOptions, type Logger, type ServerOptions } from '../src/server/index.js';
import { createTrace } from '../src/server/trace.js';
import { createTestScope, recordingLogger, until, within } from './helpers.js';

const scope = createTestScope();
const V1 = 'switchboard.v1.json';
const SECRET = 'diagnostics-test-secret-0123456789abcdef';
const KEY = new TextEncoder().encode(SECRET);
const nowSec = () => Math.floor(Date.now() / 1000);

type Recording = ReturnType<typeof recordingLogger>;

/** A recording logger that says `debug` is enabled (or not), as pino's `isLevelEnabled` does. */
function levelLogger(debug: boolean): Recording & Required<Pick<Logger, 'isLevelEnabled'>> {
  return Object.assign(recordingLogger(), { isLevelEnabled: (level: string) => level !== 'debug' || debug });
}

function sign(claims: JWTPayload, o: { alg?: string; key?: Uint8Array } = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: o.alg ?? 'HS256' }).sign(o.key ?? KEY);
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * An upgrade attempt from `localAddress` (any 127.x.y.z is loopback on Linux, so each case can be
 * its own peer address): the refusal's status, headers and body, or 101.
 */
function attempt(url: string, o: { protocols?: string[]; headers?: Record<string, string>; from?: string } = {}): Promise<Answer> {
  return within(
    new Promise<Answer>((resolve) => {
      const ws = new WebSocket(url, o.protocols ?? [V1], { headers: o.headers, localAddress: o.from ?? '127.0.0.1' });
      scope.defer(() => ws.terminate());
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      ws.on('open', () => {
        resolve({ status: 101, headers: {}, body: '' });
        ws.close();
      });
      ws.on('error', () => {});
    }),
    'upgrade attempt',
  );
}

const refusedLines = (logger: Recording) => logger.lines.filter((l) => l.msg === 'handshake refused');

/** Asserts that `text` (a token, a secret) appears in no log line, however rendered. */
function expectAbsent(logger: Recording, text: string): void {
  expect(JSON.stringify(logger.lines)).not.toContain(text);
  expect(JSON.stringify(logger.lines)).not.toContain(encodeTokenProtocol(text).slice('switchboard.auth.'.length));
}

describe('refused handshakes are logged once, with their reason and address, never the token', () => {
  const jwtServer = (logger: Recording, o: Partial<JwtOptions> = {}, options: ServerOptions<JwtClaims> = {}) =>
    scope.server<JwtClaims>({
      logger,
      authenticate: jwt({ secret: SECRET, algorithms: ['HS256'], audience: 'chat', issuer: 'https://auth.test', ...o } as JwtOptions),
      ...options,
    });

  it('names each jwt() refusal in the log and in the 401 WWW-Authenticate header (RFC 6750 §3)', async () => {
    const logger = recordingLogger();
    const { url } = await jwtServer(logger);
    const good = { sub: 'alice', aud: 'chat', iss: 'https://auth.test' };
    const cases: [string, string | undefined][] = [
      ['no-token', undefined],
      ['malformed', 'not-a-jwt'],
      ['bad-signature', await sign(good, { key: new TextEncoder().encode(`${SECRET}-but-another-one`) })],
      ['expired', await sign({ ...good, exp: nowSec() - 60 })],
      ['not-yet-valid', await sign({ ...good, nbf: nowSec() + 3_600 })],
      ['wrong-audience', await sign({ ...good, aud: 'billing' })],
      ['wrong-issuer', await sign({ ...good, iss: 'https://evil.test' })],
      ['algorithm', await sign(good, { alg: 'HS384', key: new TextEncoder().encode(SECRET.repeat(2)) })],
    ];
    for (const [i, [category, token]] of cases.entries()) {
      const from = `127.0.1.${i + 1}`;
      const a = await attempt(url, { protocols: token === undefined ? [V1] : [V1, encodeTokenProtocol(token)], from });
      expect(a.status, category).toBe(401);
      // A missing token carries no `error` code (RFC 6750 §3.1), only the description.
      const challenge = category === 'no-token' ? 'Bearer error_description="no-token"' : `Bearer error="invalid_token", error_description="${category}"`;
      expect(a.headers['www-authenticate'], category).toBe(challenge);
      expect(a.body).toBe('Unauthorized\n');
    }
    const lines = refusedLines(logger);
    expect(lines.map((l) => l.level)).toEqual(cases.map(() => 'info'));
    expect(lines.map((l) => l.obj)).toEqual(
      cases.map(([category], i) => ({ endpoint: 'Server', category, status: 401, ip: expect.stringMatching(new RegExp(`127\\.0\\.1\\.${i + 1}$`)) })),
    );
    // Nothing else was logged, and no token in any form.
    expect(logger.lines).toHaveLength(cases.length);
    for (const [, token] of cases) if (token) expectAbsent(logger, token);
    // The same token in the query string and a cookie is refused and logged the same way.
    const { url: both } = await jwtServer(logger, { from: ['query', 'cookie'] });
    const expired = cases[3]![1]!;
    expect((await attempt(`${both}?token=${expired}`, { from: '127.0.2.1' })).headers['www-authenticate']).toContain('"expired"');
    expect((await attempt(both, { headers: { Cookie: `sb_token=${expired}` }, from: '127.0.2.2' })).headers['www-authenticate']).toContain('"expired"');
    expect(refusedLines(logger).slice(-2).map((l) => (l.obj as { category: string }).category)).toEqual(['expired', 'expired']);
    expectAbsent(logger, expired);
  });

  it('names every other refusal: refused, origin, path, limit, subprotocol, closing', async () => {
    const logger = recordingLogger();
    const { url, port, server } = await scope.server({
      logger,
      origins: ['https://app.test'],
      limits: { maxConnectionsPerIp: 1 },
      authenticate: (_req, token) => (token === 'letmein' ? { user: 'ann' } : null),
    });
    const ok = [V1, encodeTokenProtocol('letmein')];
    expect((await attempt(url, { protocols: [V1, encodeTokenProtocol('wrong-token')], from: '127.0.3.1' })).status).toBe(401);
    expect((await attempt(url, { protocols: ok, headers: { Origin: 'https://evil.test' }, from: '127.0.3.2' })).status).toBe(403);
    expect((await attempt(`ws://127.0.0.1:${port}/wrong`, { protocols: ok, from: '127.0.3.3' })).status).toBe(404);
    expect((await attempt(url, { protocols: ['switchboard.v9.json'], from: '127.0.3.4' })).status).toBe(400);
    // One connection from .5 is open: a second one is over limits.maxConnectionsPerIp.
    const held = new WebSocket(url, ok, { localAddress: '127.0.3.5' });
    scope.defer(() => held.terminate());
    await within(once(held, 'open'), 'the first connection from .5');
    const limited = await attempt(url, { protocols: ok, from: '127.0.3.5' });
    expect([limited.status, limited.headers['retry-after']]).toEqual([429, '1']);
    const closing = server.close();
    const shut = await attempt(url, { protocols: ok, from: '127.0.3.6' });
    await closing;
    expect([shut.status, shut.headers['retry-after']]).toEqual([503, '1']);

    expect(refusedLines(logger).map((l) => l.obj)).toEqual([
      { endpoint: 'Server', category: 'refused', status: 401, ip: expect.stringMatching(/127\.0\.3\.1$/) },
      { endpoint: 'Server', category: 'origin', status: 403, ip: expect.stringMatching(/127\.0\.3\.2$/) },
      { endpoint: 'Server', category: 'path', status: 404, ip: expect.stringMatching(/127\.0\.3\.3$/) },
      { endpoint: 'Server', category: 'subprotocol', status: 400, ip: expect.stringMatching(/127\.0\.3\.4$/) },
      { endpoint: 'Server', category: 'limit', status: 429, ip: expect.stringMatching(/127\.0\.3\.5$/) },
      { endpoint: 'Server', category: 'closing', status: 503, ip: expect.stringMatching(/127\.0\.3\.6$/) },
    ]);
    expectAbsent(logger, 'wrong-token');
    expectAbsent(logger, 'letmein');
  });

  it("an application's own refusal gets a Bearer challenge that only says `refused`", async () => {
    const { url } = await scope.server({ authenticate: () => null });
    const a = await attempt(url, { protocols: [V1, encodeTokenProtocol('whatever')] });
    expect([a.status, a.headers['www-authenticate']]).toEqual([401, 'Bearer error_description="refused"']);
  });

  it('a flood of 200 refused attempts from one address writes one line and does not silence another address', async () => {
    const logger = recordingLogger();
    const { url } = await jwtServer(logger);
    const expired = await sign({ sub: 'alice', aud: 'chat', iss: 'https://auth.test', exp: nowSec() - 60 });
    const protocols = [V1, encodeTokenProtocol(expired)];
    // 200 real refused handshakes, 20 at a time (bounded; loopback only).
    const t0 = performance.now();
    for (let batch = 0; batch < 10; batch++) {
      const statuses = await Promise.all(Array.from({ length: 20 }, () => attempt(url, { protocols, from: '127.0.4.1' }).then((a) => a.status)));
      expect(statuses).toEqual(Array(20).fill(401));
    }
    const windows = 1 + Math.floor((performance.now() - t0) / 10_000); // one on an idle machine
    // Another address is not silenced by the flood.
    await attempt(url, { protocols, from: '127.0.4.2' });
    const flood = refusedLines(logger).filter((l) => /127\.0\.4\.1$/.test((l.obj as { ip: string }).ip));
    expect(flood.length).toBeGreaterThanOrEqual(1);
    expect(flood.length).toBeLessThanOrEqual(windows);
    expect(flood[0]!.obj).toEqual({ endpoint: 'Server', category: 'expired', status: 401, ip: expect.stringMatching(/127\.0\.4\.1$/) });
    expect(refusedLines(logger).at(-1)!.obj).toEqual({ endpoint: 'Server', category: 'expired', status: 401, ip: expect.stringMatching(/127\.0\.4\.2$/) });
    expectAbsent(logger, expired);
  });

  it('the egress relay logs its refusals the same way', async () => {
    const logger = recordingLogger();
    const relay = scope.track(createEgressRelay({ allow: ['ws://127.0.0.1:1/'], origins: ['https://app.test'], logger, host: '127.0.0.1', authenticate: () => null }));
    const { port } = await relay.listen();
    const url = `ws://127.0.0.1:${port}/bridge/egress`;
    expect((await attempt(url, { protocols: ['nope'], headers: { Origin: 'https://evil.test' }, from: '127.0.5.1' })).status).toBe(403);
    const refused = await attempt(url, { protocols: ['switchboard.egress.v1', encodeTokenProtocol('relay-token')], from: '127.0.5.2' });
    expect([refused.status, refused.headers['www-authenticate']]).toEqual([401, 'Bearer error_description="refused"']);
    expect(refusedLines(logger).map((l) => l.obj)).toEqual([
      { endpoint: 'Relay', category: 'origin', status: 403, ip: expect.stringMatching(/127\.0\.5\.1$/) },
      { endpoint: 'Relay', category: 'refused', status: 401, ip: expect.stringMatching(/127\.0\.5\.2$/) },
    ]);
    expectAbsent(logger, 'relay-token');
  });
});

describe('the refusal log (pure)', () => {
  const at = (t: { now: number }) => () => t.now;

  it('one line per address per window; the next line says how many were left out', () => {
    const logger = recordingLogger();
    const clock = { now: 0 };
    const log = createRefusalLog(logger, { windowMs: 10_000, now: at(clock) });
    const r = (address: string) => log.record({ category: 'expired', status: 401, address, endpoint: 'Server' });
    for (let i = 0; i < 200; i++) r('10.0.0.1');
    r('10.0.0.2');
    expect(logger.lines.map((l) => l.obj)).toEqual([
      { endpoint: 'Server', category: 'expired', status: 401, ip: '10.0.0.1' },
      { endpoint: 'Server', category: 'expired', status: 401, ip: '10.0.0.2' },
    ]);
    clock.now = 10_000;
    r('10.0.0.1');
    expect(logger.lines[2]!.obj).toEqual({ endpoint: 'Server', category: 'expired', status: 401, ip: '10.0.0.1', suppressed: 199 });
    // IPv4-mapped IPv6 is the same host; one IPv6 /64 is one key, as limits.maxConnectionsPerIp counts.
    r('::ffff:10.0.0.1');
    r('2001:db8::1');
    r('2001:db8::2');
    expect(logger.lines).toHaveLength(4);
  });

  it('past maxAddresses in one window, the other addresses share one summary line per window', () => {
    const logger = recordingLogger();
    const clock = { now: 0 };
    const log = createRefusalLog(logger, { windowMs: 1_000, maxAddresses: 3, now: at(clock) });
    for (let i = 0; i < 1_000; i++) log.record({ category: 'limit', status: 429, address: `10.1.${i >> 8}.${i & 255}`, endpoint: 'Server' });
    expect(logger.lines.map((l) => l.obj)).toEqual([
      { endpoint: 'Server', category: 'limit', status: 429, ip: '10.1.0.0' },
      { endpoint: 'Server', category: 'limit', status: 429, ip: '10.1.0.1' },
      { endpoint: 'Server', category: 'limit', status: 429, ip: '10.1.0.2' },
      { endpoint: 'Server', category: 'limit', status: 429, ip: '10.1.0.3', suppressed: 0, addresses: 'many' },
    ]);
    // The window over, old addresses are forgotten and new ones get their own lines again.
    clock.now = 1_000;
    log.record({ category: 'limit', status: 429, address: '10.2.0.1', endpoint: 'Server' });
    expect(logger.lines[4]!.obj).toEqual({ endpoint: 'Server', category: 'limit', status: 429, ip: '10.2.0.1' });
  });

  it('headers: WWW-Authenticate on 401, Retry-After on limits and shutdown, nothing else', () => {
    expect(refusalHeaders(unauthorized('wrong-audience'))).toEqual({ 'WWW-Authenticate': 'Bearer error="invalid_token", error_description="wrong-audience"' });
    expect(refusalHeaders(unauthorized('no-token'))).toEqual({ 'WWW-Authenticate': 'Bearer error_description="no-token"' });
    expect(refusalHeaders({ category: 'limit', status: 503, message: 'full' })).toEqual({ 'Retry-After': '1' });
    expect(refusalHeaders({ category: 'origin', status: 403, message: 'no' })).toEqual({});
    // Every category is kebab-case, so it can stand in a quoted-string unescaped.
    for (const c of REFUSAL_CATEGORIES) expect(c).toMatch(/^[a-z]+(-[a-z]+)*$/);
  });
});

describe('first-message and refresh refusals say why', () => {
  it('a refused first-message token closes 4501 with the reason; a refused refresh carries details.reason', async () => {
    const { url } = await scope.server<JwtClaims>(
      { authenticate: jwt({ secret: SECRET, algorithms: ['HS256'], from: ['protocol', 'message'] }) },
      (s) => s.command('noop', () => null),
    );
    const p = scope.peer(url);
    await within(once(p.ws, 'open'), 'upgrade');
    p.send({ t: 'auth', token: await sign({ sub: 'alice', exp: nowSec() - 60 }) });
    expect(await p.closed()).toBe(4501);
    expect(p.closeReason).toBe('token refused: expired');

    const live = await scope.peer(url, [V1, encodeTokenProtocol(await sign({ sub: 'alice', exp: nowSec() + 600 }))]).ready();
    live.send({ t: 'auth', id: 1, token: await sign({ sub: 'alice', exp: nowSec() + 1_200, nbf: nowSec() + 600 }) });
    expect(await live.answer(1)).toEqual({ t: 'err', id: 1, code: 'UNAUTHORIZED', message: 'Token refused: not-yet-valid', details: { reason: 'not-yet-valid' } });
  });
});

describe('FORBIDDEN says which rule refused', () => {
  it('details.reason is no-rule without a matching rule, denied when the rule refuses, for subscribe and publish', async () => {
    const { url } = await scope.server({}, (s) =>
      s
        .topic('closed:*', {})
        .topic('vip:*', { subscribe: (ctx) => ctx.clientId === 'nobody', publish: () => false })
        .topic('open:*', { subscribe: true, publish: true }),
    );
    const p = await scope.peer(url).ready();
    const cases: [Record<string, unknown>, string, string][] = [
      [{ t: 'sub', topic: 'chat:random' }, 'no-rule', 'Not allowed on topic "chat:random": no topic rule matches it'],
      [{ t: 'pub', topic: 'chat:random', data: 1 }, 'no-rule', 'Not allowed on topic "chat:random": no topic rule matches it'],
      [{ t: 'sub', topic: 'closed:1' }, 'denied', 'Not allowed on topic "closed:1": its topic rule refused'],
      [{ t: 'pub', topic: 'closed:1', data: 1 }, 'denied', 'Not allowed on topic "closed:1": its topic rule refused'],
      [{ t: 'sub', topic: 'vip:1' }, 'denied', 'Not allowed on topic "vip:1": its topic rule refused'],
      [{ t: 'pub', topic: 'vip:1', data: 1 }, 'denied', 'Not allowed on topic "vip:1": its topic rule refused'],
    ];
    for (const [i, [frame, reason, message]] of cases.entries()) {
      p.send({ ...frame, id: i + 1 });
      expect(await p.answer(i + 1)).toEqual({ t: 'err', id: i + 1, code: 'FORBIDDEN', message, details: { reason } });
    }
    p.send({ t: 'sub', id: 99, topic: 'open:1' });
    expect(await p.answer(99)).toMatchObject({ t: 'ok' });
  });

  it('reaches a client as err.details.reason', async () => {
    const { url } = await scope.server({}, (s) => s.topic('room:*', { subscribe: () => false }));
    const c = scope.client(url);
    await expect(c.subscribe('chat:random', () => {}).ready).rejects.toMatchObject({ code: 'FORBIDDEN', details: { reason: 'no-rule' } });
    await expect(c.subscribe('room:1', () => {}).ready).rejects.toMatchObject({ code: 'FORBIDDEN', details: { reason: 'denied' } });
  });
});

describe('INVALID_INPUT names its first issue', () => {
  it('Invalid input: <path joined with dots>: <validator message>; details.issues unchanged', async () => {
    const order = z.object({ items: z.array(z.object({ price: z.number() })) });
    const { url } = await scope.server({}, (s) => s.command('order', { input: order }, () => 'ok').topic('t:*', { subscribe: true, publish: true, schema: z.string() }));
    const p = await scope.peer(url).ready();
    p.send({ t: 'call', id: 1, name: 'order', input: { items: [{ price: 1 }, { price: 2 }, { price: 'x' }, { price: 'y' }] } });
    const a = await p.answer(1);
    expect(a).toMatchObject({ t: 'err', code: 'INVALID_INPUT', message: 'Invalid input: items.2.price: Invalid input: expected number, received string' });
    expect((a.details as { issues: unknown[] }).issues).toEqual([
      { message: 'Invalid input: expected number, received string', path: ['items', 2, 'price'] },
      { message: 'Invalid input: expected number, received string', path: ['items', 3, 'price'] },
    ]);
    // An issue about the whole value has no path to name.
    p.send({ t: 'pub', id: 2, topic: 't:1', data: 5 });
    expect(await p.answer(2)).toMatchObject({ code: 'INVALID_INPUT', message: 'Invalid message: Invalid input: expected string, received number' });
  });

  it("a validator's very long message is cut in the error message, whole in details", async () => {
    const long = 'x'.repeat(1_000);
    const schema = { '~standard': { version: 1, vendor: 'test', validate: () => ({ issues: [{ message: long, path: ['a'] }] }) } } as const;
    const { url } = await scope.server({}, (s) => s.command('c', { input: schema }, () => 'ok'));
    const p = await scope.peer(url).ready();
    p.send({ t: 'call', id: 1, name: 'c', input: {} });
    const a = await p.answer(1);
    expect(a.message).toBe(`Invalid input: a: ${'x'.repeat(200)}…`);
    expect(a.details).toEqual({ issues: [{ message: long, path: ['a'] }] });
  });
});

describe('jwt() refuses a secret shorter than its hash (RFC 7518 §3.2)', () => {
  it.each([
    ['HS256', 32],
    ['HS384', 48],
    ['HS512', 64],
  ])('%s needs %i bytes, as a string or as bytes', (alg, min) => {
    for (const secret of ['s'.repeat(min - 1), new Uint8Array(min - 1)]) {
      expect(() => jwt({ secret, algorithms: [alg] })).toThrow(TypeError);
      expect(() => jwt({ secret, algorithms: [alg] })).toThrow(`jwt: \`secret\` is ${min - 1} bytes; ${alg} needs at least ${min} (RFC 7518 §3.2). Generate one with \`openssl rand -base64 ${min}\``);
    }
    expect(typeof jwt({ secret: 's'.repeat(min), algorithms: [alg] })).toBe('function');
    expect(typeof jwt({ secret: new Uint8Array(min), algorithms: [alg] })).toBe('function');
  });

  it('counts UTF-8 bytes, and the strongest algorithm listed decides', () => {
    expect(() => jwt({ secret: 'é'.repeat(16), algorithms: ['HS256'] })).not.toThrow(); // 32 bytes, 16 characters
    expect(() => jwt({ secret: 'é'.repeat(15), algorithms: ['HS256'] })).toThrow(/is 30 bytes/);
    expect(() => jwt({ secret: 's'.repeat(48), algorithms: ['HS256', 'HS512'] })).toThrow(/HS512 needs at least 64/);
    expect(() => jwt({ secret: 's'.repeat(64), algorithms: ['HS512', 'HS256'] })).not.toThrow();
    expect(() => jwt({ secret: 42 as never, algorithms: ['HS256'] })).toThrow(/string or a Uint8Array/);
  });
});

describe('the debug trace', () => {
  async function traced(logger: Logger) {
    const { url } = await scope.server({ logger }, (s) => s.topic('room:*', { subscribe: true }).topic('vip:*', { subscribe: () => false }));
    const c = scope.client(url);
    await within(c.subscribe('room:1', () => {}).ready, 'subscribed');
    await expect(c.subscribe('vip:1', () => {}).ready).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(c.subscribe('none:1', () => {}).ready).rejects.toMatchObject({ code: 'FORBIDDEN' });
    return c;
  }

  it('at debug: connections opened (clientId, member, codec) and subscription outcomes, no payloads', async () => {
    const logger = levelLogger(true);
    const c = await traced(logger);
    await until(() => logger.lines.filter((l) => l.msg === 'subscription').length === 3, 'three subscription lines');
    const debug = logger.lines.filter((l) => l.level === 'debug');
    expect(debug.find((l) => l.msg === 'connection opened')?.obj).toEqual({ clientId: c.clientId, member: c.clientId, codec: 'json' });
    expect(debug.filter((l) => l.msg === 'subscription').map((l) => l.obj)).toEqual([
      { clientId: c.clientId, topic: 'room:1', outcome: 'subscribed' },
      { clientId: c.clientId, topic: 'vip:1', outcome: 'denied' },
      { clientId: c.clientId, topic: 'none:1', outcome: 'no-rule' },
    ]);
  });

  it('at debug: frames in and out of a live connection (kind and bytes, no payload) and its close', async () => {
    const logger = levelLogger(true);
    const { url } = await scope.server({ logger }, (s) => s.command('echo', (x: unknown) => x));
    const c = scope.client(url);
    expect(await c.call('echo', { secret: 'payload-text' })).toEqual({ secret: 'payload-text' });
    const id = c.clientId;
    c.close();
    await until(() => logger.lines.some((l) => l.msg === 'connection closed'), 'the close traced');
    const frames = logger.lines.filter((l) => l.msg === 'frame').map((l) => l.obj as { clientId: string; direction: string; kind: string; bytes: number });
    expect(frames.find((f) => f.direction === 'in' && f.kind === 'call')).toMatchObject({ clientId: id, bytes: expect.any(Number) });
    expect(frames.find((f) => f.direction === 'out' && f.kind === 'ok')).toMatchObject({ clientId: id });
    expect(frames.find((f) => f.direction === 'out' && f.kind === 'welcome')).toBeDefined();
    expect(logger.lines.find((l) => l.msg === 'connection closed')?.obj).toMatchObject({ clientId: id, code: 1000 });
    expect(JSON.stringify(logger.lines)).not.toContain('payload-text');
  });

  it('at debug: publication outcomes and validation failures (issue count and first path, never the value)', async () => {
    const logger = levelLogger(true);
    const { url } = await scope.server({ logger }, (s) =>
      s
        .topic('room:*', { subscribe: true, publish: true, schema: z.object({ text: z.string() }) })
        .topic('vip:*', { subscribe: true, publish: () => false })
        .command('add', { input: z.object({ a: z.number() }) }, ({ a }) => a + 1),
    );
    const c = scope.client(url);
    await c.publish('room:1', { text: 'hi' });
    await expect(c.publish('room:1', { text: 42, secret: 'value-text' } as never)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(c.publish('vip:1', { text: 'x' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(c.publish('none:1', 1)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(c.call('add', { a: 'value-text' } as never)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await until(() => logger.lines.filter((l) => l.msg === 'publication').length === 4, 'four publication lines');
    const id = c.clientId;
    expect(logger.lines.filter((l) => l.msg === 'publication').map((l) => l.obj)).toEqual([
      { clientId: id, topic: 'room:1', outcome: 'published' },
      { clientId: id, topic: 'room:1', outcome: 'invalid' },
      { clientId: id, topic: 'vip:1', outcome: 'denied' },
      { clientId: id, topic: 'none:1', outcome: 'no-rule' },
    ]);
    expect(logger.lines.filter((l) => l.msg === 'validation failed').map((l) => l.obj)).toEqual([
      { clientId: id, what: 'message', name: 'room:1', issues: 1, path: 'text' },
      { clientId: id, what: 'input', name: 'add', issues: 1, path: 'a' },
    ]);
    expect(logger.lines.every((l) => l.level === 'debug' || l.level === 'info')).toBe(true);
    expect(JSON.stringify(logger.lines)).not.toContain('value-text');
  });

  it('absent at info, and with a logger that does not say its level', async () => {
    for (const logger of [levelLogger(false), recordingLogger()]) {
      await traced(logger);
      expect(logger.lines.filter((l) => l.level === 'debug')).toEqual([]);
    }
    expect(createTrace(levelLogger(false))).toBeUndefined();
    expect(createTrace(recordingLogger())).toBeUndefined();
  });

  it('the frame and close events the transport reports: kind and size, never the payload', () => {
    const logger = levelLogger(true);
    const trace = createTrace(logger)!;
    trace.frame('c1', 'in', 'pub', 42);
    trace.closed('c1', 4501, 'token refused: expired');
    expect(logger.lines).toEqual([
      { level: 'debug', obj: { clientId: 'c1', direction: 'in', kind: 'pub', bytes: 42 }, msg: 'frame' },
      { level: 'debug', obj: { clientId: 'c1', code: 4501, reason: 'token refused: expired' }, msg: 'connection closed' },
    ]);
  });
});
