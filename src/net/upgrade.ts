/**
 * Accepting an HTTP upgrade safely, the same way at every WebSocket endpoint of the package (the
 * Switchboard server, the bridge's egress relay): path routing, admission, the shutdown refusal,
 * origin, the authentication deadline and the hand-over to `ws`. Every refusal is one plain HTTP
 * response before a WebSocket exists (docs/protocol.md §1.2), logged once with its reason
 * (refusal-log.ts); every admitted request gives its slot back exactly once, however it ends.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../shared/logger.js';
import { addressKey, releaseOnce, type Admission } from './admission.js';
import { deadline, TIMED_OUT } from './deadline.js';
import { originAllowed } from './origin.js';
import { refuse, refuseWith } from './refuse.js';
import { refusalLogFor } from './refusal-log.js';
import { takeTokenRefusal, unauthorized, type Refusal } from './refusal.js';

/** What an endpoint tells the upgrade listener about itself. */
export interface UpgradeEndpoint {
  /** The HTTP server the listener is on (another listener on it may own other paths). */
  http: HttpServer;
  /** URL path this endpoint answers; other paths are left to other listeners, or get 404. */
  path: string;
  admission: Admission;
  /** Browser origins allowed; `undefined` allows every origin. */
  origins: ReadonlySet<string> | undefined;
  /** From the upgrade request to the end of authentication (and of whatever the endpoint adds), in ms. */
  handshakeTimeoutMs: number;
  /** Who answers, in the 503 body when full: "Server", "Relay". */
  name: string;
  logger: Logger;
  isClosing(): boolean;
}

/** An admitted upgrade request, handed to the endpoint's own logic. */
export interface Upgrade {
  /** Which endpoint answers (its `name`), for log lines: "Server", "Relay". */
  endpoint: string;
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  /** The address key the slot was counted by. */
  ip: string;
  /** When the handshake must be over (epoch ms): `handshakeTimeoutMs` after the request arrived. */
  deadline: number;
  /** Gives the admission slot back; idempotent, and holds nothing of the request. */
  release: () => void;
  /** Answers the request with `refusal` and logs it (docs/security.md, "Refusal logs"). */
  refuse: (refusal: Refusal) => void;
}

/**
 * The endpoint's own decision on an admitted, origin-checked upgrade. It answers refusals itself
 * (with {@link refuse}) and resolves `false`; it resolves `true` once it handed the socket to `ws`
 * ({@link completeUpgrade}), and from then on the slot is its to release when the socket closes.
 */
export type UpgradeDecision = (u: Upgrade) => Promise<boolean>;

const SHUTTING_DOWN: Refusal = { category: 'closing', status: 503, message: 'Server is shutting down' };

/**
 * Creates the HTTP server's `upgrade` listener for one endpoint.
 *
 * @example
 * http.on('upgrade', createUpgradeListener(endpoint, async (u) => completeUpgrade(endpoint, wss, u, (ws) => accept(ws, u.release))));
 */
export function createUpgradeListener(ep: UpgradeEndpoint, decide: UpgradeDecision): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const { http, admission, logger } = ep;
  const refusals = refusalLogFor(logger);
  async function handle(u: Upgrade): Promise<boolean> {
    if (ep.isClosing()) return u.refuse(SHUTTING_DOWN), false;
    if (!originAllowed(u.req, ep.origins)) return u.refuse({ category: 'origin', status: 403, message: 'Origin not allowed' }), false;
    return decide(u);
  }
  return (req, socket, head) => {
    const pathname = (req.url ?? '/').split('?', 1)[0];
    const refuseThis = (r: Refusal) => refuseWith(socket, r, refusals, req.socket.remoteAddress, ep.name);
    if (pathname !== ep.path) {
      // Another handler on a shared HTTP server (Vite HMR, a second endpoint) may own this path.
      if (http.listenerCount('upgrade') <= 1) refuseThis({ category: 'path', status: 404, message: 'Not Found' });
      return;
    }
    // A peer may reset the socket while authenticate() runs; an unhandled 'error' would crash.
    socket.on('error', () => socket.destroy());
    const at = Date.now();
    const ip = addressKey(req.socket.remoteAddress);
    const refused = admission.admit(ip);
    if (refused) {
      return refuseThis({ category: 'limit', status: refused, message: refused === 429 ? 'Too many connections from this address' : `${ep.name} is at capacity` });
    }
    const release = releaseOnce(admission, ip);
    handle({ endpoint: ep.name, req, socket, head, ip, deadline: at + ep.handshakeTimeoutMs, release, refuse: refuseThis }).then(
      (accepted) => {
        if (!accepted) release();
      },
      (err: unknown) => {
        release();
        logger.error({ err, endpoint: ep.name }, 'upgrade failed');
        refuse(socket, 500, 'Internal Server Error');
      },
    );
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
  u: Upgrade,
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
    return refuse(u.socket, 500, 'Authentication failed'), REFUSED;
  }
  if (result === TIMED_OUT) {
    logger.warn({ ip: u.ip, endpoint: u.endpoint, timeoutMs: Math.max(0, ms) }, 'authenticate timed out');
    return refuse(u.socket, 503, 'Authentication timed out'), REFUSED;
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
  const { req, socket, head } = u;
  if (socket.destroyed) return Promise.resolve(false);
  if (ep.isClosing()) return u.refuse(SHUTTING_DOWN), Promise.resolve(false);
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
