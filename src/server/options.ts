/**
 * Server options, their defaults, and the one place they are merged and checked.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Engine } from '../engines/engine.js';
import type { Logger } from './logger.js';
import { consoleLogger } from './logger.js';

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

export interface LimitOptions {
  /** Largest accepted message in bytes; a larger one closes the connection with 1009. @default 1048576 (1 MiB) */
  maxPayload: number;
}

export interface PresenceOptions<Identity> {
  /**
   * Derives a member id from a connection's identity. Connections with the same id are one member.
   * @default identity itself when a string, else its string `id` or `sub`, else the clientId
   */
  key(identity: Identity, clientId: string): string;
  /** Public information shown to other subscribers (never the whole identity by default). @default none */
  info?(identity: Identity): unknown;
}

export interface ServerOptions<Identity = unknown> {
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
  /** Resource limits. @default { maxPayload: 1048576 } */
  limits?: Partial<LimitOptions>;
  /** Fan-out and presence backend shared between server nodes. @default the in-memory engine */
  engine?: Engine;
  /** How presence members are derived from identities. */
  presence?: Partial<PresenceOptions<Identity>>;
  /** Where errors thrown by handlers are reported. pino-compatible. @default errors/warnings to stderr */
  logger?: Logger;
  /** How long `close()` waits for clients to finish the close handshake before terminating them, in ms. @default 5000 */
  shutdownTimeoutMs?: number;
}

/** Options after defaults were applied. */
export interface ResolvedOptions<Identity> {
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
}

function defaultKey(identity: unknown, clientId: string): string {
  if (typeof identity === 'string' && identity) return identity;
  if (typeof identity === 'object' && identity !== null) {
    const { id, sub } = identity as { id?: unknown; sub?: unknown };
    if (typeof id === 'string' && id) return id;
    if (typeof id === 'number') return String(id);
    if (typeof sub === 'string' && sub) return sub;
  }
  return clientId;
}

/** The defaults, in one object. */
export const DEFAULTS = {
  port: 0,
  path: '/ws',
  heartbeat: { intervalMs: 30_000, timeoutMs: 10_000 },
  limits: { maxPayload: 1_048_576 },
  shutdownTimeoutMs: 5_000,
} as const;

function positive(name: string, v: number, allowZero = false): number {
  if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new TypeError(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${v}`);
  }
  return v;
}

/** Merges options with {@link DEFAULTS} and rejects impossible combinations with a `TypeError`. */
export function resolveOptions<Identity>(o: ServerOptions<Identity>): ResolvedOptions<Identity> {
  if (o.server && o.port !== undefined) throw new TypeError('pass either `port` or `server`, not both');
  const path = o.path ?? DEFAULTS.path;
  if (!path.startsWith('/')) throw new TypeError('`path` must start with "/"');
  const heartbeat = { ...DEFAULTS.heartbeat, ...o.heartbeat };
  const limits = { ...DEFAULTS.limits, ...o.limits };
  return {
    port: positive('port', o.port ?? DEFAULTS.port, true),
    host: o.host,
    server: o.server,
    path,
    authenticate: o.authenticate,
    origins: o.origins ? new Set(o.origins) : undefined,
    heartbeat: {
      intervalMs: positive('heartbeat.intervalMs', heartbeat.intervalMs),
      timeoutMs: positive('heartbeat.timeoutMs', heartbeat.timeoutMs),
    },
    limits: { maxPayload: positive('limits.maxPayload', limits.maxPayload) },
    presence: { key: o.presence?.key ?? defaultKey, ...(o.presence?.info ? { info: o.presence.info } : {}) },
    logger: o.logger ?? consoleLogger,
    shutdownTimeoutMs: positive('shutdownTimeoutMs', o.shutdownTimeoutMs ?? DEFAULTS.shutdownTimeoutMs, true),
  };
}
