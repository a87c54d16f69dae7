/**
 * One client connection: decodes and validates frames, answers them through the dispatcher, and
 * tracks liveness and its own limits. Never throws into ws's event loop: every bad input ends in a
 * reply or a close code.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { Codec } from '../protocol/codec.js';
import { CloseCode, ReadyState } from '../protocol/close-codes.js';
import type { ClientFrame, ErrFrame, ServerFrame } from '../protocol/frames.js';
import { validateClientFrame } from '../protocol/frames.js';
import type { Backpressure } from './backpressure.js';
import type { RateOptions } from './options.js';
import { TokenBucket } from './rate-limit.js';
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

/**
 * ws's underlying socket (a `net.Socket`): corked to batch writes, and read for how many bytes the
 * operating system accepted. `_bytesDispatched` (bytes handed to libuv) and the handle's
 * `writeQueueSize` (the part libuv could not write yet) are Node internals that `bytesWritten` and
 * `bufferSize` are built on; they are the only view of progress inside one large write, which
 * `writableLength` and write callbacks only show once the whole write completes.
 */
type WireSocket = Pick<Socket, 'cork' | 'uncork' | 'once' | 'off'> & {
  _bytesDispatched?: number;
  _handle?: { writeQueueSize?: number } | null;
};

/** Bytes of this socket the operating system has accepted so far; never decreases. */
function accepted(socket: WireSocket): number {
  return (socket._bytesDispatched ?? 0) - (socket._handle?.writeQueueSize ?? 0);
}

/** How many times per grace period a connection over its bound is checked for progress. */
const CHECKS_PER_GRACE = 4;

/** A connection over its send-buffer bound: its check timer, and when its buffer last moved. */
interface Overdue {
  timer: NodeJS.Timeout;
  /** {@link accepted} at the last check. */
  accepted: number;
  /** When a check last saw bytes accepted (or the bound was passed). */
  movedAt: number;
  onDrain: () => void;
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
  /** First-message authentication has not completed: only an `auth` frame is accepted. */
  authPending = false;
  #timers: Set<NodeJS.Timeout> | undefined;
  /** Messages and pongs received (read by the heartbeat, heartbeat.ts). */
  #received = 0;
  readonly #ws: WebSocket;
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
  /** ws's socket (`_socket`, set before ws hands the WebSocket over); undefined if ws ever renames it. */
  readonly #socket: WireSocket | undefined;
  /** A flush of the corked socket is scheduled for the end of this tick. */
  #corked = false;
  /**
   * The close the server started (close, slow consumer; terminate as 1006), if it started one: the
   * disconnect hook reports it rather than the peer's echo of it (docs/server.md, "Connection hooks").
   */
  closedByServer: { code: number; reason: string } | undefined;

  constructor(ws: WebSocket, clientId: string, identity: Identity, codec: Codec, limits: ConnectionLimits, pressure: Backpressure) {
    this.#ws = ws;
    const socket = (ws as unknown as { _socket?: Partial<WireSocket> })._socket;
    this.#socket = typeof socket?.cork === 'function' && typeof socket.uncork === 'function' ? (socket as WireSocket) : undefined;
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
    return this.#ws.readyState === ReadyState.OPEN;
  }

  /** Encodes and sends one frame. */
  send(frame: ServerFrame): void {
    const out = this.codec.encode(frame);
    this.sendEncoded(out, typeof out !== 'string');
  }

  /** Bytes queued for this peer and not yet handed to the operating system. */
  get bufferedBytes(): number {
    return this.#ws.bufferedAmount;
  }

  /**
   * Sends a payload (encoded once for many connections on fan-out). Over `sendBufferBytes` a
   * volatile payload is dropped for this connection; anything else is still queued, and the
   * connection is watched: one that writes nothing out for `slowConsumerGraceMs` is a slow consumer
   * (a burst that it drains is not), and past {@link SEND_BUFFER_CAP_FACTOR} × `sendBufferBytes` it
   * is closed at once, so a peer costs at most that plus one message (docs/security.md).
   */
  sendEncoded(payload: Encoded | Buffer, binary: boolean, volatile = false): void {
    if (this.#ws.readyState !== ReadyState.OPEN || this.#overflowed) return;
    const buffered = this.#ws.bufferedAmount;
    if (buffered > this.#sendBufferBytes) {
      if (volatile) return;
      if (buffered > this.#sendBufferBytes * SEND_BUFFER_CAP_FACTOR) return this.#slowConsumer();
    }
    // Everything sent to this peer in one tick (answers to a batch of pipelined calls, several
    // publishes fanned out from one read) leaves in one writev at the end of the tick instead of
    // one syscall per frame: ws corks only around each frame's header and payload. Measured in
    // docs/performance.md; bufferedAmount still counts the corked bytes.
    if (!this.#corked && this.#socket) {
      this.#corked = true;
      this.#socket.cork();
      // One tick callback for all connections corked in this tick, not one each (fan-out).
      if (Connection.#pending.push(this as Connection<unknown>) === 1) process.nextTick(Connection.#flush);
    }
    this.#ws.send(payload, { binary });
    // A volatile message never makes a consumer overdue: over the bound it is the one dropped.
    if (!volatile && !this.#overdue && this.#ws.bufferedAmount > this.#sendBufferBytes) this.#watch();
  }

  /**
   * The buffer passed the bound: from now on the connection must show progress (bytes accepted by
   * the operating system) within every grace period until it has written its buffer out. One timer
   * per connection over the bound, none for the others.
   */
  #watch(): void {
    const onDrain = () => this.#unwatch();
    const timer = setTimeout(() => this.#judge(), this.#slowConsumerGraceMs / CHECKS_PER_GRACE);
    timer.unref();
    this.#overdue = { timer, accepted: this.#socket ? accepted(this.#socket) : 0, movedAt: Date.now(), onDrain };
    // 'drain' fires once the socket's buffer is empty (it passed the stream's high-water mark, so
    // a write has returned false): the connection is no longer behind.
    this.#socket?.once('drain', onDrain);
    this.#pressure.add(this);
  }

  /**
   * Checks a connection over the bound: back under it, still draining, or slow (nothing accepted
   * for a whole grace period, give or take one check).
   */
  #judge(): void {
    const overdue = this.#overdue;
    if (!overdue) return;
    if (this.#ws.bufferedAmount <= this.#sendBufferBytes) return this.#unwatch();
    const now = this.#socket ? accepted(this.#socket) : overdue.accepted;
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
    this.#socket?.off('drain', overdue.onDrain);
    this.#pressure.delete(this);
  }

  /** Ends the connection as a slow consumer (SLOW_CONSUMER); the server stops waiting for it at once. */
  #slowConsumer(): void {
    this.#overflowed = true;
    this.closedByServer ??= { code: CloseCode.SLOW_CONSUMER, reason: 'slow consumer' };
    this.#unwatch();
    this.#ws.close(CloseCode.SLOW_CONSUMER, 'slow consumer');
    // The close frame waits behind the unread data; do not wait for a peer that never reads.
    setTimeout(() => this.#ws.terminate(), SLOW_CONSUMER_LINGER_MS).unref();
  }

  /** Connections corked in this tick by {@link sendEncoded}. */
  static #pending: Connection<unknown>[] = [];

  /** Writes what {@link sendEncoded} corked during this tick. */
  static #flush(): void {
    const pending = Connection.#pending;
    Connection.#pending = [];
    for (const conn of pending) {
      conn.#corked = false;
      conn.#socket!.uncork();
    }
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
    if (this.#ws.readyState === ReadyState.CONNECTING || this.#ws.readyState === ReadyState.OPEN) {
      this.closedByServer ??= { code, reason };
      this.#ws.close(code, reason);
    }
  }

  /** Drops the TCP connection without a close handshake (dead peers). */
  terminate(): void {
    if (this.#ws.readyState !== ReadyState.CLOSED) this.closedByServer ??= { code: CloseCode.ABNORMAL, reason: '' };
    this.#ws.terminate();
  }

  /** Runs `cb` once the socket has closed (at once when it already has). */
  onClosed(cb: () => void): void {
    if (this.#ws.readyState === ReadyState.CLOSED) cb();
    else this.#ws.once('close', cb);
  }

  ping(): void {
    if (this.#ws.readyState === ReadyState.OPEN) this.#ws.ping();
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

  /** Called once when the socket has closed: aborts handlers' signals and stops timers. */
  dispose(): void {
    this.#unwatch();
    if (this.#timers) {
      for (const t of this.#timers) clearTimeout(t);
      this.#timers.clear();
    }
    this.#disposed = true;
    this.#abort?.abort();
  }

  /** Entry point for every inbound message. */
  receive(data: Buffer, isBinary: boolean, sink: FrameSink<Identity>): void {
    // ws keeps emitting 'message' for frames that arrive after close() started the close handshake
    // (e.g. the frames a peer pipelined behind a malformed one). The connection is over for us:
    // running them would execute commands for a peer we already refused (docs/protocol.md §5).
    if (this.#ws.readyState !== ReadyState.OPEN) return;
    this.alive();
    const decoded = this.codec.decode(isBinary ? data : data.toString('utf8'), isBinary);
    if (!decoded.ok) return this.close(decoded.code, decoded.reason);
    const v = validateClientFrame(decoded.value);
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
