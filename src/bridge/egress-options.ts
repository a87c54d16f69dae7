/**
 * Options of `createEgressRelay`, their defaults, and the one place they are merged and checked.
 * The relay is an open proxy unless bounded, so the upstream allowlist is mandatory and
 * credentials require authentication (docs/bridge.md §7.3).
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { consoleLogger, type Logger } from '../shared/logger.js';
import { nonNegativeMs, positiveInt, positiveMs, withDefaults } from '../shared/options.js';
import { checkClientTls, checkTls, type ClientTlsOptions, type TlsOptions } from '../shared/tls.js';
import { resolveHealth, type HealthOptions, type HealthPaths } from '../net/health.js';
import { CREDENTIAL_NAME } from './headers.js';
import { createUrlPolicy, type UrlPolicy } from './policy.js';

/** What a credential's value function knows about the connection asking for it. */
export interface CredentialContext<Identity> {
  /** What `authenticate` returned for the host's relay connection (`undefined` without `authenticate`). */
  identity: Identity;
  /** The upstream URL the credential would be sent to. */
  url: string;
  /** The resource's manifest id, as the host reported it (informational: the host page claims it). */
  resource: string | undefined;
}

/** A secret the relay injects into headers in place of `{{rp.credential:NAME}}`. */
export interface CredentialSource<Identity> {
  /** URL patterns (policy.ts syntax) the credential may be sent to; required, so a secret cannot be sent to any allowed upstream. */
  urls: readonly string[];
  /** The secret, or a function returning it (`undefined` refuses with `CREDENTIAL_DENIED`). */
  value: string | ((ctx: CredentialContext<Identity>) => string | undefined | Promise<string | undefined>);
}

/** Bounds of the relay. */
export interface EgressLimits {
  /** Relay connections in all; one more gets HTTP 503. @default 1000 */
  maxConnections: number;
  /** Relay connections from one IP address (IPv6: one /64); one more gets HTTP 429. @default 100 */
  maxConnectionsPerIp: number;
  /** Largest message in either direction; a larger one closes both sides with 1009. @default 1048576 (1 MiB) */
  maxPayload: number;
  /** From the upgrade request to the upstream's `open`: authentication, the `connect` message and the upstream handshake, in ms. @default 10000 */
  handshakeTimeoutMs: number;
  /** Bytes written to one side and not yet flushed before the other side is paused (backpressure). @default 1048576 (1 MiB) */
  highWaterMark: number;
}

/** Options of `createEgressRelay`. */
export interface EgressOptions<Identity = unknown> {
  /** Upstream URL patterns the relay may open (policy.ts syntax). Required and non-empty. */
  allow: readonly string[];
  /** Attach to an existing HTTP server (the one a Switchboard server uses, Express…). Not with `port`. */
  server?: HttpServer;
  /** Port to listen on when the relay owns its HTTP server; 0 picks one. @default 0 */
  port?: number;
  /** Host to bind when listening on `port`. @default all interfaces */
  host?: string;
  /** URL path of the relay endpoint. @default '/bridge/egress' */
  path?: string;
  /**
   * Decides who may use the relay, from the upgrade request and the token the host sent (a
   * `switchboard.auth.*` subprotocol entry). Return the identity, or `null`/`undefined` for HTTP 401.
   * Required when `credentials` are configured. @default everyone (identity `undefined`)
   */
  authenticate?: (req: IncomingMessage, token: string | undefined) => Identity | null | undefined | Promise<Identity | null | undefined>;
  /** Browser origins (exact) allowed to open the relay; others get HTTP 403. @default every origin */
  origins?: readonly string[];
  /** Secrets by name, injected in place of `{{rp.credential:NAME}}` in header values. @default none */
  credentials?: Readonly<Record<string, CredentialSource<Identity>>>;
  /** Bounds; each field has its own default (see {@link EgressLimits}). */
  limits?: Partial<EgressLimits>;
  /** Where refusals and failures are reported (never header values). @default errors/warnings to stderr */
  logger?: Logger;
  /** How long `close()` waits for a relayed connection to finish its close handshake before terminating it, in ms. @default 5000 */
  shutdownTimeoutMs?: number;
  /** Serve `wss://` from the relay's own HTTPS server. Not with `server` (an attached server has its own TLS). @default plain `ws://` */
  tls?: TlsOptions;
  /**
   * How `wss://` upstreams are verified (a private CA: `{ ca }`), and a client certificate for
   * upstreams that ask for one. @default the system's CAs, no client certificate
   */
  upstreamTls?: ClientTlsOptions;
  /**
   * Health checks on the relay's HTTP server (docs/deploy.md, "Health checks"): `true` serves
   * `/healthz` and `/readyz` (503 while it closes or is full); an object picks the paths.
   * @default false
   */
  health?: boolean | HealthOptions;
}

/** The defaults, in one object. */
export const EGRESS_DEFAULTS = {
  port: 0,
  path: '/bridge/egress',
  shutdownTimeoutMs: 5_000,
  limits: { maxConnections: 1_000, maxConnectionsPerIp: 100, maxPayload: 1_048_576, handshakeTimeoutMs: 10_000, highWaterMark: 1_048_576 },
} as const;

/** A credential after checking. */
export interface ResolvedCredential<Identity> {
  policy: UrlPolicy;
  value: CredentialSource<Identity>['value'];
}

/** Options after defaults were applied. */
export interface ResolvedEgressOptions<Identity> {
  policy: UrlPolicy;
  server: HttpServer | undefined;
  port: number;
  host: string | undefined;
  path: string;
  authenticate: EgressOptions<Identity>['authenticate'];
  origins: ReadonlySet<string> | undefined;
  credentials: ReadonlyMap<string, ResolvedCredential<Identity>>;
  limits: EgressLimits;
  logger: Logger;
  shutdownTimeoutMs: number;
  tls: TlsOptions | undefined;
  upstreamTls: ClientTlsOptions | undefined;
  health: HealthPaths | undefined;
}

/** Merges options with {@link EGRESS_DEFAULTS}; impossible ones throw a `TypeError`. */
export function resolveEgressOptions<Identity>(o: EgressOptions<Identity>): ResolvedEgressOptions<Identity> {
  if (!o || !Array.isArray(o.allow) || o.allow.length === 0) {
    throw new TypeError('allow must list the upstream URL patterns the relay may open: without it the relay is an open proxy');
  }
  if (o.server && o.port !== undefined) throw new TypeError('pass either `port` or `server`, not both');
  if (o.server && o.tls !== undefined) throw new TypeError('pass either `tls` or `server`, not both (an attached server has its own TLS)');
  const path = o.path ?? EGRESS_DEFAULTS.path;
  if (!path.startsWith('/')) throw new TypeError('`path` must start with "/"');
  const credentials = new Map<string, ResolvedCredential<Identity>>();
  for (const [name, source] of Object.entries(o.credentials ?? {})) {
    if (!CREDENTIAL_NAME.test(name)) throw new TypeError(`invalid credential name ${JSON.stringify(name)}`);
    if (!source || !Array.isArray(source.urls) || source.urls.length === 0) throw new TypeError(`credential ${name} must list the URL patterns it may be sent to`);
    if (typeof source.value !== 'string' && typeof source.value !== 'function') throw new TypeError(`credential ${name} needs a value`);
    credentials.set(name, { policy: createUrlPolicy(source.urls), value: source.value });
  }
  // Without authentication anyone who can reach the relay could use the secrets.
  if (credentials.size > 0 && !o.authenticate) throw new TypeError('credentials require `authenticate`: otherwise anyone could use them');
  const limits = withDefaults<EgressLimits>(EGRESS_DEFAULTS.limits, o.limits);
  return {
    policy: createUrlPolicy(o.allow),
    server: o.server,
    port: o.port ?? EGRESS_DEFAULTS.port,
    host: o.host,
    path,
    authenticate: o.authenticate,
    origins: o.origins ? new Set(o.origins) : undefined,
    credentials,
    limits: {
      maxConnections: positiveInt('limits.maxConnections', limits.maxConnections),
      maxConnectionsPerIp: positiveInt('limits.maxConnectionsPerIp', limits.maxConnectionsPerIp),
      maxPayload: positiveInt('limits.maxPayload', limits.maxPayload),
      handshakeTimeoutMs: positiveMs('limits.handshakeTimeoutMs', limits.handshakeTimeoutMs),
      highWaterMark: positiveInt('limits.highWaterMark', limits.highWaterMark),
    },
    logger: o.logger ?? consoleLogger,
    shutdownTimeoutMs: nonNegativeMs('shutdownTimeoutMs', o.shutdownTimeoutMs ?? EGRESS_DEFAULTS.shutdownTimeoutMs),
    tls: checkTls('tls', o.tls),
    upstreamTls: checkClientTls('upstreamTls', o.upstreamTls),
    health: resolveHealth(o.health, path),
  };
}
