/**
 * The server's own decisions on an upgrade request: which codec, which token, and who the peer is
 * (now, or deferred to the first message), before a WebSocket exists. The mechanics every endpoint
 * shares — path, admission, origin, the authentication deadline, refusals — are in net/upgrade.ts
 * (docs/protocol.md §1.2).
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import type { Admission } from '../net/admission.js';
import { refuse } from '../net/refuse.js';
import { REFUSED, authenticateUpgrade, completeUpgrade, createUpgradeListener, type Upgrade, type UpgradeEndpoint } from '../net/upgrade.js';
import type { Codec } from '../protocol/codec.js';
import type { Reauthenticate } from './auth-session.js';
import { negotiate } from './handshake.js';
import { isTokenAuthenticate } from './jwt.js';
import type { ResolvedOptions } from './options.js';

/** What the server's upgrade logic hands over for an accepted upgrade. */
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
  /** The peer's address, for the connection hooks (docs/server.md, "Server control"). */
  remoteAddress: string | undefined;
}

/** What the server's upgrade listener needs from `createServer`. */
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

/** Creates the server's `upgrade` listener. */
export function createUpgradeHandler<Identity>(deps: UpgradeDeps<Identity>): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const { opts, wss, codecOf } = deps;
  const { logger } = opts;
  const auth = opts.authenticate;
  const tokenAuth = isTokenAuthenticate(auth) ? auth : undefined;
  const firstMessage = tokenAuth?.transports.includes('message') ?? false;
  const endpoint: UpgradeEndpoint = {
    http: deps.http,
    path: opts.path,
    admission: deps.admission,
    origins: opts.origins,
    handshakeTimeoutMs: opts.limits.handshakeTimeoutMs,
    name: 'Server',
    logger,
    isClosing: deps.isClosing,
  };

  async function decide(u: Upgrade): Promise<boolean> {
    const { req, socket } = u;
    const nego = negotiate(req.headers['sec-websocket-protocol'], opts.codecs);
    if (!nego.ok) return refuse(socket, nego.status, nego.message), false;

    let identity: Identity | null | undefined = undefined;
    let deferred = false;
    if (auth) {
      if (firstMessage && tokenAuth!.findToken(req, nego.token) === undefined) {
        deferred = true;
      } else {
        const result = await authenticateUpgrade(u, logger, () => auth(req, nego.token));
        if (result === REFUSED) return false;
        identity = result;
      }
    }
    // Keep what can verify a later token only when one can come: a retained request costs memory.
    const reauth: Reauthenticate<Identity> | undefined = !auth
      ? undefined
      : tokenAuth
        ? (t) => tokenAuth.verify(t)
        : deferred || (identity !== undefined && opts.expiresAt(identity) !== undefined)
          ? (t) => auth(req, t)
          : undefined;
    const { release } = u;
    const remoteAddress = req.socket.remoteAddress;
    codecOf.set(req, nego.codec);
    // Nothing that lives as long as the connection may hold this scope: it holds `req` (its headers
    // and parser, ~3 KB per idle connection in heap snapshots). `release` holds only the slot.
    return completeUpgrade(endpoint, wss, u, (ws) => deps.accept({ ws, identity: identity as Identity, codec: nego.codec, deferred, reauth, release, remoteAddress }));
  }

  return createUpgradeListener(endpoint, decide);
}
