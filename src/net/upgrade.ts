/**
 * Accepting an HTTP upgrade safely, the same way at every WebSocket endpoint of the package (the
 * Switchboard server on any transport, the bridge's egress relay): admission, the shutdown refusal,
 * origin and the authentication deadline ({@link screenUpgrade}, which needs only a request view and
 * a way to refuse), plus the Node glue: path routing on a shared `http.Server` and the hand-over to
 * `ws`. Every refusal is one plain HTTP response before a WebSocket exists (docs/protocol.md §1.2),
 * logged once with its reason (refusal-log.ts); every admitted request gives its slot back exactly
 * once, however it ends.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import type { UpgradeRequest } from '../server/transport/types.js';
import type { Logger } from '../shared/logger.js';
import { addressKey, releaseOnce, type Admission } from './admission.js';
import { deadline, TIMED_OUT } from './deadline.js';
import { originAllowed } from './origin.js';
import { refuse } from './refuse.js';
import { refusalLogFor } from './refusal-log.js';
import { httpAnswer, takeTokenRefusal, unauthorized, type Refusal, type RefusalCategory } from './refusal.js';

/** What an endpoint tells the upgrade screen about itself. */
export interface ScreenEndpoint {
  admission: Admission;
  /** Browser origins allowed; `undefined` allows every origin. */
  origins: ReadonlySet<string> | undefined;
  /** From the upgrade request to the end of authentication (and of whatever the endpoint adds), in ms. */
  handshakeTimeoutMs: number;
  /** Who answers, in the 503 body when full: "Server", "Relay". */
  name: string;
  logger: Logger;
  isClosing(): boolean;
  /** Whether the closing is a drain (docs/server.md, "Draining"): the refusal then says to go to another node. */
  isDraining?(): boolean;
  /** Told the category of every refusal, after it is logged (the server's metrics, docs/observability.md). */
  refused?(category: RefusalCategory): void;
}

/** What a Node endpoint tells its upgrade listener about itself. */
export interface UpgradeEndpoint extends ScreenEndpoint {
  /** The HTTP server the listener is on (another listener on it may own other paths). */
  http: HttpServer;
  /** URL path this endpoint answers; other paths are left to other listeners, or get 404. */
  path: string;
}

/** Writes a plain HTTP refusal (status, one-line message, extra headers): the transport's part. */
export type WriteRefusal = (status: number, message: string, headers?: Record<string, string>) => void;

/** Answers an upgrade request with `refusal` and logs it once (docs/security.md, "Refusal logs"). */
export type RefuseUpgrade = (refusal: Refusal) => void;

/** What an upgrade that arrives (or completes) while the endpoint shuts down is refused with. */
const SHUTTING_DOWN: Refusal = { category: 'closing', status: 503, message: 'Server is shutting down' };

/** What an upgrade that arrives while the endpoint drains is refused with: another node will take it. */
const DRAINING: Refusal = { category: 'closing', status: 503, message: 'Server is draining: connect to another node' };

/** What an upgrade request to another path than the endpoint's is refused with (logged as `path`). */
const WRONG_PATH: Refusal = { category: 'path', status: 404, message: 'Not Found' };

/** An admitted upgrade request, on any transport, handed to the endpoint's own logic. */
export interface AdmittedUpgrade<R extends UpgradeRequest = UpgradeRequest> {
  /** Which endpoint answers (its `name`), for log lines: "Server", "Relay". */
  endpoint: string;
  req: R;
  /** The address key the slot was counted by. */
  ip: string;
  /** When the handshake must be over (epoch ms): `handshakeTimeoutMs` after the request arrived. */
  deadline: number;
  /** Gives the admission slot back; idempotent, and holds nothing of the request. */
  release: () => void;
  /** Answers with a plain HTTP refusal, logged with its reason, and closes. */
  refuse: RefuseUpgrade;
  /** Answers a server fault that was logged already (at `error`/`warn`), without a refusal line. */
  fail: WriteRefusal;
}

/** An admitted upgrade request on Node's `http` server. */
export interface Upgrade extends AdmittedUpgrade<IncomingMessage> {
  socket: Duplex;
  head: Buffer;
}

/**
 * The endpoint's own decision on an admitted, origin-checked upgrade. It answers refusals itself
 * (with `u.refuse`) and resolves `false`; it resolves `true` once it handed the socket over
 * ({@link completeUpgrade}), and from then on the slot is its to release when the socket closes.
 */
export type UpgradeDecision<U extends AdmittedUpgrade = Upgrade> = (u: U) => Promise<boolean>;

/** The answer to an upgrade that arrives (or completes) while the endpoint shuts down. */
export const shuttingDown = (refuse: RefuseUpgrade, draining = false): void => refuse(draining ? DRAINING : SHUTTING_DOWN);

/** Refuses an upgrade request for another path, on any transport (docs/security.md, "Refusal logs"). */
export const wrongPath = (refuse: RefuseUpgrade): void => refuse(WRONG_PATH);

/**
 * `write` with the refusal log in front: each refusal is logged (rate-limited per address, on the
 * endpoint's logger) and then written with its headers (`WWW-Authenticate` on 401, `Retry-After`).
 */
export function loggedRefusal(ep: Pick<ScreenEndpoint, 'logger' | 'name' | 'refused'>, address: string | undefined, write: WriteRefusal): RefuseUpgrade {
  const log = refusalLogFor(ep.logger);
  return (r) => {
    log.record({ category: r.category, status: r.status, address, endpoint: ep.name });
    ep.refused?.(r.category);
    const a = httpAnswer(r);
    write(a.status, a.message, a.headers);
  };
}

/**
 * Admission, the shutdown refusal and the origin check for one upgrade request on any transport,
 * then the endpoint's own `decide`. `extra` is what the transport adds to the upgrade (Node: the
 * socket and head).
 */
export function screenUpgrade<R extends UpgradeRequest, X extends object>(
  ep: ScreenEndpoint,
  req: R,
  write: WriteRefusal,
  extra: X,
  decide: UpgradeDecision<AdmittedUpgrade<R> & X>,
): void {
  const at = Date.now();
  const ip = addressKey(req.socket.remoteAddress);
  const refuse = loggedRefusal(ep, req.socket.remoteAddress, write);
  const refused = ep.admission.admit(ip);
  if (refused) {
    return refuse({ category: 'limit', status: refused, message: refused === 429 ? 'Too many connections from this address' : `${ep.name} is at capacity` });
  }
  const release = releaseOnce(ep.admission, ip);
  const u = { ...extra, endpoint: ep.name, req, ip, deadline: at + ep.handshakeTimeoutMs, release, refuse, fail: write };
  const handle = async (): Promise<boolean> => {
    if (ep.isClosing()) return shuttingDown(refuse, ep.isDraining?.()), false;
    if (!originAllowed(req, ep.origins)) return refuse({ category: 'origin', status: 403, message: 'Origin not allowed' }), false;
    return decide(u);
  };
  handle().then(
    (accepted) => {
      if (!accepted) release();
    },
    (err: unknown) => {
      release();
      ep.logger.error({ err, endpoint: ep.name }, 'upgrade failed');
      write(500, 'Internal Server Error');
    },
  );
}

/**
 * Whether a Node upgrade request is for `path`. One for another path is left to another handler on
 * a shared HTTP server (Vite HMR, a second endpoint), or answered 404 (logged as `path` on `ep`'s
 * logger) when there is none.
 */
export function routeUpgrade(http: HttpServer, path: string, req: IncomingMessage, socket: Duplex, ep: Pick<ScreenEndpoint, 'logger' | 'name'>): boolean {
  const pathname = (req.url ?? '/').split('?', 1)[0];
  if (pathname === path) return true;
  if (http.listenerCount('upgrade') <= 1) {
    wrongPath(loggedRefusal(ep, req.socket.remoteAddress, (status, message, headers) => refuse(socket, status, message, headers)));
  }
  return false;
}

/**
 * Creates the HTTP server's `upgrade` listener for one endpoint.
 *
 * @example
 * http.on('upgrade', createUpgradeListener(endpoint, async (u) => completeUpgrade(endpoint, wss, u, (ws) => accept(ws, u.release))));
 */
export function createUpgradeListener(ep: UpgradeEndpoint, decide: UpgradeDecision): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (req, socket, head) => {
    if (!routeUpgrade(ep.http, ep.path, req, socket, ep)) return;
    // A peer may reset the socket while authenticate() runs; an unhandled 'error' would crash.
    socket.on('error', () => socket.destroy());
    screenUpgrade(ep, req, (status, message, headers) => refuse(socket, status, message, headers), { socket, head }, decide);
  };
}

/** What {@link authenticateUpgrade} resolves when it answered the request with a refusal. */
export const REFUSED: unique symbol = Symbol('refused');

/**
 * Runs the application's `authenticate` until the upgrade's deadline and answers its failures:
 * a throw is 500 (logged at `error`, the token never), a timeout 503 (logged at `warn`),
 * `null`/`undefined` 401 with the reason `jwt()` noted (refusal.ts), else `refused`.
 */
export async function authenticateUpgrade<Identity>(
  u: AdmittedUpgrade,
  logger: Logger,
  authenticate: () => Identity | null | undefined | PromiseLike<Identity | null | undefined>,
): Promise<Identity | typeof REFUSED> {
  const ms = u.deadline - Date.now();
  let result: Identity | null | undefined | typeof TIMED_OUT;
  try {
    result = await deadline(authenticate(), ms);
  } catch (err) {
    // The token is not logged; only the error the application threw.
    logger.error({ err, ip: u.ip, endpoint: u.endpoint }, 'authenticate threw');
    return u.fail(500, 'Authentication failed'), REFUSED;
  }
  if (result === TIMED_OUT) {
    logger.warn({ ip: u.ip, endpoint: u.endpoint, timeoutMs: Math.max(0, ms) }, 'authenticate timed out');
    return u.fail(503, 'Authentication timed out'), REFUSED;
  }
  if (result === null || result === undefined) return u.refuse(unauthorized(takeTokenRefusal(u.req) ?? 'refused')), REFUSED;
  takeTokenRefusal(u.req);
  return result;
}

/**
 * Hands an upgrade the endpoint decided to accept to `ws`, unless the peer left or the endpoint
 * began shutting down meanwhile (503). `onOpen` runs inside ws's callback, so what it writes leaves
 * with the 101 response. Resolves whether the WebSocket exists.
 */
export function completeUpgrade(ep: Pick<UpgradeEndpoint, 'isClosing'>, wss: WebSocketServer, u: Upgrade, onOpen: (ws: WebSocket) => void): Promise<boolean> {
  if (u.socket.destroyed) return Promise.resolve(false);
  if (ep.isClosing()) return shuttingDown(u.refuse), Promise.resolve(false);
  return handOver(wss, u.req, u.socket, u.head, onOpen);
}

/**
 * The hand-over to `ws` itself: resolves `true` once `onOpen` ran, `false` when the peer left first
 * or ws answered an invalid upgrade (bad key, version) itself.
 */
export function handOver(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer, onOpen: (ws: WebSocket) => void): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    // ws answers an invalid upgrade (bad key, version) itself and never calls back.
    const refused = () => resolve(false);
    socket.once('close', refused);
    // The 101 response and what onOpen sends (the server's welcome frame) leave in one write: one
    // syscall and one segment fewer per connection in a connection storm.
    socket.cork();
    process.nextTick(() => socket.uncork());
    wss.handleUpgrade(req, socket, head, (ws) => {
      socket.off('close', refused);
      resolve(true);
      onOpen(ws);
    });
  });
}
