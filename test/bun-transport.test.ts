/**
 * The server on Bun's own WebSockets (docs/server.md, "Running on Bun"): a Bun child process runs
 * test/fixtures/bun-server.js on the built package; the Node client and raw `ws` peers talk to it.
 * Covers what is Bun-specific: the handshake and refusals written as Bun responses, native topic
 * publish beside per-connection sends, Bun's payload limit, backpressure and pings mapped onto the
 * server's own policies, TLS. The black-box suites on both runtimes are elsewhere.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SignJWT } from 'jose';
import { msgpack } from '../src/msgpack/index.js';
import { CloseCode } from '../src/protocol/close-codes.js';
import { createServer } from '../src/server/index.js';
import { createTestScope, handshakeStatus, until, within, type TestScope } from './helpers.js';
import { testCertificates } from './tls-fixtures.js';

const BUN = fileURLToPath(new URL('../node_modules/@oven/bun-linux-x64/bin/bun', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/bun-server.js', import.meta.url));
const DIST = fileURLToPath(new URL('../dist/server/index.js', import.meta.url));
const KiB = 1024;
const SECRET = 'bun-transport-test-secret-of-32-bytes+';

/** Why the Bun suite cannot run here, or `undefined` when it can. */
function bunMissing(): string | undefined {
  if (!existsSync(BUN)) return `no Bun binary at ${BUN} (devDependency @oven/bun-linux-x64 not installed for this platform)`;
  try {
    execFileSync(BUN, ['--version'], { stdio: 'pipe', timeout: 10_000 });
  } catch (err) {
    return `the Bun binary does not run: ${(err as Error).message.split('\n', 1)[0]}`;
  }
  if (!existsSync(DIST)) return 'dist/ is not built (npm run build)';
  return undefined;
}

const missing = bunMissing();
if (missing) console.log(`[bun-transport] skipped: ${missing}`);

interface BunServerConfig {
  options?: Record<string, unknown>;
  jwt?: { secret: string; from: ('protocol' | 'query' | 'cookie' | 'message')[] };
  tls?: { key: string; cert: string };
}

interface BunServer {
  port: number;
  pid: number;
  url: string;
  runtime: string | undefined;
}

/** Starts the fixture under Bun; the child is ended by PID after the test (SIGTERM, then SIGKILL). */
async function bunServer(scope: TestScope, config: BunServerConfig = {}, scheme = 'ws'): Promise<BunServer> {
  const child = spawn(BUN, [FIXTURE, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  scope.defer(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    process.kill(child.pid!, 'SIGTERM');
    try {
      await within(exited, 'the Bun server to exit', 3_000);
    } catch {
      process.kill(child.pid!, 'SIGKILL');
      await exited;
    }
  });
  const lines = createInterface({ input: child.stdout });
  const exit = once(child, 'exit').then(([code]) => {
    throw new Error(`the Bun server exited (${String(code)}) before listening: ${stderr}`);
  });
  const [line] = (await within(Promise.race([once(lines, 'line'), exit]), 'the Bun server to listen', 15_000)) as [string];
  const { port, pid, runtime } = JSON.parse(line) as { port: number; pid: number; runtime?: string };
  expect(pid).toBe(child.pid);
  return { port, pid, runtime, url: `${scheme}://127.0.0.1:${port}/ws` };
}

function token(sub: string): Promise<string> {
  return new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setExpirationTime('1h').sign(new TextEncoder().encode(SECRET));
}

const scope = createTestScope();

describe('under Node', () => {
  it("runtime: 'bun' is a TypeError naming the option; so is tls together with server", () => {
    expect(() => createServer({ runtime: 'bun' })).toThrow(TypeError);
    expect(() => createServer({ runtime: 'bun' })).toThrow(/runtime/);
    expect(() => createServer({ server: createHttpServer(), tls: { key: 'k', cert: 'c' } })).toThrow(/tls/);
    expect(() => createServer({ tls: { key: 'k' } as never })).toThrow(/tls\.cert/);
  });

  it('the tls option makes the server its own https server; a client trusting the test CA connects, another is refused', async () => {
    const { key, cert, ca } = testCertificates(scope);
    const { port, server } = await scope.server({ tls: { key: readFileSync(key, 'utf8'), cert: readFileSync(cert) } });
    expect(server.health().runtime).toBe('node');
    const url = `wss://127.0.0.1:${port}/ws`;
    const peer = await scope.peer(url, undefined, { ca }).ready();
    peer.send({ t: 'call', id: 1, name: 'nothing' });
    expect(await peer.answer(1)).toMatchObject({ t: 'err' });
    const untrusted = new WebSocket(url, ['switchboard.v1.json']);
    const [err] = (await within(once(untrusted, 'error'), 'the TLS failure')) as [Error & { code?: string }];
    expect(err.code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
  });
});

describe.skipIf(missing !== undefined)('the server on Bun.serve', () => {
  it('runs on the Bun transport by default under Bun, negotiates the codec, answers calls over both codecs', async () => {
    const { url, runtime } = await bunServer(scope);
    expect(runtime).toBe('bun');
    const msgpack = await scope.peer(url, ['switchboard.v1.msgpack']).ready();
    expect(msgpack.ws.protocol).toBe('switchboard.v1.msgpack');
    msgpack.send({ t: 'call', id: 1, name: 'add', input: { a: 2, b: 3 } });
    expect(await msgpack.answer(1)).toMatchObject({ t: 'ok', output: 5 });
    const json = await scope.peer(url, ['switchboard.v1.json']).ready();
    expect(json.ws.protocol).toBe('switchboard.v1.json');
    const client = scope.client(url);
    expect(await client.call('add', { a: 40, b: 2 })).toBe(42);
    // A codec the server does not offer is refused before the upgrade, as on Node.
    expect(await handshakeStatus(url, {}, ['switchboard.v1.cbor'])).toBe(400);
  });

  it('fans out to every subscriber of each codec (native publish), the publisher included unless echo: false', async () => {
    const { url } = await bunServer(scope);
    const a = scope.client(url);
    const b = scope.client(url, { codec: msgpack() });
    const c = scope.client(url);
    const got: Record<string, unknown[]> = { a: [], b: [], c: [] };
    await Promise.all(
      Object.entries({ a, b, c }).map(([name, cl]) => cl.subscribe('room:1', (d) => got[name]!.push(d)).ready),
    );
    await a.call('publish', { topic: 'room:1', data: { n: 1 } });
    await a.publish('room:1', { n: 2 });
    await a.publish('room:1', { n: 3 }, { echo: false });
    await c.publish('room:1', { n: 4 });
    await until(() => got.b!.length === 4 && got.c!.length === 4 && got.a!.length === 3, 'every delivery');
    expect(got.b).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    expect(got.c).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    expect(got.a).toEqual([{ n: 1 }, { n: 2 }, { n: 4 }]);
  });

  it('replays history to a new subscriber and then continues live, in order', async () => {
    const { url } = await bunServer(scope);
    const publisher = scope.client(url);
    for (let n = 1; n <= 5; n++) await publisher.publish('log:a', { n });
    const reader = scope.client(url);
    const seen: number[] = [];
    await reader.subscribe('log:a', (d: { n: number }) => seen.push(d.n), { history: 3 }).ready;
    await publisher.publish('log:a', { n: 6 });
    await until(() => seen.length === 4, 'the replay and the live message');
    expect(seen).toEqual([3, 4, 5, 6]);
  });

  it('drops volatile messages for a subscriber over sendBufferBytes without closing it; the others get all', async () => {
    const bound = 64 * KiB;
    const { url } = await bunServer(scope, { options: { limits: { sendBufferBytes: bound, slowConsumerGraceMs: 60_000 } } });
    const good = await scope.peer(url).ready();
    const stalled = await scope.peer(url).ready();
    for (const p of [good, stalled]) p.send({ t: 'sub', id: 1, topic: 'ticker:x' });
    await good.answer(1);
    await stalled.answer(1);
    const socket = (stalled.ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.pause();
    const control = scope.client(url);
    const { seq } = (await control.call('flood', { topic: 'ticker:x', bound })) as { seq: number };
    // Past the bound the server holds no more for the stalled peer: what it publishes is dropped.
    const more = 200;
    for (let i = 0; i < more; i++) await control.call('publish', { topic: 'ticker:x', data: { seq: seq + i } });
    const stats = (await control.call('stats')) as { bufferedBytes: number };
    expect(stats.bufferedBytes).toBeLessThan(4 * bound);
    const total = seq + more;
    await until(() => good.frames.filter((f) => f.t === 'msg').length === total, 'the good peer to get everything', 15_000);
    socket.resume();
    await until(() => stalled.frames.filter((f) => f.t === 'msg').length > 0, 'the stalled peer to read what it was sent');
    await control.call('publish', { topic: 'ticker:x', data: { seq: total } });
    await until(() => stalled.frames.some((f) => f.t === 'msg' && (f.data as { seq: number }).seq === total), 'the stalled peer to get the next message');
    const seqs = stalled.frames.filter((f) => f.t === 'msg').map((f) => (f.data as { seq: number }).seq);
    expect(seqs.length).toBeLessThan(total + 1);
    expect([...seqs].sort((x, y) => x - y)).toEqual(seqs);
    expect(stalled.closeCode).toBeUndefined();
  });

  it('closes a consumer that stays over sendBufferBytes for the grace period with 4001; the others get everything', async () => {
    const bound = 256 * KiB;
    const { url } = await bunServer(scope, { options: { limits: { sendBufferBytes: bound, slowConsumerGraceMs: 400 } } });
    const good = await scope.peer(url).ready();
    const stalled = await scope.peer(url).ready();
    for (const p of [good, stalled]) p.send({ t: 'sub', id: 1, topic: 'room:feed' });
    await good.answer(1);
    await stalled.answer(1);
    const socket = (stalled.ws as unknown as { _socket: import('node:net').Socket })._socket;
    socket.pause();
    const control = scope.client(url);
    const { seq, held } = (await control.call('flood', { topic: 'room:feed', bound })) as { seq: number; held: number };
    expect(held).toBeGreaterThan(bound);
    expect(held).toBeLessThan(4 * bound);
    await until(() => good.frames.filter((f) => f.t === 'msg').length === seq, 'the good peer to get everything', 15_000);
    let connections = 3;
    const poll = setInterval(() => void control.call('stats').then((s) => (connections = (s as { connections: number }).connections), () => {}), 50);
    scope.defer(() => clearInterval(poll));
    await until(() => connections === 2, 'the stalled peer to be dropped', 10_000);
    socket.resume();
    expect(await stalled.closed()).toBe(CloseCode.SLOW_CONSUMER);
    expect(good.closeCode).toBeUndefined();
  });

  it('refuses a browser origin not listed with 403, and admits a listed one', async () => {
    const { url } = await bunServer(scope, { options: { origins: ['https://app.example'] } });
    expect(await handshakeStatus(url, { headers: { Origin: 'https://evil.example' } })).toBe(403);
    expect(await handshakeStatus(url, { headers: { Origin: 'https://app.example' } })).toBe(101);
  });

  it('authenticates with jwt() from each of its four transports and refuses a missing or bad token', async () => {
    const { url } = await bunServer(scope, { jwt: { secret: SECRET, from: ['protocol', 'query', 'cookie', 'message'] } });
    const good = await token('ada');
    // protocol (the client's `token` option), query, cookie, first message.
    expect(await scope.client(url, { token: good }).call('whoami')).toMatchObject({ sub: 'ada' });
    expect(await handshakeStatus(`${url}?token=${good}`)).toBe(101);
    const byQuery = await scope.peer(`${url}?token=${good}`).ready();
    byQuery.send({ t: 'call', id: 1, name: 'whoami' });
    expect(await byQuery.answer(1)).toMatchObject({ output: { sub: 'ada' } });
    const byCookie = await scope.peer(url, undefined, { headers: { Cookie: `other=1; sb_token=${good}` } }).ready();
    byCookie.send({ t: 'call', id: 1, name: 'whoami' });
    expect(await byCookie.answer(1)).toMatchObject({ output: { sub: 'ada' } });
    const byMessage = scope.peer(url);
    await within(once(byMessage.ws, 'open'), 'open');
    byMessage.send({ t: 'auth', token: good });
    await byMessage.ready();
    byMessage.send({ t: 'call', id: 1, name: 'whoami' });
    expect(await byMessage.answer(1)).toMatchObject({ output: { sub: 'ada' } });
    // A bad token in the handshake is 401; a bad first message closes with UNAUTHORIZED.
    expect(await handshakeStatus(`${url}?token=not.a.jwt`)).toBe(401);
    const badMessage = scope.peer(url);
    await within(once(badMessage.ws, 'open'), 'open');
    badMessage.send({ t: 'auth', token: 'not.a.jwt' });
    expect(await badMessage.closed()).toBe(CloseCode.UNAUTHORIZED);
  });

  it('closes a message over limits.maxPayload with 1009, and refuses a connection over maxConnectionsPerIp with 429', async () => {
    const { url } = await bunServer(scope, { options: { limits: { maxPayload: 1024, maxConnectionsPerIp: 2 } } });
    const big = await scope.peer(url).ready();
    big.send({ t: 'call', id: 1, name: 'add', input: { a: 'x'.repeat(2048), b: 1 } });
    expect(await big.closed()).toBe(CloseCode.MESSAGE_TOO_BIG);
    await scope.peer(url).ready();
    await scope.peer(url).ready();
    expect(await handshakeStatus(url)).toBe(429);
  });

  it('terminates a peer that answers no ping within heartbeat interval + timeout', async () => {
    const { url } = await bunServer(scope, { options: { heartbeat: { intervalMs: 100, timeoutMs: 150 } } });
    const alive = await scope.peer(url).ready();
    const dead = scope.peer(url, undefined, { autoPong: false });
    await dead.ready();
    const t0 = performance.now();
    await dead.closed(3_000);
    // Silent for a tick, pinged on the next, terminated when the ping's timeout passes.
    expect(performance.now() - t0).toBeLessThan(3_000);
    expect(alive.closeCode).toBeUndefined();
  });

  it('serves wss:// with a certificate from a test CA that the client trusts', async () => {
    const { key, cert, ca } = testCertificates(scope);
    const { url } = await bunServer(scope, { tls: { key, cert } }, 'wss');
    const peer = await scope.peer(url, undefined, { ca }).ready();
    peer.send({ t: 'call', id: 1, name: 'add', input: { a: 1, b: 1 } });
    expect(await peer.answer(1)).toMatchObject({ output: 2 });
    // Without the CA the certificate is not trusted: the handshake fails before any HTTP answer.
    const untrusted = new WebSocket(url, ['switchboard.v1.json']);
    const [err] = (await within(once(untrusted, 'error'), 'the TLS failure')) as [Error & { code?: string }];
    expect(err.code).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
  });
});
