/**
 * One client connection: decodes and validates frames, answers them through the dispatcher, and
 * tracks liveness and its own limits. Never throws into ws's event loop: every bad input ends in a
 * reply or a close code.
 */
import type { WebSocket } from 'ws';
import type { Codec } from '../protocol/codec.js';
import { CloseCode } from '../protocol/close-codes.js';
import { ErrorCode } from '../protocol/error-codes.js';
import type { ClientFrame, ErrFrame, ServerFrame } from '../protocol/frames.js';
import { validateClientFrame } from '../protocol/frames.js';
import type { RateOptions } from './options.js';
import { TokenBucket } from './rate-limit.js';
import type { CommandContext } from './types.js';

/** A payload already encoded by the connection's codec. */
export type Encoded = string | Uint8Array;

/** What a connection hands its frames to. */
export interface FrameSink<Identity> {
  handle(conn: Connection<Identity>, frame: ClientFrame): void;
  /** First-message authentication: the connection's first frame (docs/protocol.md §1.3). */
  firstAuth(conn: Connection<Identity>, token: string): void;
  /** The connection closed: end what still runs for it (streams). */
  closed(conn: Connection<Identity>): void;
}

/** Per-connection limits the connection enforces itself. */
export interface ConnectionLimits {
  rate: RateOptions | false;
  sendBufferBytes: number;
}

/** The answer to a request refused by `limits.rate` (docs/protocol.md §4). */
export function rateLimited(id: number, retryAfterMs: number): ErrFrame {
  return { t: 'err', id, code: ErrorCode.RATE_LIMITED, message: 'Too many requests', details: { retryAfterMs } };
}

/** How long a slow consumer's socket may linger after its 4001 close before it is destroyed. */
const SLOW_CONSUMER_LINGER_MS = 1_000;

/** The part of ws's underlying `net.Socket` used to batch writes (see {@link Connection.sendEncoded}). */
interface Corkable {
  cork(): void;
  uncork(): void;
}

/** Where a `ctx` finds its connection; not enumerable, so a spread `ctx` copies only the public fields. */
const OWNER = Symbol('connection');

/**
 * The accessors of every `ctx`: the same two functions for all connections. A getter written in an
 * object literal is a new function per connection, which gave each `ctx` its own hidden class
 * (~0.5 KB per connection in heap snapshots; issue 6).
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
  /** Set by any inbound traffic; cleared by the heartbeat sweep. */
  seen = true;
  /** Armed after a heartbeat ping; any inbound traffic disarms it. */
  pingTimer: NodeJS.Timeout | undefined;
  /** Commands of this connection running now (for `limits.maxPendingCalls`). */
  pendingCalls = 0;
  /** First-message authentication has not completed: only an `auth` frame is accepted. */
  authPending = false;
  #timers: Set<NodeJS.Timeout> | undefined;
  readonly #ws: WebSocket;
  /** Created on first use of `ctx.signal`: most connections never run a handler that reads it. */
  #abort: AbortController | undefined;
  #disposed = false;
  readonly #sendBufferBytes: number;
  readonly #rate: TokenBucket | undefined;
  /** Refusals a connection may collect without slowing down before it is closed with 1008. */
  readonly #violations: TokenBucket | undefined;
  #overflowed = false;
  /** ws's socket (`_socket`, set before ws hands the WebSocket over); undefined if ws ever renames it. */
  readonly #socket: Corkable | undefined;
  /** A flush of the corked socket is scheduled for the end of this tick. */
  #corked = false;

  constructor(ws: WebSocket, clientId: string, identity: Identity, codec: Codec, limits: ConnectionLimits) {
    this.#ws = ws;
    const socket = (ws as unknown as { _socket?: Partial<Corkable> })._socket;
    this.#socket = typeof socket?.cork === 'function' && typeof socket.uncork === 'function' ? (socket as Corkable) : undefined;
    this.clientId = clientId;
    this.identity = identity;
    this.codec = codec;
    this.#sendBufferBytes = limits.sendBufferBytes;
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
   * them (issue 6, memory per idle connection).
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
    return this.#ws.readyState === 1;
  }

  /** Encodes and sends one frame. */
  send(frame: ServerFrame): void {
    const out = this.codec.encode(frame);
    this.sendEncoded(out, typeof out !== 'string');
  }

  /**
   * Sends a payload (encoded once for many connections on fan-out). Over the send-buffer bound a
   * volatile payload is dropped for this connection; anything else ends it as a slow consumer, so a
   * peer that stops reading costs at most `sendBufferBytes` plus one message.
   */
  sendEncoded(payload: Encoded | Buffer, binary: boolean, volatile = false): void {
    if (this.#ws.readyState !== 1 || this.#overflowed) return;
    if (this.#ws.bufferedAmount > this.#sendBufferBytes) {
      if (volatile) return;
      this.#overflowed = true;
      this.#ws.close(CloseCode.SLOW_CONSUMER, 'slow consumer');
      // The close frame waits behind the unread data; do not wait for a peer that never reads.
      setTimeout(() => this.#ws.terminate(), SLOW_CONSUMER_LINGER_MS).unref();
      return;
    }
    // Everything sent to this peer in one tick (answers to a batch of pipelined calls, several
    // publishes fanned out from one read) leaves in one writev at the end of the tick instead of
    // one syscall per frame: ws corks only around each frame's header and payload. Measured in
    // docs/performance.md (issue 6); bufferedAmount still counts the corked bytes.
    if (!this.#corked && this.#socket) {
      this.#corked = true;
      this.#socket.cork();
      // One tick callback for all connections corked in this tick, not one each (fan-out).
      if (Connection.#pending.push(this as Connection<unknown>) === 1) process.nextTick(Connection.#flush);
    }
    this.#ws.send(payload, { binary });
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
   * Charges one request to the rate limit. Returns 0 when allowed, else the ms until one will be;
   * a connection that keeps going after `burst` refusals is closed with 1008.
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
    this.seen = true;
    if (this.pingTimer) {
      clearTimeout(this.pingTimer);
      this.pingTimer = undefined;
    }
  }

  /** Starts the close handshake. */
  close(code: number, reason: string): void {
    if (this.#ws.readyState <= 1) this.#ws.close(code, reason);
  }

  /** Drops the TCP connection without a close handshake (dead peers). */
  terminate(): void {
    this.#ws.terminate();
  }

  /** Runs `cb` once the socket has closed (at once when it already has). */
  onClosed(cb: () => void): void {
    if (this.#ws.readyState === 3) cb();
    else this.#ws.once('close', cb);
  }

  ping(): void {
    if (this.#ws.readyState === 1) this.#ws.ping();
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
    if (this.pingTimer) clearTimeout(this.pingTimer);
    this.pingTimer = undefined;
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
    if (this.#ws.readyState !== 1) return;
    this.alive();
    const decoded = this.codec.decode(isBinary ? data : data.toString('utf8'), isBinary);
    if (!decoded.ok) return this.close(decoded.code, decoded.reason);
    const v = validateClientFrame(decoded.value);
    if (this.authPending) {
      // Nothing is processed before the token (docs/protocol.md §1.3).
      if (v.ok && v.frame.t === 'auth' && v.frame.id === undefined) return sink.firstAuth(this, v.frame.token);
      return this.close(CloseCode.AUTH_TIMEOUT, 'authentication required first');
    }
    if (v.ok && v.frame.t === 'ping') {
      // Pings have no id to answer RATE_LIMITED to: over the limit they go unanswered, and a flood
      // of them still ends in 1008 through the violation budget.
      if (this.charge() > 0) return;
      return sink.handle(this, v.frame);
    }
    if (!v.ok) {
      if (v.fault.kind === 'close') return this.close(v.fault.code, v.fault.reason);
      // A malformed request (BAD_REQUEST, UNKNOWN_FRAME) is still a request that costs a parse and
      // an answer: charged like the others, or a flood of them would never meet limits.rate nor
      // its 1008 (docs/protocol.md §4, §5).
      const wait = this.charge();
      return this.fail(wait > 0 ? rateLimited(v.fault.frame.id, wait) : v.fault.frame);
    }
    sink.handle(this, v.frame);
  }
}
