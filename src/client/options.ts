/**
 * Client options, their defaults, and the one place they are merged and checked.
 */
import type { Codec } from '../protocol/codec.js';
import type { ClientTokenTransport } from '../protocol/subprotocol.js';
import { check, nonEmptyString, nonNegativeInt, nonNegativeMs, oneOf, positiveMs, withDefaults } from '../shared/options.js';
import type { ClientTlsOptions } from '../shared/tls.js';
import type { WebSocketConstructor } from './socket.js';

/** A token, or a function that yields one; called before every connection attempt. */
export type TokenProvider = string | (() => string | undefined | Promise<string | undefined>);

/** Where to connect: one URL, several to fail over between (tried in turn), or a function. */
export type UrlProvider = string | readonly string[] | ((attempt: number) => string | Promise<string>);

/** When and how often the client reconnects after a drop (docs/client.md, "Reconnection"). */
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

/** Overrides of the liveness check the server announces in `welcome`. */
export interface ClientHeartbeatOptions {
  /** Silence after which the client sends a ping, in ms. @default the server's (from `welcome`) */
  intervalMs?: number;
  /** How long to wait for any frame after the ping, in ms. @default the server's (from `welcome`) */
  timeoutMs?: number;
}

/** Options of `connect`. Any option given as `undefined` keeps its default ({@link CLIENT_DEFAULTS}). */
export interface ClientOptions {
  /**
   * Wire codec (docs/protocol.md §2.6): `'json'`, built in, or a codec object such as `msgpack()`
   * from `switchboard/msgpack` (smaller, faster for binary data), which only apps that choose it
   * bundle. @default 'json'
   */
  codec?: 'json' | Codec;
  /** Sent with every connection attempt; a function is called again before each one, and when the server asks for a refresh. @default none */
  token?: TokenProvider;
  /**
   * Where the token travels: a `Sec-WebSocket-Protocol` entry (works in browsers, not logged by
   * proxies), the query string (`?token=`, for servers that need it), or the first message after
   * the upgrade. The server must accept the same transport. @default 'protocol'
   */
  tokenIn?: ClientTokenTransport;
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
  /**
   * Node only (the `ws` transport): how `wss://` servers are verified, and a client certificate
   * for mutual TLS (docs/client.md, "TLS"). A browser trusts what its system trusts; the browser
   * entry refuses this option. @default the system's CAs, no client certificate
   */
  tls?: ClientTlsOptions;
}

/** The options after merging with {@link CLIENT_DEFAULTS} and checking. */
export interface ResolvedClientOptions {
  codec: 'json' | Codec;
  token: TokenProvider | undefined;
  tokenIn: ClientTokenTransport;
  tokenQueryParam: string;
  reconnect: ReconnectOptions | false;
  connectTimeoutMs: number;
  heartbeat: ClientHeartbeatOptions | false;
  timeoutMs: number;
  maxQueue: number;
}

/** Every default of the client, in one table (docs/client.md lists them). */
export const CLIENT_DEFAULTS = {
  codec: 'json',
  tokenIn: 'protocol',
  tokenQueryParam: 'token',
  connectTimeoutMs: 10_000,
  reconnect: { initialDelayMs: 500, maxDelayMs: 30_000, maxAttempts: Infinity, stableAfterMs: 5_000 },
  /** No override: the client uses the interval and timeout the server announces in `welcome`. */
  heartbeat: {},
  timeoutMs: 30_000,
  maxQueue: 1000,
} as const satisfies Omit<Required<ClientOptions>, 'token' | 'WebSocket' | 'reconnect' | 'tls'> & { reconnect: ReconnectOptions };

/** Checks one option's value (`path` names it in the `TypeError`) and returns it. */
type Check = (path: string, v: never) => unknown;

/** `Infinity` (no limit), else what `check` accepts. */
const orInfinity = (check: Check): Check => (path, v) => (v === Infinity ? v : check(path, v));

/**
 * `given` merged over `defaults` ({@link withDefaults}) and each field of `checks` checked, its path
 * prefixed with `prefix`; a field that is `undefined` after the merge stays out. The one code path
 * of every level of the client's options.
 */
function resolveLevel<T>(prefix: string, defaults: object, given: unknown, checks: { [K in keyof T]: Check }): T {
  // A misspelt option (`reconect: false`) is refused, not ignored. `WebSocket` and `tls` are taken
  // by the entry that creates the socket, not here.
  // withDefaults first: it refuses options that are not an object (`connect(url, 'token')`).
  const merged = withDefaults(defaults as Record<string, unknown>, given as Record<string, unknown>);
  const names = prefix ? Object.keys(checks) : [...Object.keys(checks), ...ENTRY_OPTIONS];
  for (const key of Object.keys(given ?? {})) {
    if (!names.includes(key)) throw new TypeError(`${prefix}${key} is not an option (${names.join(', ')})`);
  }
  const out = {} as Record<string, unknown>;
  for (const key in checks) {
    const v = merged[key];
    if (v !== undefined) out[key] = checks[key](prefix + key, v as never);
  }
  return out as T;
}

/** Options taken by the entry that makes the socket, not resolved here. */
const ENTRY_OPTIONS = ['WebSocket', 'tls'] as const;
type Never<T extends never> = T;
/**
 * A compile-time check, no code: every option of {@link ClientOptions} is resolved here or named in
 * `ENTRY_OPTIONS` (an option added to neither is a type error, not a run-time refusal).
 * @internal
 */
export type EveryClientOptionListed = Never<Exclude<keyof ClientOptions, keyof ResolvedClientOptions | (typeof ENTRY_OPTIONS)[number]>>;

/** A nested level (`reconnect`, `heartbeat`): `false` turns it off; `true` (not in the type, but it worked) means the defaults. */
const nested =
  <T>(defaults: object, checks: { [K in keyof T]: Check }): Check =>
  (path, v: unknown) => {
    if (v === false) return v;
    check(path, v, v === true || (typeof v === 'object' && v !== null), 'false or an object');
    return resolveLevel<T>(`${path}.`, defaults, v === true ? undefined : v, checks);
  };

const reconnectLevel = nested<ReconnectOptions>(CLIENT_DEFAULTS.reconnect, {
  initialDelayMs: nonNegativeMs,
  maxDelayMs: nonNegativeMs,
  maxAttempts: orInfinity(nonNegativeInt),
  stableAfterMs: nonNegativeMs,
});

/** How each top-level option is checked, in the order they are checked. */
const CHECKS: { [K in keyof ResolvedClientOptions]: Check } = {
  token: (path, v: unknown) => check(path, v, typeof v === 'string' || typeof v === 'function', 'a string or a function'),
  tokenQueryParam: nonEmptyString,
  reconnect(path, v: ReconnectOptions | false) {
    const r = reconnectLevel(path, v as never) as ReconnectOptions | false;
    if (r && r.initialDelayMs > r.maxDelayMs) throw new TypeError('reconnect.initialDelayMs must not exceed reconnect.maxDelayMs');
    return r;
  },
  heartbeat: nested<ClientHeartbeatOptions>(CLIENT_DEFAULTS.heartbeat, { intervalMs: positiveMs, timeoutMs: positiveMs }),
  codec: resolveCodec,
  tokenIn: (path, v) => oneOf(path, v, ['protocol', 'query', 'message']),
  connectTimeoutMs: positiveMs,
  // `Infinity`: no deadline (the request table sets no timer).
  timeoutMs: orInfinity(positiveMs),
  maxQueue: nonNegativeInt,
};

/**
 * Merges options with {@link CLIENT_DEFAULTS} (an option given as `undefined` keeps its default, at
 * every level); a value out of range throws a `TypeError` naming the option.
 */
export function resolveClientOptions(options: ClientOptions = {}): ResolvedClientOptions {
  return resolveLevel<ResolvedClientOptions>('', CLIENT_DEFAULTS, options, CHECKS);
}

/**
 * `'json'` or a {@link Codec}. The name `'msgpack'` is refused with the fix: MessagePack is a
 * plug-in, so a client that never imports it never bundles it (docs/client.md, "Codecs").
 */
function resolveCodec(path: string, c: unknown): 'json' | Codec {
  if (c === 'msgpack') throw new TypeError("codec: 'msgpack' is a plug-in now: import { msgpack } from 'switchboard/msgpack' and pass codec: msgpack()");
  const k = c as Codec | null;
  const isCodec = c === 'json' || (typeof k === 'object' && k !== null && typeof k.subprotocol === 'string' && typeof k.encode === 'function' && typeof k.decode === 'function');
  return check(path, c, isCodec, "'json' or a codec object such as msgpack() from 'switchboard/msgpack'");
}
