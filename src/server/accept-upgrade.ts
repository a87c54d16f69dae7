/**
 * The server's own decisions on an upgrade request: which codec, which token, and who the peer is
 * (now, or deferred to the first message), before a WebSocket exists. It sees the request only
 * through the transport boundary (src/server/transport/types.ts), so it decides the same way on
 * every runtime. The mechanics every endpoint shares — admission, origin, the authentication
 * deadline, refusals — are in net/upgrade.ts (docs/protocol.md §1.2).
 */
import type { IncomingMessage } from 'node:http';
import type { Admission } from '../net/admission.js';
import type { RefusalCategory } from '../net/refusal.js';
import { REFUSED, authenticateUpgrade, screenUpgrade, shuttingDown, type AdmittedUpgrade, type ScreenEndpoint } from '../net/upgrade.js';
import type { Codec } from '../protocol/codec.js';
import type { Reauthenticate } from './auth-session.js';
import { negotiate } from './handshake.js';
import { isTokenAuthenticate } from './jwt.js';
import type { ResolvedOptions } from './options.js';
import type { PendingUpgrade, TransportSocket, UpgradeRequest } from './transport/types.js';

/** What the server's upgrade logic hands over for an accepted upgrade. */
export interface Accepted<Identity> {
  socket: TransportSocket;
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

/** What the server's upgrade handler needs from `createServer`; `C` is its connection. */
export interface UpgradeDeps<Identity, C> {
  opts: ResolvedOptions<Identity>;
  admission: Admission;
  isClosing(): boolean;
  /** `drain()` began: a refusal says to connect to another node. */
  isDraining(): boolean;
  accept(a: Accepted<Identity>): C;
  /** Told the category of every refusal (the server's observer, docs/observability.md). */
  refused?: ((category: RefusalCategory) => void) | undefined;
}

/**
 * The request as `authenticate` receives it: on Node the `IncomingMessage` itself, on another
 * transport a view with the fields the public type documents (docs/server.md, "Runtimes and
 * transports"), which is all `jwt()` reads.
 */
const asIncoming = (req: UpgradeRequest) => req as IncomingMessage;

/** The one `Sec-WebSocket-Protocol` value (Node joins repeated headers with ", "). */
function protocolHeader(req: UpgradeRequest): string | undefined {
  const h = req.headers['sec-websocket-protocol'];
  return Array.isArray(h) ? h.join(', ') : h;
}

/** Creates the server's `upgrade` hook of the transport boundary. */
export function createUpgradeHandler<Identity, C>(deps: UpgradeDeps<Identity, C>): (pending: PendingUpgrade<C>) => void {
  const { opts } = deps;
  const { logger } = opts;
  const auth = opts.authenticate;
  const tokenAuth = isTokenAuthenticate(auth) ? auth : undefined;
  const firstMessage = tokenAuth?.transports.includes('message') ?? false;
  const endpoint: ScreenEndpoint = {
    admission: deps.admission,
    origins: opts.origins,
    handshakeTimeoutMs: opts.limits.handshakeTimeoutMs,
    name: 'Server',
    logger,
    isClosing: deps.isClosing,
    isDraining: deps.isDraining,
    ...(deps.refused ? { refused: deps.refused } : {}),
  };

  async function decide(u: AdmittedUpgrade & { pending: PendingUpgrade<C> }): Promise<boolean> {
    const req = asIncoming(u.req);
    const nego = negotiate(protocolHeader(u.req), opts.codecs);
    if (!nego.ok) return u.refuse({ category: 'subprotocol', status: nego.status, message: nego.message }), false;

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
    const { release, pending } = u;
    if (pending.gone) return false;
    if (deps.isClosing()) return shuttingDown(u.refuse, deps.isDraining()), false;
    const remoteAddress = u.req.socket.remoteAddress;
    // Nothing that lives as long as the connection may hold this scope: it holds `req` (its headers
    // and parser, ~3 KB per idle connection in heap snapshots). `release` holds only the slot.
    return pending.accept(nego.codec.subprotocol, (socket) =>
      deps.accept({ socket, identity: identity as Identity, codec: nego.codec, deferred, reauth, release, remoteAddress }),
    );
  }

  return (pending) =>
    screenUpgrade(
      endpoint,
      pending.request,
      (status, message, headers) => pending.refuse(headers ? { status, message, headers } : { status, message }),
      { pending },
      decide,
    );
}
