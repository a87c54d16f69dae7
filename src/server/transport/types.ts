/**
 * The server transport boundary (docs/server.md, "Runtimes and transports").
 *
 * The server core — connections, dispatch, the topic index, streams, the heartbeat, admission and
 * authentication — never touches a runtime's sockets. It talks to one {@link Transport} per server,
 * made by an adapter for the runtime: `node.ts` (Node's `http` + `ws`), a Bun adapter on
 * `Bun.serve`, and the SSE + HTTP fallback (`sse.ts`, on the HTTP routes of either; its sockets
 * report `nativeTopics: false`). What an adapter must do:
 *
 * 1. **HTTP side.** Own (or adopt) the HTTP server: `listen()` resolves the port, `close()` stops
 *    listening (an attached server the application owns is left running). Requests that are not
 *    an upgrade to `path` are not the core's: answer 426 (own server) or leave them to the
 *    application (attached server).
 * 2. **Upgrades.** For every WebSocket upgrade request to `path`, call `hooks.upgrade` once with a
 *    {@link PendingUpgrade}: the request as an {@link UpgradeRequest} view, `refuse()` to answer it
 *    with a plain HTTP response, `accept()` to complete the handshake with the chosen subprotocol.
 *    The core calls exactly one of them, possibly after awaiting authentication; the adapter
 *    reports a peer that left meanwhile through `gone`, and `accept()` resolves `false` then.
 * 3. **Sockets.** An accepted WebSocket is a {@link TransportSocket}. `accept()`'s `open` callback
 *    runs once it is open and returns the core's connection object `C`, which the adapter keeps
 *    with the socket (ws: a symbol property; Bun: `ws.data`) and passes to every hook afterwards:
 *    `message`, `pong`, `drain` (its send buffer emptied) and `close` (exactly once, after which
 *    the socket is never used again). Protocol faults (bad UTF-8, oversize, bad opcode, a masked
 *    server frame) are the adapter's: close with the RFC code (1007, 1009, 1002) and report `close`.
 * 4. **Sending.** `send` writes one message; `sendFrame` writes a {@link PreparedFrame} made by
 *    `prepare()` once for many sockets (fan-out), which an adapter may encode once for all of them
 *    (Node: the complete RFC 6455 frame; Bun: native publish where it fits). Writes of one socket
 *    within a turn of the event loop (or `writeDelayMs`) may be coalesced, but never reordered,
 *    and `bufferedAmount` counts every byte not yet accepted by the operating system, whatever the
 *    path it took: the core's slow-consumer policy reads it.
 *
 * `authenticate(req, token)` receives the adapter's request: on Node the `IncomingMessage` itself;
 * any other adapter passes an {@link UpgradeRequest} (lower-case `headers`, `url`, `method`,
 * `socket.remoteAddress`), which is all the core and `jwt()` read.
 */
import type { HttpRoutes } from '../../net/http-routes.js';
import type { Logger } from '../../shared/logger.js';
import type { TlsOptions } from '../options.js';

/** Header values as Node presents them: lower-case names; repeated headers joined or listed. */
export type UpgradeHeaders = Readonly<Record<string, string | string[] | undefined>>;

/**
 * The part of an upgrade request the core reads. Node's `IncomingMessage` is one; other adapters
 * build one from their own request (Bun: a web `Request` plus `server.requestIP`).
 */
export interface UpgradeRequest {
  /** Path and query, as in the request line (`/ws?token=…`). */
  readonly url?: string | undefined;
  /** `GET` for a WebSocket upgrade. */
  readonly method?: string | undefined;
  /** Request headers by lower-case name. */
  readonly headers: UpgradeHeaders;
  /** Who connected: the peer's IP address (the admission limits count by it). */
  readonly socket: { readonly remoteAddress?: string | undefined };
}

/**
 * A refusal of an upgrade request, as an HTTP response the adapter writes and then closes:
 * `status`, the `headers` (besides `Connection: close`, `Content-Type: text/plain; charset=utf-8`
 * and `Content-Length`), and a one-line text body (`message` and a newline). docs/protocol.md §1.2.
 */
export interface Refusal {
  status: number;
  message: string;
  headers?: Readonly<Record<string, string>>;
}

/** Ready states of a {@link TransportSocket}: the WebSocket API's values (src/protocol/close-codes.ts, `ReadyState`). */
export type TransportReadyState = 0 | 1 | 2 | 3;

/** One open WebSocket as the core sees it. */
export interface TransportSocket {
  /** CONNECTING (0), OPEN (1), CLOSING (2), CLOSED (3). Sends are ignored unless OPEN. */
  readonly readyState: TransportReadyState;
  /** Bytes sent to this socket and not yet accepted by the operating system (queued, corked, delayed). */
  readonly bufferedAmount: number;
  /**
   * Bytes of this socket the operating system has accepted so far; never decreases. The core's
   * slow-consumer check reads it for progress inside one large write, which `bufferedAmount`
   * alone cannot show.
   */
  readonly written: number;
  /** The peer's address, as the upgrade request had it. */
  readonly remoteAddress: string | undefined;
  /**
   * `false` for a socket the transport's {@link NativeTopics} cannot reach (the SSE fallback's, on
   * Bun): the core then never subscribes it natively and sends its topics' messages itself.
   */
  readonly nativeTopics?: boolean;
  /** Sends one message: a string as a text frame, bytes as a text (`binary: false`) or binary frame. */
  send(payload: string | Uint8Array, binary: boolean): void;
  /** Sends a message prepared once for many sockets by {@link Transport.prepare}. */
  sendFrame(frame: PreparedFrame): void;
  /** Starts the closing handshake with `code` and `reason` (at most 123 bytes of UTF-8). */
  close(code: number, reason: string): void;
  /** Drops the connection at once, without a closing handshake (dead or slow peers). */
  terminate(): void;
  /** Sends a ping; the peer's pong arrives as `hooks.pong`. */
  ping(): void;
}

/**
 * A message encoded once for many sockets. The core reads nothing but `payload` and `binary`; the
 * adapter that made it may cache its own wire form on it (Node: the whole RFC 6455 frame).
 */
export interface PreparedFrame {
  /** The encoded message: bytes of the JSON text or MessagePack. */
  readonly payload: Uint8Array;
  /** Binary frame (opcode 2) or text frame (opcode 1, `payload` is UTF-8). */
  readonly binary: boolean;
}

/** An upgrade request to the core's path, waiting for the core's answer. */
export interface PendingUpgrade<C> {
  readonly request: UpgradeRequest;
  /** The peer went away (or the request was otherwise abandoned) before an answer. */
  readonly gone: boolean;
  /** Answers with an HTTP refusal and closes; a no-op once the peer is gone. */
  refuse(refusal: Refusal): void;
  /**
   * Completes the handshake with `protocol` (the `Sec-WebSocket-Protocol` answer, sent only when
   * the request offered subprotocols: RFC 6455 §4.2.2), answering a malformed handshake (bad key
   * or version) itself as a WebSocket library does. `open` runs
   * once the socket is open, before any message is read; what it sends may leave with the 101
   * response. Resolves `true` once `open` ran, `false` when the peer left or the handshake was
   * invalid (the adapter answered it), in which case `open` never runs.
   */
  accept(protocol: string, open: (socket: TransportSocket) => C): Promise<boolean>;
}

/** What an adapter calls into the core with; `C` is the core's connection, as `open` returned it. */
export interface TransportHooks<C> {
  /** An upgrade request to the core's path. The core answers it through `u` (refuse or accept). */
  upgrade(u: PendingUpgrade<C>): void;
  /**
   * One whole message (already unmasked, reassembled, and inflated when compression is on). A text
   * message may come as a string or as its UTF-8 bytes (already validated), whichever the runtime has.
   */
  message(conn: C, data: Uint8Array | string, binary: boolean): void;
  /** A pong (the answer to `ping()`, or an unsolicited one): the peer is alive. */
  pong(conn: C): void;
  /** The socket's send buffer emptied after it had grown (see `bufferedAmount`). */
  drain(conn: C): void;
  /** The socket closed, however (handshake, error, terminate); called exactly once per accepted socket. */
  close(conn: C, code: number, reason: string): void;
}

/** Options every adapter gets from `createServer` (already merged and checked there). */
export interface TransportOptions {
  /** URL path of the WebSocket endpoint. */
  path: string;
  /** Port to listen on when the adapter owns its server; 0 picks one. */
  port: number;
  /** Address to bind; `undefined` binds every interface. */
  host: string | undefined;
  /** Largest accepted message in bytes (after inflation); larger closes with 1009. */
  maxPayload: number;
  /** permessage-deflate on (server side, for messages of 1 KiB and more). */
  compression: boolean;
  /** A request whose headers have not all arrived after this many ms is dropped (slowloris). */
  handshakeTimeoutMs: number;
  /** Write coalescing: frames for one socket within this many ms leave in one write; 0 = per event-loop turn. */
  writeDelayMs: number;
  /**
   * The hard cap on one socket's send buffer, in bytes: the core closes a socket past it before it
   * sends more. An adapter whose runtime can enforce a limit on its own writes (Bun's
   * `backpressureLimit`) applies it there too, for writes the core does not see one by one.
   */
  sendBufferCapBytes: number;
  /** Serve TLS (`wss://`) on the adapter's own server; `undefined` for plain `ws://`. */
  tls: TlsOptions | undefined;
  /**
   * Plain HTTP requests the server answers besides upgrades (health, metrics, the SSE fallback):
   * an adapter hands every non-upgrade request whose path matches to its handler, as a WHATWG
   * `Request`, and writes the `Response` back, streaming its body (net/http-routes.ts).
   */
  routes: HttpRoutes;
  logger: Logger;
}

/** One server's transport: its HTTP side and every WebSocket on it. */
export interface Transport {
  /** Which adapter this is (`'node'`, `'bun'`, …), for logs and `server.health()`. */
  readonly runtime: string;
  /** Starts answering upgrades through `hooks`; called once, before `listen()`. */
  start<C>(hooks: TransportHooks<C>): void;
  /** Listens (own server) or waits for the attached server to listen; resolves the port. */
  listen(): Promise<number>;
  /** Stops listening and closes the HTTP side (an attached server is left to its owner). */
  close(): Promise<void>;
  /** Prepares one message for many sockets ({@link TransportSocket.sendFrame}). */
  prepare(payload: Uint8Array, binary: boolean): PreparedFrame;
  /**
   * Native topic fan-out, where the runtime has one (Bun: uWebSockets' topics). Absent, the core
   * sends a prepared frame to each subscriber itself.
   */
  readonly topics?: NativeTopics;
}

/**
 * A runtime's own publish to many sockets (docs/server.md, "Running on Bun"). The core keeps every
 * decision: it subscribes a socket under a key of its choosing (one key per topic and codec), and
 * publishes natively only when every subscriber of that key is to get the same bytes now; for any
 * other delivery (a replay, a skipped publisher, a volatile drop, a subscriber still reading
 * history) it sends per socket as without this capability.
 */
export interface NativeTopics {
  subscribe(socket: TransportSocket, key: string): void;
  unsubscribe(socket: TransportSocket, key: string): void;
  /**
   * Sends `frame` (from this transport's `prepare`) to every socket subscribed to `key`, except
   * `except` when given. Like `sendFrame`, each subscriber's bytes count in its `bufferedAmount`.
   */
  publish(key: string, frame: PreparedFrame, except?: TransportSocket): void;
}

/** An adapter's factory: `createNodeTransport`, `createBunTransport`, … */
export type CreateTransport = (options: TransportOptions) => Transport;
