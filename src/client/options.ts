/**
 * Client options, their defaults, and the one place they are merged and checked.
 */
import type { CodecName } from '../protocol/codec.js';
import type { WebSocketConstructor } from './socket.js';

/** A token, or a function that yields one; called before every connection attempt. */
export type TokenProvider = string | (() => string | undefined | Promise<string | undefined>);

/** Where to connect: one URL, several to fail over between (tried in turn), or a function. */
export type UrlProvider = string | readonly string[] | ((attempt: number) => string | Promise<string>);

export interface ReconnectOptions {
  /** Ceiling of the first delay, in ms. @default 500 */
  initialDelayMs: number;
  /** Largest ceiling of any delay, in ms. @default 30000 */
  maxDelayMs: number;
  /** Attempts after a drop before giving up (`Infinity` never gives up). @default Infinity */
  maxAttempts: number;
  /** How long a connection must stay open before the attempt counter resets, in ms. @default 5000 */
  stableAfterMs: number;
}

export interface ClientHeartbeatOptions {
  /** Silence after which the client sends a ping, in ms. @default the server's (from `welcome`) */
  intervalMs?: number;
  /** How long to wait for any frame after the ping, in ms. @default the server's (from `welcome`) */
  timeoutMs?: number;
}

/** How the client sends its token (docs/security.md). Cookies need no option: browsers send them. */
export type TokenTransport = 'protocol' | 'query' | 'message';

export interface ClientOptions {
  /** Wire codec (docs/protocol.md §2.6): JSON, or MessagePack (smaller, faster for binary data). @default 'json' */
  codec?: CodecName;
  /** Sent with every connection attempt; a function is called again before each one, and when the server asks for a refresh. @default none */
  token?: TokenProvider;
  /**
   * Where the token travels: a `Sec-WebSocket-Protocol` entry (works in browsers, not logged by
   * proxies), the query string (`?token=`, for servers that need it), or the first message after
   * the upgrade. The server must accept the same transport. @default 'protocol'
   */
  tokenIn?: TokenTransport;
  /** Query parameter with `tokenIn: 'query'`. @default 'token' */
  tokenQueryParam?: string;
  /** How long one connection attempt (the first too) may take until the server's `welcome`, in ms. @default 10000 */
  connectTimeoutMs?: number;
  /** Reconnect policy, or `false` to never reconnect. @default on, with the values of {@link ReconnectOptions} */
  reconnect?: false | Partial<ReconnectOptions>;
  /** Client-side liveness check, or `false` to rely on the OS. @default the server's values */
  heartbeat?: false | ClientHeartbeatOptions;
  /** Default timeout of `call`, `publish` and subscription requests, counted from the call, in ms. @default 30000 */
  timeoutMs?: number;
  /** Requests that may wait while the client is not open; one more rejects with `QUEUE_FULL`. @default 1000 */
  maxQueue?: number;
  /** WebSocket implementation to use instead of the runtime's. @default `globalThis.WebSocket` (browser entry) or `ws` (Node entry) */
  WebSocket?: WebSocketConstructor;
}

export interface ResolvedClientOptions {
  codec: CodecName;
  token: TokenProvider | undefined;
  tokenIn: TokenTransport;
  tokenQueryParam: string;
  reconnect: ReconnectOptions | false;
  connectTimeoutMs: number;
  heartbeat: ClientHeartbeatOptions | false;
  timeoutMs: number;
  maxQueue: number;
}

/** The defaults, in one object. */
export const CLIENT_DEFAULTS = {
  reconnect: { initialDelayMs: 500, maxDelayMs: 30_000, maxAttempts: Infinity, stableAfterMs: 5_000 },
  connectTimeoutMs: 10_000,
  timeoutMs: 30_000,
  maxQueue: 1000,
} as const;

/** Merges options with {@link CLIENT_DEFAULTS}; impossible values throw a `TypeError`. */
export function resolveClientOptions(o: ClientOptions): ResolvedClientOptions {
  const reconnect = o.reconnect === false ? false : { ...CLIENT_DEFAULTS.reconnect, ...o.reconnect };
  if (reconnect) {
    for (const [k, v] of Object.entries(reconnect)) {
      if (typeof v !== 'number' || Number.isNaN(v) || v < 0) throw new TypeError(`reconnect.${k} must be a non-negative number`);
    }
    if (reconnect.initialDelayMs > reconnect.maxDelayMs) throw new TypeError('reconnect.initialDelayMs must not exceed maxDelayMs');
  }
  const timeoutMs = o.timeoutMs ?? CLIENT_DEFAULTS.timeoutMs;
  const maxQueue = o.maxQueue ?? CLIENT_DEFAULTS.maxQueue;
  if (!(timeoutMs > 0)) throw new TypeError('timeoutMs must be positive');
  if (!(maxQueue >= 0)) throw new TypeError('maxQueue must be non-negative');
  const connectTimeoutMs = o.connectTimeoutMs ?? CLIENT_DEFAULTS.connectTimeoutMs;
  if (!(connectTimeoutMs > 0)) throw new TypeError('connectTimeoutMs must be positive');
  const tokenIn = o.tokenIn ?? 'protocol';
  if (!['protocol', 'query', 'message'].includes(tokenIn)) throw new TypeError(`tokenIn must be 'protocol', 'query' or 'message'`);
  const codec = o.codec ?? 'json';
  if (codec !== 'json' && codec !== 'msgpack') throw new TypeError(`codec must be 'json' or 'msgpack'`);
  return { codec, token: o.token, tokenIn, tokenQueryParam: o.tokenQueryParam ?? 'token', reconnect, connectTimeoutMs, heartbeat: o.heartbeat ?? {}, timeoutMs, maxQueue };
}
