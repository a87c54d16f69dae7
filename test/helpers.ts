/**
 * Shared test utilities. Everything waits on events with a deadline; nothing sleeps blindly.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect as tcpConnect, type Socket } from 'node:net';
import { afterEach, beforeEach, expect } from 'vitest';
import WebSocket from 'ws';
import { connect, type Client, type ClientOptions, type UrlProvider } from '../src/client/node.js';
import type { CommandsOf, StreamsOf, UploadsOf } from '../src/protocol/api.js';
import { jsonCodec } from '../src/protocol/codec.js';
import { msgpackCodec } from '../src/protocol/msgpack.js';
import { createServer, silentLogger, type Logger, type Server, type ServerOptions } from '../src/server/index.js';

/** Resolves when `predicate` holds, polling every 5 ms; rejects after `timeoutMs` with `what`. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Races a promise against a deadline. */
export async function within<T>(p: Promise<T>, what: string, timeoutMs = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A logger that records what it is given, for asserting that errors are logged (and tokens are not). */
export function recordingLogger(): Logger & { lines: { level: string; obj: object; msg?: string }[] } {
  const lines: { level: string; obj: object; msg?: string }[] = [];
  const rec = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, ...(msg ? { msg } : {}) });
  return { lines, error: rec('error'), warn: rec('warn'), info: rec('info'), debug: rec('debug') };
}

/** Starts a server on 127.0.0.1, port 0 (unless given), silent unless a logger is passed. */
export async function startServer<I = unknown>(options: ServerOptions<I> = {}, setup?: (s: Server<I>) => void): Promise<StartedServer<I>> {
  const server = createServer<I>({ host: '127.0.0.1', logger: silentLogger, ...options });
  setup?.(server);
  const { port } = await server.listen();
  return { server, port, url: `ws://127.0.0.1:${port}/ws` };
}

/** A raw `ws` peer speaking JSON frames, for tests that need to misbehave. */
export class RawPeer {
  readonly ws: WebSocket;
  readonly frames: Record<string, unknown>[] = [];
  closeCode: number | undefined;
  closeReason = '';

  constructor(url: string, protocols: string[] = ['switchboard.v1.json'], opts: WebSocket.ClientOptions = {}) {
    this.ws = new WebSocket(url, protocols, opts);
    this.ws.on('message', (data: Buffer, isBinary) => {
      // Decoded with the negotiated codec: MessagePack, or JSON (binary = envelope).
      const codec = this.ws.protocol === 'switchboard.v1.msgpack' ? msgpackCodec : jsonCodec;
      const d = codec.decode(isBinary ? data : data.toString(), isBinary);
      if (d.ok) this.frames.push(d.value as Record<string, unknown>);
    });
    this.ws.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
    });
    this.ws.on('error', () => {});
  }

  /** Waits for the `welcome` frame. */
  async ready(): Promise<this> {
    await until(() => this.frames.some((f) => f.t === 'welcome'), 'welcome frame');
    return this;
  }

  /** Sends a raw string/Buffer as is, or a frame encoded with the negotiated codec. */
  send(frame: unknown): void {
    if (typeof frame === 'string' || Buffer.isBuffer(frame)) return this.ws.send(frame);
    const codec = this.ws.protocol === 'switchboard.v1.msgpack' ? msgpackCodec : jsonCodec;
    this.ws.send(codec.encode(frame));
  }

  /** Waits for the first frame matching `pred` and returns it. */
  async next(pred: (f: Record<string, unknown>) => boolean, what = 'frame', timeoutMs = 5_000): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await until(() => (found = this.frames.find(pred)) !== undefined, what, timeoutMs);
    return found!;
  }

  /** Waits for the answer to request `id`. */
  answer(id: number): Promise<Record<string, unknown>> {
    return this.next((f) => f.id === id && (f.t === 'ok' || f.t === 'err'), `answer to id ${id}`);
  }

  /** Sends request frame `frame` and waits for its answer (`ok` or `err`). */
  request(frame: { id: number } & Record<string, unknown>): Promise<Record<string, unknown>> {
    this.send(frame);
    return this.answer(frame.id);
  }

  /** Waits until the server has answered a `ping` sent now: frames arrive in order, so everything sent before it is in. */
  async settled(): Promise<void> {
    const pongs = this.frames.filter((f) => f.t === 'pong').length;
    this.send({ t: 'ping' });
    await until(() => this.frames.filter((f) => f.t === 'pong').length > pongs, 'pong');
  }

  /** Waits until the socket is closed and returns the close code. */
  async closed(timeoutMs = 5_000): Promise<number> {
    if (this.ws.readyState !== WebSocket.CLOSED) await within(once(this.ws, 'close'), 'close', timeoutMs);
    return this.closeCode!;
  }
}

/** Opens a raw upgrade and resolves the HTTP status of a refusal (or 101). */
export function handshakeStatus(url: string, opts: WebSocket.ClientOptions = {}, protocols?: string[]): Promise<number> {
  return within(
    new Promise<number>((resolve) => {
      const ws = new WebSocket(url, protocols ?? ['switchboard.v1.json'], opts);
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        res.resume();
        ws.terminate();
      });
      ws.on('upgrade', () => {
        resolve(101);
      });
      ws.on('open', () => ws.close());
      ws.on('error', () => {});
    }),
    'handshake status',
  );
}

/** A TCP server that accepts connections and never answers (a hung upgrade). Stops by destroying its sockets. */
export async function silentTcpServer(): Promise<{ port: number; sockets: () => number; stop: () => Promise<void> }> {
  const { createServer: createNet } = await import('node:net');
  const sockets = new Set<import('node:net').Socket>();
  const net = createNet((sock) => {
    sockets.add(sock);
    // Read and discard: an unread request keeps the stream paused, and then 'close' never fires.
    sock.resume();
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((r) => net.listen(0, '127.0.0.1', r));
  return {
    port: (net.address() as import('node:net').AddressInfo).port,
    sockets: () => sockets.size,
    stop: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        net.close(() => r());
      }),
  };
}

/**
 * Fails each test of the calling file that leaves an unhandled rejection behind, and names it
 * (Vitest alone reports them for the whole run). Call once at the top of a file, before its own
 * afterEach hooks: after-hooks run in reverse, so this check runs after the file's cleanup.
 * Returns the list, for tests that assert mid-way.
 */
export function guardUnhandledRejections(): readonly unknown[] {
  const seen: unknown[] = [];
  const record = (reason: unknown) => void seen.push(reason);
  beforeEach(() => {
    seen.length = 0;
    process.on('unhandledRejection', record);
  });
  afterEach(() => {
    process.off('unhandledRejection', record);
    expect(seen).toEqual([]);
  });
  return seen;
}

/** Flow-control frame kinds (docs/protocol.md §2.1). */
export const FLOW_KINDS = ['credit', 'item', 'end', 'cancel'];

/** Whether a flow-control frame has the shape docs/protocol.md §2.1 gives it (its id checked apart). */
export function validFlowControl(f: Record<string, unknown>): boolean {
  if (f.t === 'credit') return typeof f.n === 'number' && Number.isSafeInteger(f.n) && f.n >= 1 && f.n <= 2 ** 31 - 1;
  if (f.t === 'item') return Array.isArray(f.items) && f.items.length > 0;
  return f.t === 'end' || f.t === 'cancel';
}

/** What docs/protocol.md §2 and §5 say a server does with one message (JSON codec, no live streams). */
export type Outcome = { close: number } | { answer: number } | { pong: true } | { ignored: number };

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The fuzzers' oracle. Binary messages must not start with the envelope magic (0xB1): callers
 * generate them so, which keeps the oracle exact (any other binary message is refused with 1007).
 */
export function expectedOutcome(bytes: Buffer, binary: boolean, maxPayload: number): Outcome {
  if (bytes.length > maxPayload) return { close: 1009 };
  if (binary) return { close: 1007 };
  try {
    strictUtf8.decode(bytes);
  } catch {
    return { close: 1007 };
  }
  let v: unknown;
  try {
    // As the server reads it (a BOM is kept, and is not JSON).
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { close: 1007 };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { close: 1002 };
  const { t, id } = v as { t?: unknown; id?: unknown };
  if (typeof t !== 'string') return { close: 1002 };
  if (t === 'ping') return { pong: true };
  // First-message auth on a connection that did not ask for it (or a malformed one) is a fault.
  if (t === 'auth' && id === undefined) return { close: 1002 };
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) return { close: 1002 };
  // Flow control for an id that is not a live stream is dropped without an answer (§2.3); a
  // malformed one is answered BAD_REQUEST like any request.
  if (FLOW_KINDS.includes(t) && validFlowControl(v as Record<string, unknown>)) return { ignored: id };
  return { answer: id };
}

/** What a test scope closes after each test: anything with a `close()` (its promise awaited). */
export interface Closable {
  close(): unknown;
}

/** The one test scope a file uses; see {@link createTestScope}. */
export interface TestScope {
  /** {@link startServer}, closed after the test. */
  server<I = unknown>(options?: ServerOptions<I>, setup?: (s: Server<I>) => void): Promise<StartedServer<I>>;
  /** A Node client from `connect(url, options)`, closed after the test. */
  client<Api = unknown>(url: UrlProvider, options?: ClientOptions): Client<CommandsOf<Api>, StreamsOf<Api>, UploadsOf<Api>>;
  /** A {@link RawPeer}, terminated after the test. */
  peer(url: string, protocols?: string[], opts?: WebSocket.ClientOptions): RawPeer;
  /** Closes `closable` after the test (servers, engines, proxies, emitters); returns it. */
  track<T extends Closable>(closable: T): T;
  /** Runs `fn` after the test, for what has no `close()` (HTTP servers, Redis prefixes, timers). */
  defer(fn: () => unknown): void;
  /**
   * Sends a hand-written HTTP request (`head`: its lines) on a raw TCP socket, destroyed after the
   * test, and resolves the response's status and text once the server closed the connection
   * (refusals always close it, docs/protocol.md §1.2).
   */
  rawRequest(port: number, head: string[]): Promise<{ status: number; text: string }>;
  /** A raw TCP socket to 127.0.0.1:`port`, destroyed after the test; resolves once connected. */
  tcp(port: number): Promise<Socket>;
  /**
   * Three slowloris peers on `port`: one silent, one that sends half an upgrade request to `path`,
   * one that sends a request a byte every 20 ms (bounded by its length, so idle timeouts never
   * fire). `closed()` resolves what each was sent and when it was closed (ms after they connected).
   */
  slowloris(port: number, path: string): Promise<{ closed(): Promise<{ text: string; ms: number }[]> }>;
}

/**
 * Collects what the peer sends on `s` and resolves it with the time since `t0` once it closes the
 * socket. A close by reset counts as closed: a server that closes a socket with unread bytes (Node's
 * 408 to a request still dripping in) makes the kernel send RST, which this end reads as ECONNRESET
 * after the response (`events.once` would reject on that `error` and lose the answer).
 */
function closedBy(s: Socket, t0: number, timeoutMs = 3_000): Promise<{ text: string; ms: number }> {
  let text = '';
  s.setEncoding('latin1');
  s.on('data', (d: string) => (text += d));
  return within(
    new Promise<void>((resolve) => s.once('close', () => resolve())).then(() => ({ text, ms: performance.now() - t0 })),
    'the peer to close the socket',
    timeoutMs,
  );
}

/** The lines of a valid WebSocket upgrade request for `path`, plus `extra` header lines. */
export function upgradeHead(port: number, path: string, extra: string[] = []): string[] {
  return [
    `GET ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    'Connection: Upgrade',
    'Upgrade: websocket',
    'Sec-WebSocket-Version: 13',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    ...extra,
  ];
}

/** A server {@link startServer} started: the server, its port and its `ws://` URL. */
export interface StartedServer<I = unknown> {
  server: Server<I>;
  port: number;
  url: string;
}

/**
 * Runs `cleanups` one at a time, last registered first, every one of them even when some throw or
 * reject; then rethrows the one failure, or an AggregateError holding them all in the order seen.
 */
export async function runCleanups(cleanups: readonly (() => unknown)[]): Promise<void> {
  const failures: unknown[] = [];
  for (const cleanup of [...cleanups].reverse()) {
    try {
      await cleanup();
    } catch (err) {
      failures.push(err);
    }
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) throw new AggregateError(failures, `${failures.length} cleanups failed`);
}

/**
 * Everything a test opens, undone after each test whatever its outcome: cleanups run one at a time
 * in reverse order of registration (a client before the server it talks to), every one of them even
 * when some fail, and the failures are reported together afterwards. Call once at the top of a file.
 * Its afterEach is registered here, and after-hooks run in reverse order of registration: a file's
 * own afterEach registered later runs before this one.
 */
export function createTestScope(): TestScope {
  const cleanups: (() => unknown)[] = [];
  afterEach(() => runCleanups(cleanups.splice(0)));
  const defer = (fn: () => unknown): void => void cleanups.push(fn);
  const tcp = async (port: number): Promise<Socket> => {
    const s = tcpConnect(port, '127.0.0.1');
    defer(() => s.destroy());
    s.on('error', () => {});
    await once(s, 'connect');
    return s;
  };
  const track = <T extends Closable>(closable: T): T => {
    defer(() => closable.close());
    return closable;
  };
  const server = async <I = unknown>(options: ServerOptions<I> = {}, setup?: (s: Server<I>) => void): Promise<StartedServer<I>> => {
    const started = await startServer<I>(options, setup);
    track(started.server);
    return started;
  };
  return {
    server,
    client: <Api = unknown>(url: UrlProvider, options: ClientOptions = {}) => track(connect<Api>(url, options)),
    peer(url, protocols, opts) {
      const p = new RawPeer(url, protocols, opts);
      defer(() => p.ws.terminate());
      return p;
    },
    track,
    defer,
    async rawRequest(port, head) {
      const socket = tcpConnect(port, '127.0.0.1');
      defer(() => socket.destroy());
      socket.on('error', () => {});
      let text = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => (text += chunk));
      await once(socket, 'connect');
      socket.write(`${head.join('\r\n')}\r\n\r\n`);
      await within(once(socket, 'close'), 'the server to close the raw socket');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      return { status: m ? Number(m[1]) : 0, text };
    },
    tcp,
    async slowloris(port, path) {
      const [silent, half, drip] = [await tcp(port), await tcp(port), await tcp(port)];
      const t0 = performance.now();
      const closes = [closedBy(silent, t0), closedBy(half, t0), closedBy(drip, t0)];
      half.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upg`);
      const request = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nX-Pad: ${'a'.repeat(400)}`;
      const dripping = (async () => {
        for (let i = 0; i < request.length && !drip.destroyed; i++) {
          drip.write(request[i]!);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      return { closed: async () => (await Promise.all([Promise.all(closes), dripping]))[0] };
    },
  };
}
