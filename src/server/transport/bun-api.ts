/**
 * The part of Bun's API the Bun transport uses, typed here rather than through `bun-types`: the
 * package's declaration files must not depend on Bun's global types, and this module is loaded
 * under Node too (it only reads `globalThis.Bun` when a Bun server starts). docs/server.md,
 * "Running on Bun".
 */

/** A WebSocket of `Bun.serve`; `T` is what `server.upgrade(req, { data })` attached. */
export interface BunServerWebSocket<T> {
  readonly data: T;
  /** The WebSocket API's values: 0 connecting, 1 open, 2 closing, 3 closed. */
  readonly readyState: 0 | 1 | 2 | 3;
  readonly remoteAddress: string;
  /** Bytes sent (> 0), -1 queued under backpressure, 0 dropped (closed, or over `backpressureLimit`). */
  sendText(data: string): number;
  sendBinary(data: Uint8Array): number;
  close(code?: number, reason?: string): void;
  terminate(): void;
  ping(data?: string | Uint8Array): number;
  getBufferedAmount(): number;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  /** Sends to every subscriber of `topic` except this socket. */
  publishText(topic: string, data: string): number;
  publishBinary(topic: string, data: Uint8Array): number;
}

/** The handlers and WebSocket settings of `Bun.serve`. */
export interface BunWebSocketHandler<T> {
  open(ws: BunServerWebSocket<T>): void;
  message(ws: BunServerWebSocket<T>, message: string | Uint8Array): void;
  close(ws: BunServerWebSocket<T>, code: number, reason: string): void;
  drain(ws: BunServerWebSocket<T>): void;
  pong(ws: BunServerWebSocket<T>, data: Uint8Array): void;
  maxPayloadLength: number;
  /** Bytes one socket may buffer; past it a send is dropped (returns 0). 0: no limit. */
  backpressureLimit: number;
  closeOnBackpressureLimit: boolean;
  /** Seconds without a received message before the socket is closed; 0 turns it off. */
  idleTimeout: number;
  sendPings: boolean;
  perMessageDeflate: boolean | { compress?: boolean; decompress?: boolean };
  publishToSelf: boolean;
}

/** TLS settings of `Bun.serve` (PEM strings or buffers). */
export interface BunTls {
  key: string | Uint8Array;
  cert: string | Uint8Array;
  ca?: string | Uint8Array | (string | Uint8Array)[];
}

/** A running `Bun.serve` server. */
export interface BunServer<T> {
  readonly port: number;
  upgrade(req: Request, options: { data: T; headers?: Record<string, string> }): boolean;
  /** Sends to every subscriber of `topic` (a string as text, bytes as binary); returns bytes sent, 0 if none. */
  publish(topic: string, data: string | Uint8Array): number;
  requestIP(req: Request): { address: string; family: string; port: number } | null;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}

/** The options of `Bun.serve` the transport passes. */
export interface BunServeOptions<T> {
  port: number;
  hostname?: string;
  /** Seconds an HTTP connection may stay idle (a request's headers included); 0..255. */
  idleTimeout: number;
  tls?: BunTls;
  fetch(req: Request, server: BunServer<T>): Response | undefined | Promise<Response | undefined>;
  error(err: Error): Response;
  websocket: BunWebSocketHandler<T>;
}

/** The global `Bun` object, as far as the transport uses it. */
export interface BunRuntime {
  readonly version: string;
  serve<T>(options: BunServeOptions<T>): BunServer<T>;
}

/** The running Bun, or `undefined` under any other runtime. */
export function bunRuntime(): BunRuntime | undefined {
  const bun = (globalThis as { Bun?: Partial<BunRuntime> }).Bun;
  return typeof bun?.serve === 'function' ? (bun as BunRuntime) : undefined;
}
