/**
 * The SSE fallback's endpoints byte for byte (docs/protocol.md §8), with raw `fetch`es: the stream's
 * headers and first events; the refusals it shares with the WebSocket upgrade; and bad input — a
 * malformed POST, an unknown session, an oversize body, messages the core refuses, out-of-order
 * and repeated POSTs, a flood, a reader that stops reading, a peer that never answers a ping —
 * each with its documented answer, and none disturbing another connection.
 */
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createEventParser, type ParsedEvent } from '../src/protocol/sse.js';
import { createServer, type Server, type ServerOptions } from '../src/server/index.js';
import { createMemoryEngine } from '../src/engines/memory.js';
import type { Engine } from '../src/engines/engine.js';
import { encodeTokenProtocol } from '../src/protocol/subprotocol.js';
import { createTestScope, recordingLogger, until, within } from './helpers.js';

const scope = createTestScope();

/** A raw fallback session: its stream's events as they arrive, and POSTs. */
interface RawSession {
  status: number;
  headers: Headers;
  text: string;
  session: string;
  events: ParsedEvent[];
  frames(): Record<string, unknown>[];
  ended: () => boolean;
  /** Everything the stream carried, comments included. */
  raw: () => string;
  post(seq: number | string, body: string | Uint8Array, session?: string): Promise<Response>;
  stop(): void;
}

/** Opens a session; with `stall`, stops reading its stream once the session event is in. */
async function open(base: string, headers: Record<string, string> = {}, stall = false): Promise<RawSession> {
  const abort = new AbortController();
  scope.defer(() => abort.abort());
  const res = await fetch(base, { headers, signal: abort.signal });
  const events: ParsedEvent[] = [];
  let done = false;
  let raw = '';
  const s: RawSession = {
    raw: () => raw,
    status: res.status,
    headers: res.headers,
    text: '',
    session: '',
    events,
    frames: () => events.filter((e) => e.event === 'message').map((e) => JSON.parse(e.data) as Record<string, unknown>),
    ended: () => done,
    post: (seq, body, session = s.session) => fetch(`${base}?session=${encodeURIComponent(session)}&seq=${seq}`, { method: 'POST', body: body as BodyInit }),
    stop: () => abort.abort(),
  };
  if (!res.ok) {
    s.text = await res.text();
    return s;
  }
  const parse = createEventParser((e) => events.push(e));
  void (async () => {
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { done: d, value } = await reader.read();
        if (d) break;
        raw += value;
        parse(value);
        if (stall && events.some((e) => e.event === 'session')) return;
      }
    } catch {
      // aborted
    }
    done = true;
  })();
  await until(() => events.some((e) => e.event === 'session'), 'session event');
  s.session = (JSON.parse(events.find((e) => e.event === 'session')!.data) as { session: string }).session;
  return s;
}

const closeOf = (s: RawSession) => s.events.find((e) => e.event === 'close') && (JSON.parse(s.events.find((e) => e.event === 'close')!.data) as { code: number; reason: string });

async function start(options: ServerOptions = {}, setup?: (s: Server) => void) {
  const started = await scope.server({ sse: true, ...options }, (s) => {
    s.command('add', ({ a, b }: { a: number; b: number }) => a + b);
    s.topic('t:*', { subscribe: true, publish: true });
    setup?.(s);
  });
  return { ...started, base: `http://127.0.0.1:${started.port}/ws/sse` };
}

const call = (id: number, a = 1, b = 2) => JSON.stringify({ t: 'call', id, name: 'add', input: { a, b } });

describe('the sse option', () => {
  it('is off by default (426 at <path>/sse), and impossible settings are a TypeError naming the option', async () => {
    const { port } = await scope.server();
    expect((await fetch(`http://127.0.0.1:${port}/ws/sse`)).status).toBe(426);
    expect(() => createServer({ sse: { keepaliveMs: 0 } })).toThrow(/sse\.keepaliveMs/);
    expect(() => createServer({ sse: { maxBodyBytes: 1.5 } })).toThrow(/sse\.maxBodyBytes/);
    expect(() => createServer({ sse: 'yes' as never })).toThrow(/sse must be/);
  });
});

describe('settings the fallback cannot work with', () => {
  it('an engine node id that cannot start a session id, and a keep-alive not under the handshake timeout, are TypeErrors saying why', () => {
    const engine = (nodeId: string): Engine => ({ ...createMemoryEngine(), nodeId });
    expect(() => createServer({ sse: true, engine: engine('node 1/a') })).toThrow(TypeError);
    expect(() => createServer({ sse: true, engine: engine('node.1') })).toThrow(/engine\.nodeId "node\.1".*\[A-Za-z0-9_-\]\{1,64\}/);
    expect(() => createServer({ sse: true, engine: engine('x'.repeat(65)) })).toThrow(/engine\.nodeId/);
    // Without the fallback the node id is not part of a session id: no error.
    expect(() => createServer({ engine: engine('node.1') }).close()).not.toThrow();
    expect(() => createServer({ sse: { keepaliveMs: 5_000 }, limits: { handshakeTimeoutMs: 5_000 } })).toThrow(TypeError);
    expect(() => createServer({ sse: { keepaliveMs: 20_000 } })).toThrow(/sse\.keepaliveMs \(20000\).*limits\.handshakeTimeoutMs \(10000\)/);
  });
});

describe('opening a session (§8.1)', () => {
  it('an event stream with proxy buffering off; session first, then welcome; the session id names the node', async () => {
    const { base } = await start();
    const s = await open(base, { 'switchboard-protocol': 'switchboard.v1.json' });
    expect(s.status).toBe(200);
    expect(s.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(s.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(s.headers.get('x-accel-buffering')).toBe('no');
    const session = JSON.parse(s.events[0]!.data) as { session: string; protocol: string; maxBody: number };
    expect(s.events[0]!.event).toBe('session');
    expect(session).toEqual({ session: expect.stringMatching(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{24}$/), protocol: 'switchboard.v1.json', maxBody: 2 * 1_048_576 + 1_024 });
    await until(() => s.frames().length === 1, 'welcome');
    expect(s.frames()[0]).toMatchObject({ t: 'welcome', v: 1 });
  });

  it('refusals as for a WebSocket: origin 403, no codec 400, refused token 401 with its challenge; the token is never logged', async () => {
    const logger = recordingLogger();
    const { base } = await start({ origins: ['https://app.example'], logger, authenticate: (_req, token) => (token === 'good' ? { id: 'u' } : null) });
    expect((await open(base, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await open(base, { 'switchboard-protocol': 'switchboard.v2.json' })).status).toBe(400);
    const refused = await open(base, { 'switchboard-protocol': `switchboard.v1.json, ${encodeTokenProtocol('secret-bad')}` });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('error_description="refused"');
    const ok = await open(base, { origin: 'https://app.example', 'switchboard-protocol': `switchboard.v1.json, ${encodeTokenProtocol('good')}` });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(JSON.stringify(logger.lines)).not.toContain('secret-bad');
    // Refused like an upgrade, and logged through the refusal log (rate-limited per address:
    // the first one here) with its category (docs/security.md, "Refusal logs").
    expect(logger.lines.map((l) => (l.obj as { category?: string }).category)).toContain('origin');
    expect((await fetch(`${base}?session=x.AAAAAAAAAAAAAAAAAAAAAAAA&seq=1`, { method: 'POST', headers: { origin: 'https://evil.example' } })).status).toBe(403);
    // A preflight from an allowed page.
    const pre = await fetch(base, { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-headers')).toContain('switchboard-protocol');
  });
});

describe('POSTs (§8.3)', () => {
  it('answers malformed requests, unknown sessions and oversize bodies; the session goes on', async () => {
    const { base } = await start({ sse: { maxBodyBytes: 1_000 } });
    const s = await open(base);
    expect((await fetch(`${base}?seq=1`, { method: 'POST', body: '' })).status).toBe(400);
    expect((await s.post(0, call(1))).status).toBe(400);
    expect((await s.post('x', call(1))).status).toBe(400);
    expect((await s.post(1, call(1), 'not-a-session')).status).toBe(400);
    const unknown = await s.post(1, call(1), `${s.session.split('.')[0]}.AAAAAAAAAAAAAAAAAAAAAAAA`);
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toMatch(/Unknown or expired session/);
    expect((await s.post(1, 'x'.repeat(1_001))).status).toBe(413);
    // Nothing of those was applied: seq 1 is still the next one.
    expect((await s.post(1, call(1))).status).toBe(204);
    await until(() => s.frames().some((f) => f.t === 'ok' && f.id === 1), 'answer 1');
    expect((await fetch(base, { method: 'PUT' })).status).toBe(405);
  });

  it('applies POSTs in seq order, holds early ones, drops repeats; a gap that stays open closes with 1002', async () => {
    const { base } = await start({ sse: { reorderTimeoutMs: 300, maxHeldPosts: 2 } });
    const s = await open(base);
    expect((await s.post(2, call(2))).status).toBe(202);
    expect((await s.post(1, call(1))).status).toBe(204);
    expect((await s.post(1, call(1))).status).toBe(204); // a retry: not applied again
    expect((await s.post(3, `${call(3)}\n${JSON.stringify({ t: 'ping' })}`)).status).toBe(204);
    await until(() => s.frames().some((f) => f.t === 'pong'), 'pong');
    expect(s.frames().filter((f) => f.t === 'ok').map((f) => f.id)).toEqual([1, 2, 3]);
    expect((await s.post(6, call(6))).status).toBe(202);
    expect((await s.post(9, call(9))).status).toBe(429); // beyond maxHeldPosts ahead
    await until(() => s.ended(), 'closed for the gap', 3_000);
    expect(closeOf(s)).toEqual({ code: 1002, reason: 'POST sequence gap' });
  });

  it('a POST relayed from another node may wait further ahead than a direct one (2 × maxHeldPosts); one refused anyway is logged without its body', async () => {
    // Two nodes: B forwards to A through A's engine (as Redis or NATS would, synchronously here).
    const engineA = createMemoryEngine();
    const engineB: Engine = { ...createMemoryEngine(), relay: (to, payload) => engineA.relay!(to, payload) };
    const logger = recordingLogger();
    const a = await start({ engine: engineA, logger, sse: { maxHeldPosts: 2, reorderTimeoutMs: 2_000 } });
    const b = await start({ engine: engineB });
    const s = await open(a.base);
    const viaB = (seq: number, body: string) => fetch(`${b.base}?session=${encodeURIComponent(s.session)}&seq=${seq}`, { method: 'POST', body });
    // seq 1 is late; 2 and 3 wait on A (a direct 4 would be 429); the client sends 4 through B.
    expect((await s.post(2, call(2))).status).toBe(202);
    expect((await s.post(3, call(3))).status).toBe(202);
    expect((await viaB(4, call(4))).status).toBe(202);
    expect((await s.post(1, call(1))).status).toBe(204);
    await until(() => s.frames().filter((f) => f.t === 'ok').length === 4, 'answers 1 to 4');
    expect(s.frames().filter((f) => f.t === 'ok').map((f) => f.id)).toEqual([1, 2, 3, 4]);
    // Far ahead, a relayed POST is refused on A; B answered 202 already, so A logs it.
    expect((await viaB(40, call(40, 7, 7))).status).toBe(202);
    await until(() => logger.lines.some((l) => l.level === 'warn' && /relayed POST/.test(l.msg ?? '')), 'the warning');
    const line = logger.lines.find((l) => /relayed POST/.test(l.msg ?? ''))!;
    expect(line.obj).toMatchObject({ node: s.session.split('.')[0], seq: 40, status: 429 });
    expect(JSON.stringify(logger.lines)).not.toContain(s.session.split('.')[1]);
    expect(JSON.stringify(logger.lines)).not.toContain('"a":7');
  });

  it('messages the core refuses close only their own connection, as over a WebSocket', async () => {
    const { base } = await start({ limits: { maxPayload: 200 } });
    const bystander = await open(base);
    const cases: [string | Uint8Array, number][] = [
      ['{"t":', 1007],
      ['~%%%notbase64', 1007],
      [new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), 1007],
      [JSON.stringify({ t: 'call', id: 1, name: 'add', input: 'x'.repeat(300) }), 1009],
      ['[1,2]', 1002],
    ];
    for (const [body, code] of cases) {
      const s = await open(base);
      expect((await s.post(1, body)).status).toBe(204);
      await until(() => s.ended(), `closed with ${code}`);
      expect(closeOf(s)?.code).toBe(code);
    }
    expect((await bystander.post(1, call(1, 20, 22))).status).toBe(204);
    await until(() => bystander.frames().some((f) => f.t === 'ok' && f.output === 42), 'the bystander is served');
  });

  it('a POST flood meets the connection rate limit (RATE_LIMITED, then 1008); another connection is served throughout', async () => {
    const { base } = await start({ limits: { rate: { perSecond: 50, burst: 20 } } });
    const flooder = await open(base);
    const other = await open(base);
    let seq = 0;
    // 30 calls per POST, back to back: far over 50 a second.
    const flood = (async () => {
      for (let i = 1; i <= 100 && !flooder.ended(); i++) {
        await flooder.post(++seq, Array.from({ length: 30 }, (_, k) => call(i * 100 + k)).join('\n'));
      }
    })();
    for (let i = 1; i <= 10; i++) {
      expect((await other.post(i, call(1000 + i))).status).toBe(204);
      await new Promise((r) => setTimeout(r, 25));
    }
    await within(flood, 'the flood', 20_000);
    await until(() => flooder.ended(), 'the flooder closed');
    expect(flooder.frames().some((f) => f.t === 'err' && f.code === 'RATE_LIMITED')).toBe(true);
    expect(closeOf(flooder)?.code).toBe(1008);
    await until(() => other.frames().filter((f) => f.t === 'ok').length === 10, 'the other connection answered in full');
  });
});

describe('a repeated sub with since whose history read fails (§2.7)', () => {
  it('the live events held meanwhile still reach the subscription, which stays active', async () => {
    // The memory engine, with one history read that waits for the test, then throws.
    const inner = createMemoryEngine();
    let trap: { entered: boolean; release: () => void; gate: Promise<void> } | undefined;
    const engine: Engine = {
      ...inner,
      async history(topic, q) {
        const t = trap;
        if (!t) return inner.history(topic, q);
        trap = undefined;
        t.entered = true;
        await t.gate;
        throw new Error('history store down');
      },
    };
    const { base, server } = await start({ engine }, (s) => s.topic('h:*', { subscribe: true, publish: true, history: { size: 100, ttlMs: 60_000 } }));
    const s = await open(base);
    expect((await s.post(1, JSON.stringify({ t: 'sub', id: 1, topic: 'h:x' }))).status).toBe(204);
    await until(() => s.frames().some((f) => f.t === 'ok' && f.id === 1), 'subscribed');
    const position = (s.frames().find((f) => f.t === 'ok' && f.id === 1)!.output as { position: { epoch: string; offset: number } }).position;
    let release!: () => void;
    trap = { entered: false, release: () => release(), gate: new Promise<void>((r) => (release = r)) };
    const t = trap;
    expect((await s.post(2, JSON.stringify({ t: 'sub', id: 2, topic: 'h:x', since: position }))).status).toBe(204);
    await until(() => t.entered, 'the history read started');
    await server.publish('h:x', 'while held');
    t.release();
    await until(() => s.frames().some((f) => f.t === 'err' && f.id === 2), 'the resume failed');
    await until(() => s.frames().some((f) => f.t === 'msg' && f.data === 'while held'), 'the held event delivered');
    // Still subscribed: the next event arrives live.
    await server.publish('h:x', 'after');
    await until(() => s.frames().some((f) => f.t === 'msg' && f.data === 'after'), 'a live event after');
  });
});

describe('liveness and bounds (§8.2)', () => {
  it('a reader that stops reading is a slow consumer (4001, bounded by the unread stream); an idle stream gets keep-alive comments', async () => {
    const { base, server } = await start({ limits: { sendBufferBytes: 65_536, slowConsumerGraceMs: 300 }, sse: { keepaliveMs: 100 } });
    const idle = await open(base);
    const stuck = await open(base, {}, true);
    expect((await stuck.post(1, JSON.stringify({ t: 'sub', id: 1, topic: 't:big' }))).status).toBe(204);
    const codes: number[] = [];
    server.on('disconnect', (d) => void codes.push(d.code));
    await until(() => server.bufferedBytes === 0, 'the ok written out');
    const big = 'x'.repeat(60_000);
    for (let i = 0; i < 400 && server.connections > 1; i++) {
      await server.publish('t:big', big);
      await new Promise((r) => setImmediate(r));
    }
    await until(() => server.connections === 1, 'the stuck reader was let go', 5_000);
    expect(codes).toEqual([4001]);
    await until(() => /(^|\n):\n\n/.test(idle.raw()), 'a keep-alive comment');
    expect(idle.ended()).toBe(false);
  });

  it('a stalled reader closed with 4001 has its HTTP response socket destroyed, not left buffering', async () => {
    // An attached HTTP server, so the test sees the server side of each TCP connection.
    const http = createHttpServer();
    const sockets: Socket[] = [];
    http.on('connection', (sock) => void sockets.push(sock));
    scope.defer(() => new Promise<void>((r) => http.close(() => r())));
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const { server } = await start({ server: http, limits: { sendBufferBytes: 65_536, slowConsumerGraceMs: 200 } });
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/ws/sse`;
    const stuck = await open(url, {}, true);
    const streamSocket = sockets.at(-1)!;
    expect((await stuck.post(1, JSON.stringify({ t: 'sub', id: 1, topic: 't:busy' }))).status).toBe(204);
    await until(() => server.bufferedBytes === 0, 'the ok written out');
    const codes: number[] = [];
    server.on('disconnect', (d) => void codes.push(d.code));
    const big = 'x'.repeat(60_000);
    for (let i = 0; i < 400 && server.connections > 0; i++) {
      await server.publish('t:busy', big);
      await new Promise((r) => setImmediate(r));
    }
    await until(() => server.connections === 0, 'the stalled reader was let go', 5_000);
    expect(codes).toEqual([4001]);
    // The slow-consumer linger (1 s) ends with the response's socket destroyed.
    await until(() => streamSocket.destroyed, 'the stream socket destroyed', 5_000);
  });

  it('a peer that never answers the heartbeat ping is dropped', async () => {
    const { base, server } = await start({ heartbeat: { intervalMs: 100, timeoutMs: 100 } });
    const s = await open(base);
    await until(() => s.events.some((e) => e.event === 'ping'), 'a ping');
    await until(() => server.connections === 0, 'dropped', 3_000);
  });
});
