/**
 * One client connection: decodes and validates frames, answers them through the dispatcher, and
 * tracks liveness and its own limits. It owns a transport socket (src/server/transport/types.ts),
 * whatever the runtime. Never throws into the transport's event loop: every bad input ends in a
 * reply or a close code.
 */
import type { Codec } from '../protocol/codec.js';
import { CloseCode, ReadyState } from '../protocol/close-codes.js';
import type { ClientFrame, ErrFrame, ServerFrame } from '../protocol/frames.js';
import { validateClientFrame } from '../protocol/frames.js';
import type { Backpressure } from './backpressure.js';
import type { CodecMeter, Observer } from './observe.js';
import type { RateOptions } from './options.js';
import { TokenBucket } from './rate-limit.js';
import type { Trace } from './trace.js';
import type { PreparedFrame, TransportSocket } from './transport/types.js';
import type { CommandContext } from './types.js';

/** A payload already encoded by the connection's codec. */
export type Encoded = string | Uint8Array;

/** What a connection hands its frames to. */
export interface FrameSink<Identity> {
  handle(conn: Connection<Identity>, frame: ClientFrame): void;
  /**
   * A malformed request that still has an id: `refusal` is its answer (BAD_REQUEST, UNKNOWN_FRAME).
   * `flow`: a malformed `credit` or `item`, which ends that id's live stream instead when there is one.
   */
  malformed(conn: Connection<Identity>, refusal: ErrFrame, flow: boolean): void;
  /** First-message authentication: the connection's first frame (docs/protocol.md §1.3). */
  firstAuth(conn: Connection<Identity>, token: string): void;
  /** The connection closed: end what still runs for it (streams). */
  closed(conn: Connection<Identity>): void;
  /**
   * Requests of the connection not yet answered: commands running, live streams and uploads, and
   * topic operations (publish, subscribe…) in progress. `server.drain()` waits for it to reach 0.
   */
  inFlight(conn: Connection<Identity>): number;
}

/** Per-connection limits the connection enforces itself. */
export interface ConnectionLimits {
  rate: RateOptions | false;
  sendBufferBytes: number;
  slowConsumerGraceMs: number;
}

/** How long a slow consumer's socket may linger after its SLOW_CONSUMER close before it is destroyed. */
const SLOW_CONSUMER_LINGER_MS = 1_000;

/**
 * The hard cap on one connection's send buffer, as a multiple of `limits.sendBufferBytes`: past it
 * even a consumer that still drains is closed, so a flood cannot exhaust memory while the grace
 * period runs (docs/security.md, "Slow consumers").
 */
export const SEND_BUFFER_CAP_FACTOR = 4;

/** A text message's UTF-8 bytes as a string (Node's decoder: faster than TextDecoder for short texts). */
function utf8(data: Uint8Array): string {
  return (Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)).toString('utf8');
}

/** How many times per grace period a connection over its bound is checked for progress. */
const CHECKS_PER_GRACE = 4;

/** A connection over its send-buffer bound: its check timer, and when its buffer last moved. */
interface Overdue {
  timer: NodeJS.Timeout;
  /** The socket's `written` at the last check. */
  accepted: number;
  /** When a check last saw bytes accepted (or the bound was passed). */
  movedAt: number;
}

/** Where a `ctx` finds its connection; not enumerable, so a spread `ctx` copies only the public fields. */
const OWNER = Symbol('connection');

/**
 * The accessors of every `ctx`: the same two functions for all connections. A getter written in an
 * object literal is a new function per connection, which gave each `ctx` its own hidden class
 * (~0.5 KB per connection in heap snapshots; docs/performance.md, idle memory).
 */
const CTX_ACCESSORS: PropertyDescriptorMap = {
  identity: {
    enumerable: true,
    get(this: { [OWNER]: Connection }) {
      return this[OWNER].identity;
    },
  },
  signal: {
    enumerable: true,
    get(this: { [OWNER]: Connection }) {
      return this[OWNER].signal;
    },
  },
};

export class Connection<Identity = unknown> {
  readonly clientId: string;
  /** What `authenticate` returned; replaced by a token refresh. */
  identity: Identity;
  readonly codec: Codec;
  readonly ctx: CommandContext<Identity>;
  #topics: Set<string> | undefined;
  /** Commands of this connection running now (for `limits.maxPendingCalls`). */
  pendingCalls = 0;
  /** Topic operations (publish, subscribe…) of this connection queued or running (dispatch.ts). */
  topicOps = 0;
  /** First-message authentication has not completed: only an `auth` frame is accepted. */
  authPending = false;
  #timers: Set<NodeJS.Timeout> | undefined;
  /** Messages and pongs received (read by the heartbeat, heartbeat.ts). */
  #received = 0;
  readonly #socket: TransportSocket;
  /** The development trace (docs/server.md, "Diagnostics"); undefined unless the logger has debug on. */
  readonly #trace: Trace | undefined;
  /** The server's observer (docs/observability.md) and its meter of this codec; undefined when off. */
  readonly #obs: Observer | undefined;
  readonly #meter: CodecMeter | undefined;
  /** Gives the admission slot back (once, when the socket closed). */
  readonly #release: () => void;
  /** Who waits for the socket to close ({@link onClosed}); created on first use. */
  #closedWaiters: (() => void)[] | undefined;
  /** Created on first use of `ctx.signal`: most connections never run a handler that reads it. */
  #abort: AbortController | undefined;
  #disposed = false;
  readonly #sendBufferBytes: number;
  readonly #slowConsumerGraceMs: number;
  readonly #pressure: Backpressure;
  /** Set while the send buffer is over `sendBufferBytes` (created only then: the hot path stays one comparison). */
  #overdue: Overdue | undefined;
  readonly #rate: TokenBucket | undefined;
  /** Refusals a connection may collect without slowing down before it is closed with POLICY_VIOLATION. */
  readonly #violations: TokenBucket | undefined;
  #overflowed = false;
  /**
   * The close the server started (close, slow consumer; terminate as 1006), if it started one: the
   * disconnect hook reports it rather than the peer's echo of it (docs/server.md, "Connection hooks").
   */
  closedByServer: { code: number; reason: string } | undefined;

  constructor(
    socket: TransportSocket,
    clientId: string,
    identity: Identity,
    codec: Codec,
    limits: ConnectionLimits,
    pressure: Backpressure,
    release: () => void = () => {},
    trace?: Trace,
    observed?: { observer: Observer; meter: CodecMeter },
  ) {
    this.#socket = socket;
    this.#release = release;
    this.#trace = trace;
    this.#obs = observed?.observer;
    this.#meter = observed?.meter;
    this.clientId = clientId;
    this.identity = identity;
    this.codec = codec;
    this.#sendBufferBytes = limits.sendBufferBytes;
    this.#slowConsumerGraceMs = limits.slowConsumerGraceMs;
    this.#pressure = pressure;
    if (limits.rate) {
      const now = Date.now();
      this.#rate = new TokenBucket(limits.rate.perSecond, limits.rate.burst, now);
      this.#violations = new TokenBucket(limits.rate.perSecond, limits.rate.burst, now);
    }
    const ctx = { clientId };
    Object.defineProperty(ctx, OWNER, { value: this });
    this.ctx = Object.freeze(Object.defineProperties(ctx, CTX_ACCESSORS)) as unknown as CommandContext<Identity>;
  }

  /**
   * Topics this connection is subscribed to (the index holds the reverse map). Created on first
   * use, as are `timers` and `ctx.signal`: an idle connection that never subscribes carries none of
   * them (docs/performance.md, memory per idle connection).
   */
  get topics(): Set<string> {
    return (this.#topics ??= new Set());
  }

  /** Timers of the auth session (auth deadline, refresh, grace); cleared on close. */
  get timers(): Set<NodeJS.Timeout> {
    return (this.#timers ??= new Set());
  }

  /** What `ctx.signal` returns: aborts when the connection closes. */
  get signal(): AbortSignal {
    if (!this.#abort) {
      this.#abort = new AbortController();
      if (this.#disposed) this.#abort.abort();
    }
    return this.#abort.signal;
  }

  get open(): boolean {
    return this.#socket.readyState === ReadyState.OPEN;
  }

  /** Encodes and sends one frame. */
  send(frame: ServerFrame): void {
    const out = this.codec.encode(frame);
    this.#trace?.frame(this.clientId, 'out', frame.t, typeof out === 'string' ? Buffer.byteLength(out) : out.byteLength);
    this.sendEncoded(out, typeof out !== 'string');
  }

  /** The transport's socket, for the transport's native topics (topic-index.ts). */
  get socket(): TransportSocket {
    return this.#socket;
  }

  /** Whether more than `limits.sendBufferBytes` wait for this peer (a volatile message would be dropped). */
  get overBound(): boolean {
    return this.#socket.bufferedAmount > this.#sendBufferBytes;
  }

  /**
   * A native publish of the transport (topic-index.ts) reached this socket: the bounds
   * {@link sendPrepared} checks around a send, checked after it (the hard cap closes at once).
   */
  sentNatively(volatile: boolean): void {
    // One read of the buffer for the common case, under the bound: this runs per subscriber and publish.
    const buffered = this.#socket.bufferedAmount;
    if (buffered <= this.#sendBufferBytes || this.#overflowed || this.#socket.readyState !== ReadyState.OPEN) return;
    if (buffered > this.#sendBufferBytes * SEND_BUFFER_CAP_FACTOR) return this.#slowConsumer();
    if (!volatile && !this.#overdue) this.#watch();
  }

  /** The peer's address, while the socket is open. */
  get remoteAddress(): string | undefined {
    return this.#socket.remoteAddress;
  }

  /** Bytes queued for this peer and not yet handed to the operating system. */
  get bufferedBytes(): number {
    return this.#socket.bufferedAmount;
  }

  /**
   * Sends a payload (encoded once for many connections on fan-out). Over `sendBufferBytes` a
   * volatile payload is dropped for this connection; anything else is still queued, and the
   * connection is watched: one that writes nothing out for `slowConsumerGraceMs` is a slow consumer
   * (a burst that it drains is not), and past {@link SEND_BUFFER_CAP_FACTOR} × `sendBufferBytes` it
   * is closed at once, so a peer costs at most that plus one message (docs/security.md).
   */
  sendEncoded(payload: Encoded | Buffer, binary: boolean, volatile = false): void {
    if (!this.#admit(volatile)) return;
    this.#meter?.sent(typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength);
    // Writes within one turn of the event loop leave together: the transport coalesces them.
    this.#socket.send(payload, binary);
    this.#after(volatile);
  }

  /** Sends a message prepared once for all subscribers of a publish (topic-index.ts), under the same bounds. */
  sendPrepared(frame: PreparedFrame, volatile: boolean): void {
    if (!this.#admit(volatile)) return;
    this.#meter?.sent(frame.payload.byteLength);
    this.#socket.sendFrame(frame);
    this.#after(volatile);
  }

  /** Whether one more message may be queued: open, and not over the bounds (a volatile one is dropped first). */
  #admit(volatile: boolean): boolean {
    if (this.#socket.readyState !== ReadyState.OPEN || this.#overflowed) return false;
    const buffered = this.#socket.bufferedAmount;
    if (buffered > this.#sendBufferBytes) {
      if (volatile) return false;
      if (buffered > this.#sendBufferBytes * SEND_BUFFER_CAP_FACTOR) return this.#slowConsumer(), false;
    }
    return true;
  }

  /** A volatile message never makes a consumer overdue: over the bound it is the one dropped. */
  #after(volatile: boolean): void {
    if (!volatile && !this.#overdue && this.#socket.bufferedAmount > this.#sendBufferBytes) this.#watch();
  }

  /** The transport's send buffer emptied: a connection over the bound is no longer behind. */
  drained(): void {
    if (this.#overdue) this.#unwatch();
  }

  /**
   * The buffer passed the bound: from now on the connection must show progress (bytes accepted by
   * the operating system) within every grace period until it has written its buffer out. One timer
   * per connection over the bound, none for the others.
   */
  #watch(): void {
    const timer = setTimeout(() => this.#judge(), this.#slowConsumerGraceMs / CHECKS_PER_GRACE);
    timer.unref();
    // The transport's drain hook ({@link drained}) ends the watch once the buffer is written out.
    this.#overdue = { timer, accepted: this.#socket.written, movedAt: Date.now() };
    this.#pressure.add(this);
  }

  /**
   * Checks a connection over the bound: back under it, still draining, or slow (nothing accepted
   * for a whole grace period, give or take one check).
   */
  #judge(): void {
    const overdue = this.#overdue;
    if (!overdue) return;
    if (this.#socket.bufferedAmount <= this.#sendBufferBytes) return this.#unwatch();
    const now = this.#socket.written;
    const at = Date.now();
    if (now !== overdue.accepted) {
      overdue.accepted = now;
      overdue.movedAt = at;
    } else if (at - overdue.movedAt >= this.#slowConsumerGraceMs) {
      return this.#slowConsumer();
    }
    overdue.timer.refresh();
  }

  #unwatch(): void {
    const overdue = this.#overdue;
    if (!overdue) return;
    this.#overdue = undefined;
    clearTimeout(overdue.timer);
    this.#pressure.delete(this);
  }

  /** Ends the connection as a slow consumer (SLOW_CONSUMER); the server stops waiting for it at once. */
  #slowConsumer(): void {
    this.#overflowed = true;
    this.#obs?.slowConsumer();
    this.closedByServer ??= { code: CloseCode.SLOW_CONSUMER, reason: 'slow consumer' };
    this.#unwatch();
    this.#socket.close(CloseCode.SLOW_CONSUMER, 'slow consumer');
    // The close frame waits behind the unread data; do not wait for a peer that never reads.
    setTimeout(() => this.#socket.terminate(), SLOW_CONSUMER_LINGER_MS).unref();
  }

  reply(id: number, output: unknown): void {
    this.send(output === undefined ? { t: 'ok', id } : { t: 'ok', id, output });
  }

  fail(frame: ErrFrame): void {
    this.send(frame);
  }

  /**
   * Charges one request to the rate limit (which frames cost one is decided in dispatch.ts). Returns
   * 0 when allowed, else the ms until one will be; a connection that keeps going after `burst`
   * refusals is closed with POLICY_VIOLATION.
   */
  charge(): number {
    if (!this.#rate) return 0;
    const now = Date.now();
    const wait = this.#rate.take(now);
    if (wait > 0) this.#obs?.rateLimited();
    if (wait > 0 && this.#violations!.take(now) > 0) this.close(CloseCode.POLICY_VIOLATION, 'rate limit exceeded');
    return wait;
  }

  /** Marks the peer alive; called for every message and pong. */
  alive(): void {
    this.#received++;
  }

  /** Messages and pongs received so far (the heartbeat's sign of life). */
  get received(): number {
    return this.#received;
  }

  /** Starts the close handshake. */
  close(code: number, reason: string): void {
    if (this.#socket.readyState === ReadyState.CONNECTING || this.#socket.readyState === ReadyState.OPEN) {
      this.closedByServer ??= { code, reason };
      this.#socket.close(code, reason);
    }
  }

  /** Drops the TCP connection without a close handshake (dead peers). */
  terminate(): void {
    if (this.#socket.readyState !== ReadyState.CLOSED) this.closedByServer ??= { code: CloseCode.ABNORMAL, reason: '' };
    this.#socket.terminate();
  }

  /** Runs `cb` once the socket has closed (at once when it already has). */
  onClosed(cb: () => void): void {
    if (this.#disposed) cb();
    else (this.#closedWaiters ??= []).push(cb);
  }

  ping(): void {
    if (this.#socket.readyState === ReadyState.OPEN) this.#socket.ping();
  }

  /** A timer owned by this connection: cleared when it closes, never keeping the process alive. */
  after(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.add(t);
    return t;
  }

  /**
   * Called once when the socket has closed: gives the admission slot back, aborts handlers'
   * signals, stops timers, and runs what {@link onClosed} queued.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#release();
    this.#unwatch();
    if (this.#timers) {
      for (const t of this.#timers) clearTimeout(t);
      this.#timers.clear();
    }
    this.#disposed = true;
    this.#abort?.abort();
    const waiters = this.#closedWaiters;
    this.#closedWaiters = undefined;
    if (waiters) for (const cb of waiters) cb();
  }

  /** Entry point for every inbound message. */
  receive(data: Uint8Array | string, isBinary: boolean, sink: FrameSink<Identity>): void {
    // ws keeps emitting 'message' for frames that arrive after close() started the close handshake
    // (e.g. the frames a peer pipelined behind a malformed one). The connection is over for us:
    // running them would execute commands for a peer we already refused (docs/protocol.md §5).
    if (this.#socket.readyState !== ReadyState.OPEN) return;
    this.alive();
    this.#meter?.received(typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength);
    const decoded = this.codec.decode(isBinary || typeof data === 'string' ? data : utf8(data), isBinary);
    if (!decoded.ok) return this.close(decoded.code, decoded.reason);
    const v = validateClientFrame(decoded.value);
    if (this.#trace && v.ok) this.#trace.frame(this.clientId, 'in', v.frame.t, typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength);
    if (this.authPending) {
      // Nothing is processed before the token (docs/protocol.md §1.3).
      if (v.ok && v.frame.t === 'auth' && v.frame.id === undefined) return sink.firstAuth(this, v.frame.token);
      return this.close(CloseCode.AUTH_TIMEOUT, 'authentication required first');
    }
    if (!v.ok) {
      if (v.fault.kind === 'close') return this.close(v.fault.code, v.fault.reason);
      return sink.malformed(this, v.fault.frame, v.fault.kind === 'flow');
    }
    sink.handle(this, v.frame);
  }
}
