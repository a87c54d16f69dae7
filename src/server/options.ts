/**
 * Server options, their defaults, and the one place they are merged and checked.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Engine } from '../engines/engine.js';
import type { CodecName } from '../protocol/codec.js';
import type { Logger } from '../shared/logger.js';
import { consoleLogger } from '../shared/logger.js';
import { bool, func, knownKeys, nonNegativeInt, optionKeys, nonNegativeMs, oneOf, positiveInt, positiveMs, positiveNumber, withDefaults } from '../shared/options.js';
import { checkTls, type TlsOptions } from '../shared/tls.js';
import { resolveHealth, type HealthOptions, type HealthPaths } from '../net/health.js';
import { defaultMemberKey } from './members.js';
import type { SseOptions } from './sse-options.js';
import type { Observer } from './observe.js';

/** Decides who connects. Return the identity to accept, `null`/`undefined` to refuse with HTTP 401. */
export type Authenticate<Identity> = (
  req: IncomingMessage,
  token: string | undefined,
) => Identity | null | undefined | Promise<Identity | null | undefined>;

export interface HeartbeatOptions {
  /** How often silent peers are pinged, in ms. Sent to clients in `welcome`. @default 30000 */
  intervalMs: number;
  /** How long a pinged peer has to show a sign of life before it is terminated, in ms. @default 10000 */
  timeoutMs: number;
}

/** A token bucket: `burst` requests at once, refilled at `perSecond`. */
export interface RateOptions {
  /** Sustained requests per second per connection. @default 100 */
  perSecond: number;
  /** Requests allowed at once above the sustained rate. @default 200 */
  burst: number;
}

/** Every limit has a safe default; docs/security.md says what each one stops. */
export interface LimitOptions {
  /** Largest accepted message in bytes (after decompression); a larger one closes the connection with MESSAGE_TOO_BIG (1009). @default 1048576 (1 MiB) */
  maxPayload: number;
  /**
   * Requests (calls, publishes, subscribes…) per connection. Over it a request is refused with
   * `RATE_LIMITED`; `burst` more refusals without slowing down close the connection with POLICY_VIOLATION (1008).
   * `false` turns it off. @default { perSecond: 100, burst: 200 }
   */
  rate: RateOptions | false;
  /** Open connections in all; one more is refused with HTTP 503. @default 10000 */
  maxConnections: number;
  /** Open connections from one IP address (the socket's peer address); one more gets HTTP 429. @default 100 */
  maxConnectionsPerIp: number;
  /** How long an HTTP upgrade request (headers, then `authenticate`) may take, in ms; slowloris guard. @default 10000 */
  handshakeTimeoutMs: number;
  /** Topics one connection may be subscribed to; one more is refused with `LIMIT_EXCEEDED`. @default 1000 */
  maxSubscriptionsPerConnection: number;
  /** Commands of one connection running at once; one more is refused with `LIMIT_EXCEEDED`. @default 100 */
  maxPendingCalls: number;
  /**
   * Bytes the server holds for one connection before it watches it. Past it a volatile message is
   * dropped for that connection; any other is still sent, and the connection must then write
   * something out within every `slowConsumerGraceMs` until its buffer is empty, or it is closed
   * with SLOW_CONSUMER (4001). Past 4 × this bound it is closed at once, however fast it drains
   * (a hard cap on memory). `server.drained()` waits for every connection to be back under it.
   * @default 8388608 (8 MiB)
   */
  sendBufferBytes: number;
  /**
   * How long a connection over `sendBufferBytes` may go without the operating system accepting a
   * single byte of its buffer before it is closed with SLOW_CONSUMER (4001), in ms. A burst that
   * the peer keeps reading is not a slow consumer. The default is the write deadline NATS uses; a
   * shorter one dropped healthy readers of a 20 MiB burst to 1,000 subscribers on a loaded 2-core
   * machine, whose kernel stalled some sockets for seconds (docs/security.md, "Slow consumers").
   * @default 10000
   */
  slowConsumerGraceMs: number;
}

/**
 * Coalescing of items produced close together into one frame (the client still yields them one by
 * one). Lives here, not beside the stream table, so the public declaration files never reach the
 * connection's socket types.
 */
export interface BatchOptions {
  /** Most items in one frame. @default 64 */
  maxItems: number;
  /** Longest time an item waits for companions, in ms. @default 5 */
  maxDelayMs: number;
}

/** Topic history (docs/protocol.md §2.7). */
export interface HistoryConfig {
  /** Messages kept per topic, the newest. @default 100 */
  size?: number;
  /** How long each message is kept, in ms. @default 300000 (5 minutes) */
  ttlMs?: number;
}

/** Idempotent calls (docs/protocol.md §2.8). */
export interface IdempotencyOptions<Identity> {
  /** How long a call's outcome is remembered for its repeats, in ms. @default 600000 (10 minutes) */
  ttlMs: number;
  /**
   * How long a running call holds its key before another node may run it (a node that died while
   * running must not block the key for the whole window), in ms. @default 60000
   */
  leaseMs: number;
  /**
   * The scope of keys: calls with the same key in different scopes are different calls.
   * @default one shared scope for an `undefined` identity, else the presence member id, else
   * (an identity without `id`/`sub`) a digest of the identity
   */
  scope?(identity: Identity): string;
}

export interface PresenceOptions<Identity, Info = unknown> {
  /**
   * Derives a member id from a connection's identity. Connections with the same id are one member.
   * @default identity itself when a string, else its string `id` or `sub`, else the clientId
   */
  key(identity: Identity, clientId: string): string;
  /** Public information shown to other subscribers (never the whole identity by default). @default none */
  info?(identity: Identity): Info;
}

/** Options of `createServer`; `Info` is what `presence.info` returns (typed on the client's members). */
export interface ServerOptions<Identity = unknown, Info = unknown> {
  /** Port to listen on; 0 picks a free one. Not allowed together with `server`. @default 0 */
  port?: number;
  /** Host to bind when listening on `port`. @default all interfaces (Node's default) */
  host?: string;
  /** Attach to an existing HTTP server (Express, Fastify, plain `http`) instead of creating one. */
  server?: HttpServer;
  /** URL path of the WebSocket endpoint. @default '/ws' */
  path?: string;
  /** Accepts or refuses a connection before the upgrade. @default everyone is accepted, identity `undefined` */
  authenticate?: Authenticate<Identity>;
  /** Browser origins allowed to connect (exact match, e.g. `https://app.example`). Requests without an Origin header pass. @default every origin */
  origins?: string[];
  /** Liveness checking. @default { intervalMs: 30000, timeoutMs: 10000 } */
  heartbeat?: Partial<HeartbeatOptions>;
  /** Resource limits; each field has its own default (see {@link LimitOptions}). */
  limits?: Partial<Omit<LimitOptions, 'rate'>> & { rate?: Partial<RateOptions> | false };
  /** Codecs clients may negotiate (docs/protocol.md §2.6); a client offering none of them gets HTTP 400. @default ['json', 'msgpack'] */
  codecs?: CodecName[];
  /** permessage-deflate. Off by default (CPU and memory per connection; CRIME-style leaks). `limits.maxPayload` bounds the inflated size. @default false */
  compression?: boolean;
  /** First-message authentication: how long the client has to send its `auth` frame, in ms. @default 5000 */
  authTimeoutMs?: number;
  /** After a `refresh` request, how long the client has to send a fresh token, in ms. @default 10000 */
  refreshGraceMs?: number;
  /** When an identity stops being valid, in ms since the epoch. @default a numeric `exp` claim × 1000 */
  expiresAt?: (identity: Identity) => number | undefined;
  /** Fan-out, presence, history and call-record backend shared between server nodes. @default the in-memory engine */
  engine?: Engine;
  /**
   * History for every topic whose rule does not set its own (`false`: none). Subscribers that
   * reconnect within the window get every message they missed (docs/guarantees.md).
   * @default false
   */
  history?: HistoryConfig | false;
  /** Idempotent calls: how long outcomes are remembered. @default { ttlMs: 600000, leaseMs: 60000 } */
  idempotency?: Partial<IdempotencyOptions<Identity>>;
  /** How presence members are derived from identities. */
  presence?: Partial<PresenceOptions<Identity, Info>>;
  /** Where errors thrown by handlers are reported. pino-compatible. @default errors/warnings to stderr */
  logger?: Logger;
  /** How long `close()` waits for clients to finish the close handshake before terminating them, in ms. @default 5000 */
  shutdownTimeoutMs?: number;
  /**
   * Which transport carries the WebSockets (docs/server.md, "Runtimes and transports"): `'node'`
   * (Node's `http` and `ws`; also what runs under Bun's Node compatibility), `'bun'` (`Bun.serve`,
   * only under Bun and without `server`), or `'auto'`: `'bun'` when running under Bun with no
   * `server` option, `'node'` otherwise.
   * @default 'auto'
   */
  runtime?: Runtime;
  /**
   * Write coalescing: frames for one connection within this many ms leave in one write (fewer
   * syscalls per message, more latency; docs/performance.md, "Write coalescing"). 0 writes at the
   * end of each turn of the event loop.
   * @default 0
   */
  writeDelayMs?: number;
  /**
   * Serve `wss://` from Switchboard's own server (on Node an `https` server, on Bun `Bun.serve`'s
   * `tls`). Not together with `server`: an attached server has its own TLS. @default plain `ws://`
   */
  tls?: TlsOptions;
  /**
   * Health checks on the server's own HTTP server (or the attached one): `true` serves a liveness
   * check at `/healthz` and a readiness check at `/readyz`, each answering JSON; an object picks
   * the paths (docs/deploy.md, "Health checks"). @default false (no health routes)
   */
  health?: boolean | HealthOptions;
  /**
   * The SSE + HTTP fallback for clients whose WebSocket is blocked (docs/server.md, "SSE
   * fallback"; docs/protocol.md §8): `true`, or its settings. Off by default: it adds HTTP
   * endpoints under `path` + `/sse`, and across several nodes it needs an engine that relays.
   * @default false
   */
  sse?: boolean | SseOptions;
  /**
   * Instrumentation (docs/observability.md): `prometheus()` from `switchboard/metrics`, `otel()` from
   * `switchboard/otel`, your own `defineObserver({...})`, or a list of them. @default none (nothing is measured)
   */
  observe?: Observer | readonly Observer[];
}

/** The `tls` option: PEM text (or its bytes) of the server's key and certificate chain (shared/tls.ts). */
export type { TlsOptions } from '../shared/tls.js';

/** The `runtime` option: which transport adapter carries the WebSockets. */
export type Runtime = 'auto' | 'node' | 'bun';

/** Options after defaults were applied. */
export interface ResolvedOptions<Identity> {
  codecs: ReadonlySet<CodecName>;
  compression: boolean;
  authTimeoutMs: number;
  refreshGraceMs: number;
  expiresAt: (identity: Identity) => number | undefined;
  port: number;
  host: string | undefined;
  server: HttpServer | undefined;
  path: string;
  authenticate: Authenticate<Identity> | undefined;
  origins: ReadonlySet<string> | undefined;
  heartbeat: HeartbeatOptions;
  limits: LimitOptions;
  presence: PresenceOptions<Identity>;
  logger: Logger;
  shutdownTimeoutMs: number;
  runtime: Runtime;
  writeDelayMs: number;
  tls: TlsOptions | undefined;
  health: HealthPaths | undefined;
  history: Required<HistoryConfig> | false;
  /** `scope` stays unset when not given: members.ts derives it from the member id. */
  idempotency: IdempotencyOptions<Identity>;
}

function defaultExpiresAt(identity: unknown): number | undefined {
  const exp = (identity as { exp?: unknown } | null | undefined)?.exp;
  return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
}

/** The server's defaults, in one object; `createServer` merges the options over it once. */
export const SERVER_DEFAULTS = {
  port: 0,
  path: '/ws',
  heartbeat: { intervalMs: 30_000, timeoutMs: 10_000 },
  limits: {
    maxPayload: 1_048_576,
    rate: { perSecond: 100, burst: 200 },
    maxConnections: 10_000,
    maxConnectionsPerIp: 100,
    handshakeTimeoutMs: 10_000,
    maxSubscriptionsPerConnection: 1_000,
    maxPendingCalls: 100,
    sendBufferBytes: 8 * 1_048_576,
    slowConsumerGraceMs: 10_000,
  },
  codecs: ['json', 'msgpack'] as CodecName[],
  compression: false,
  authTimeoutMs: 5_000,
  refreshGraceMs: 10_000,
  expiresAt: defaultExpiresAt as (identity: unknown) => number | undefined,
  presence: { key: defaultMemberKey as (identity: unknown, clientId: string) => string },
  logger: consoleLogger as Logger,
  shutdownTimeoutMs: 5_000,
  runtime: 'auto' as Runtime,
  writeDelayMs: 0,
  /** A history configuration's defaults, for the server's `history` and each rule's; without one a topic has none. */
  history: { size: 100, ttlMs: 300_000 },
  idempotency: { ttlMs: 600_000, leaseMs: 60_000 },
  /** `server.stream(name, { batch })`: a batch's defaults (docs/streams.md). */
  stream: { batch: { maxItems: 64, maxDelayMs: 5 } },
  /** `server.upload(name, { highWaterMark })`. */
  upload: { highWaterMark: 16 },
  /** `server.drain()` (docs/server.md, "Draining"). */
  drain: { timeoutMs: 20_000 },
} as const;

/** Checks a history configuration and fills in its defaults. */
export function resolveHistory(name: string, h: HistoryConfig | false | undefined): Required<HistoryConfig> | false | undefined {
  if (h === undefined || h === false) return h;
  if (typeof h !== 'object' || h === null) throw new TypeError(`${name} must be an object or false`);
  const { size, ttlMs } = withDefaults(SERVER_DEFAULTS.history as Required<HistoryConfig>, knownKeys(name, h, KEYS.history));
  return { size: positiveInt(`${name}.size`, size), ttlMs: positiveNumber(`${name}.ttlMs`, ttlMs) };
}

function resolveCodecs(list: readonly CodecName[]): ReadonlySet<CodecName> {
  if (!Array.isArray(list) || list.length === 0) throw new TypeError(`codecs must list 'json' and/or 'msgpack', got ${JSON.stringify(list)}`);
  return new Set(list.map((c, i) => oneOf(`codecs[${i}]`, c, ['json', 'msgpack'] as const)));
}

/**
 * The option names of each level, for refusing a misspelt one (`hearbeat`, `limits.maxPayloads`)
 * instead of ignoring it: JavaScript callers have no compiler to tell them.
 */
const KEYS = {
  top: optionKeys<ServerOptions>({ port: 1, host: 1, server: 1, path: 1, authenticate: 1, origins: 1, heartbeat: 1, limits: 1, codecs: 1, compression: 1, authTimeoutMs: 1, refreshGraceMs: 1, expiresAt: 1, engine: 1, history: 1, idempotency: 1, presence: 1, logger: 1, shutdownTimeoutMs: 1, runtime: 1, writeDelayMs: 1, tls: 1, health: 1, sse: 1, observe: 1 }),
  limits: optionKeys<LimitOptions>({ maxPayload: 1, rate: 1, maxConnections: 1, maxConnectionsPerIp: 1, handshakeTimeoutMs: 1, maxSubscriptionsPerConnection: 1, maxPendingCalls: 1, sendBufferBytes: 1, slowConsumerGraceMs: 1 }),
  rate: optionKeys<RateOptions>({ perSecond: 1, burst: 1 }),
  heartbeat: optionKeys<HeartbeatOptions>({ intervalMs: 1, timeoutMs: 1 }),
  history: optionKeys<HistoryConfig>({ size: 1, ttlMs: 1 }),
  presence: optionKeys<PresenceOptions<unknown>>({ key: 1, info: 1 }),
  idempotency: optionKeys<IdempotencyOptions<unknown>>({ ttlMs: 1, leaseMs: 1, scope: 1 }),
};

/** Merges options with {@link SERVER_DEFAULTS} (an `undefined` field means its default) and rejects impossible ones with a `TypeError`. */
export function resolveOptions<Identity>(o: ServerOptions<Identity>): ResolvedOptions<Identity> {
  const d = SERVER_DEFAULTS;
  knownKeys('', o, KEYS.top);
  knownKeys('heartbeat', o.heartbeat, KEYS.heartbeat);
  knownKeys('limits', o.limits, KEYS.limits);
  if (o.limits?.rate) knownKeys('limits.rate', o.limits.rate, KEYS.rate);
  knownKeys('presence', o.presence, KEYS.presence);
  knownKeys('idempotency', o.idempotency, KEYS.idempotency);
  if (o.server && o.port !== undefined) throw new TypeError('pass either `port` or `server`, not both');
  if (o.server && o.tls !== undefined) throw new TypeError('pass either `tls` or `server`, not both (an attached server has its own TLS)');
  const top = withDefaults(
    {
      port: d.port as number,
      path: d.path as string,
      codecs: d.codecs as readonly CodecName[],
      compression: d.compression as boolean,
      authTimeoutMs: d.authTimeoutMs as number,
      refreshGraceMs: d.refreshGraceMs as number,
      shutdownTimeoutMs: d.shutdownTimeoutMs as number,
      runtime: d.runtime as Runtime,
      writeDelayMs: d.writeDelayMs as number,
      expiresAt: d.expiresAt as (identity: Identity) => number | undefined,
      logger: d.logger,
    },
    {
      port: o.port,
      path: o.path,
      codecs: o.codecs,
      compression: o.compression,
      authTimeoutMs: o.authTimeoutMs,
      refreshGraceMs: o.refreshGraceMs,
      shutdownTimeoutMs: o.shutdownTimeoutMs,
      runtime: o.runtime,
      writeDelayMs: o.writeDelayMs,
      expiresAt: o.expiresAt,
      logger: o.logger,
    },
  );
  if (typeof top.path !== 'string' || !top.path.startsWith('/')) throw new TypeError('`path` must start with "/"');
  const heartbeat = withDefaults(d.heartbeat as HeartbeatOptions, o.heartbeat);
  const { rate: givenRate, ...givenLimits } = o.limits ?? {};
  const { rate: defaultRate, ...defaultLimits } = d.limits;
  const limits = withDefaults(defaultLimits as Omit<LimitOptions, 'rate'>, givenLimits);
  const rate = givenRate === false ? false : withDefaults(defaultRate as RateOptions, givenRate);
  const presence = withDefaults({ key: d.presence.key as PresenceOptions<Identity>['key'], info: undefined as PresenceOptions<Identity>['info'] }, o.presence);
  const idempotency = withDefaults({ ttlMs: d.idempotency.ttlMs as number, leaseMs: d.idempotency.leaseMs as number, scope: undefined as IdempotencyOptions<Identity>['scope'] }, o.idempotency);
  return {
    port: nonNegativeInt('port', top.port),
    host: o.host,
    server: o.server,
    path: top.path,
    authenticate: o.authenticate === undefined ? undefined : func<Authenticate<Identity>>('authenticate', o.authenticate),
    origins: o.origins ? new Set(o.origins) : undefined,
    heartbeat: {
      intervalMs: positiveMs('heartbeat.intervalMs', heartbeat.intervalMs),
      timeoutMs: positiveMs('heartbeat.timeoutMs', heartbeat.timeoutMs),
    },
    limits: {
      maxPayload: positiveInt('limits.maxPayload', limits.maxPayload),
      rate: rate && {
        perSecond: positiveNumber('limits.rate.perSecond', rate.perSecond),
        burst: positiveNumber('limits.rate.burst', rate.burst),
      },
      maxConnections: positiveInt('limits.maxConnections', limits.maxConnections),
      maxConnectionsPerIp: positiveInt('limits.maxConnectionsPerIp', limits.maxConnectionsPerIp),
      handshakeTimeoutMs: positiveMs('limits.handshakeTimeoutMs', limits.handshakeTimeoutMs),
      maxSubscriptionsPerConnection: positiveInt('limits.maxSubscriptionsPerConnection', limits.maxSubscriptionsPerConnection),
      maxPendingCalls: positiveInt('limits.maxPendingCalls', limits.maxPendingCalls),
      sendBufferBytes: positiveInt('limits.sendBufferBytes', limits.sendBufferBytes),
      slowConsumerGraceMs: positiveMs('limits.slowConsumerGraceMs', limits.slowConsumerGraceMs),
    },
    codecs: resolveCodecs(top.codecs),
    compression: bool('compression', top.compression),
    authTimeoutMs: positiveMs('authTimeoutMs', top.authTimeoutMs),
    refreshGraceMs: positiveMs('refreshGraceMs', top.refreshGraceMs),
    expiresAt: func('expiresAt', top.expiresAt),
    presence: {
      key: func('presence.key', presence.key),
      ...(presence.info === undefined ? {} : { info: func<NonNullable<PresenceOptions<Identity>['info']>>('presence.info', presence.info) }),
    },
    logger: top.logger,
    shutdownTimeoutMs: nonNegativeMs('shutdownTimeoutMs', top.shutdownTimeoutMs),
    runtime: oneOf('runtime', top.runtime, ['auto', 'node', 'bun'] as const),
    writeDelayMs: nonNegativeMs('writeDelayMs', top.writeDelayMs),
    tls: checkTls('tls', o.tls),
    health: resolveHealth(o.health, top.path),
    history: resolveHistory('history', o.history) ?? false,
    idempotency: {
      ttlMs: positiveNumber('idempotency.ttlMs', idempotency.ttlMs),
      leaseMs: positiveMs('idempotency.leaseMs', idempotency.leaseMs),
      ...(idempotency.scope === undefined ? {} : { scope: func<NonNullable<IdempotencyOptions<Identity>['scope']>>('idempotency.scope', idempotency.scope) }),
    },
  };
}
