/**
 * The upgrade gate: path, admission limits, origin, subprotocol and authentication are decided
 * here, before a WebSocket exists, so a refused peer costs one HTTP response (docs/protocol.md §1.2).
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Codec } from '../protocol/codec.js';
import type { Admission } from './admission.js';
import type { Reauthenticate } from './auth-session.js';
import { negotiate } from './handshake.js';
import { addressKey, originAllowed, refuse } from './gate.js';
import { isTokenAuthenticate } from './jwt.js';
import type { ResolvedOptions } from './options.js';

/** What the gate hands over for an accepted upgrade. */
export interface Accepted<Identity> {
  ws: WebSocket;
  identity: Identity;
  codec: Codec;
  /** First-message authentication: no identity yet (docs/protocol.md §1.3). */
  deferred: boolean;
  /** Verifies a later token (first message, refresh); absent when none can come. */
  reauth: Reauthenticate<Identity> | undefined;
  /** Gives back the admission slot; call once when the socket closes. */
  release(): void;
}

export interface UpgradeDeps<Identity> {
  opts: ResolvedOptions<Identity>;
  http: HttpServer;
  wss: WebSocketServer;
  admission: Admission;
  isClosing(): boolean;
  accept(a: Accepted<Identity>): void;
  /** The codec chosen for a request, read back by ws's `handleProtocols`. */
  codecOf: WeakMap<IncomingMessage, Codec>;
}

const TIMED_OUT = Symbol('timed out');

/** Gives an admission slot back once, however often it is called; its scope holds nothing else. */
function releaseOnce(admission: Admission, ip: string): () => void {
  let released = false;
  return () => {
    if (!released) admission.release(ip);
    released = true;
  };
}


/** Races a promise against `ms`; the loser is ignored (its rejection too). */
function deadline<T>(p: Promise<T> | T, ms: number): Promise<T | typeof TIMED_OUT> {
  // Any thenable, not only this realm's Promise: a promise from another realm (vm, an iframe-like
  // context) or a library (Bluebird) fails `instanceof Promise`, and one that never settled used to
  // hold its admission slot forever instead of getting 503 (limits.handshakeTimeoutMs).
  if (typeof (p as { then?: unknown } | null | undefined)?.then !== 'function') return Promise.resolve(p);
  let timer: NodeJS.Timeout;
  return Promise.race([
    Promise.resolve(p).finally(() => clearTimeout(timer)),
    new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), ms))),
  ]);
}

export function createUpgradeHandler<Identity>(deps: UpgradeDeps<Identity>) {
  const { opts, http, wss, admission, codecOf } = deps;
  const { logger } = opts;
  const auth = opts.authenticate;
  const tokenAuth = isTokenAuthenticate(auth) ? auth : undefined;
  const firstMessage = tokenAuth?.transports.includes('message') ?? false;

  async function handle(req: IncomingMessage, socket: Duplex, head: Buffer, ip: string): Promise<boolean> {
    if (deps.isClosing()) return refuse(socket, 503, 'Server is shutting down'), false;
    if (!originAllowed(req, opts.origins)) return refuse(socket, 403, 'Origin not allowed'), false;
    const nego = negotiate(req.headers['sec-websocket-protocol'], opts.codecs);
    if (!nego.ok) return refuse(socket, nego.status, nego.message), false;

    let identity: Identity | null | undefined = undefined;
    let deferred = false;
    if (auth) {
      if (firstMessage && tokenAuth!.findToken(req, nego.token) === undefined) {
        deferred = true;
      } else {
        let result: Identity | null | undefined | typeof TIMED_OUT;
        try {
          result = await deadline(auth(req, nego.token), opts.limits.handshakeTimeoutMs);
        } catch (err) {
          // The token is not logged; only the error the application threw.
          logger.error({ err, ip }, 'authenticate threw');
          return refuse(socket, 500, 'Authentication failed'), false;
        }
        if (result === TIMED_OUT) {
          logger.warn({ ip, timeoutMs: opts.limits.handshakeTimeoutMs }, 'authenticate timed out');
          return refuse(socket, 503, 'Authentication timed out'), false;
        }
        if (result === null || result === undefined) return refuse(socket, 401, 'Unauthorized'), false;
        identity = result;
      }
    }
    if (socket.destroyed) return false;
    if (deps.isClosing()) return refuse(socket, 503, 'Server is shutting down'), false;
    codecOf.set(req, nego.codec);
    // Keep what can verify a later token only when one can come: a retained request costs memory.
    const reauth: Reauthenticate<Identity> | undefined = !auth
      ? undefined
      : tokenAuth
        ? (t) => tokenAuth.verify(t)
        : deferred || (identity !== undefined && opts.expiresAt(identity) !== undefined)
          ? (t) => auth(req, t)
          : undefined;
    return new Promise<boolean>((resolve) => {
      // ws answers an invalid upgrade (bad key, version) itself and never calls back.
      const refused = () => resolve(false);
      socket.once('close', refused);
      // The 101 response and the welcome frame (sent when no token is awaited) leave in one write:
      // one syscall and one segment fewer per connection (issue 6, connection storm).
      socket.cork();
      process.nextTick(() => socket.uncork());
      wss.handleUpgrade(req, socket, head, (ws) => {
        // Nothing that lives as long as the connection may hold this scope: it holds `req` (its
        // headers and parser, ~3 KB per idle connection in heap snapshots; issue 6).
        socket.off('close', refused);
        resolve(true);
        deps.accept({ ws, identity: identity as Identity, codec: nego.codec, deferred, reauth, release: releaseOnce(admission, ip) });
      });
    });
  }

  return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const pathname = (req.url ?? '/').split('?', 1)[0];
    if (pathname !== opts.path) {
      // Another handler on a shared HTTP server (Vite HMR, a second endpoint) may own this path.
      if (http.listenerCount('upgrade') <= 1) refuse(socket, 404, 'Not Found');
      return;
    }
    // A peer may reset the socket while authenticate() runs; an unhandled 'error' would crash.
    socket.on('error', () => socket.destroy());
    const ip = addressKey(req.socket.remoteAddress);
    const refused = admission.admit(ip);
    if (refused) {
      return refuse(socket, refused, refused === 429 ? 'Too many connections from this address' : 'Server is at capacity', { 'Retry-After': '1' });
    }
    handle(req, socket, head, ip).then(
      (accepted) => {
        if (!accepted) admission.release(ip);
      },
      (err: unknown) => {
        admission.release(ip);
        logger.error({ err }, 'upgrade failed');
        refuse(socket, 500, 'Internal Server Error');
      },
    );
  };
}
