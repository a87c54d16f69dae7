/**
 * Authentication after the upgrade: the first-message transport (docs/protocol.md §1.3) and the
 * expiry → `refresh` → `auth` cycle that renews a connection's token without dropping it (§1.4).
 */
import { CloseCode } from '../protocol/close-codes.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { errFrame, INTERNAL_MESSAGE } from '../protocol/error-frame.js';
import type { TokenRefusalCategory } from '../net/refusal.js';
import type { Connection } from './connection.js';
import { isTokenAuthenticate } from './jwt.js';
import type { Members } from './members.js';
import type { Authenticate } from './options.js';
import type { Logger } from '../shared/logger.js';
import { createTrace } from './trace.js';

/** Verifies a token for one connection (its upgrade request is in the closure when needed). */
export type Reauthenticate<Identity> = (token: string) => Promise<Identity | null | undefined> | Identity | null | undefined;

export interface AuthSessionDeps<Identity> {
  authTimeoutMs: number;
  refreshGraceMs: number;
  expiresAt(identity: Identity): number | undefined;
  /** A refreshed identity must be the same member (presence, permissions already granted). */
  members: Pick<Members<Identity>, 'id'>;
  /** Sends `welcome` and makes the connection usable. */
  welcome(conn: Connection<Identity>): void;
  logger: Logger;
  /** The server's `authenticate`: when it can say why it refuses a token (`jwt()`), that is used. */
  authenticate?: Authenticate<Identity> | undefined;
}

/** What `verify` returns when the token could not be checked because verification threw. */
const FAULT = Symbol('verification failed');

/** A verified token, or why it was refused (docs/security.md, "Refusal logs"). */
type Verdict<Identity> = { ok: true; identity: Identity } | { ok: false; reason: TokenRefusalCategory | 'refused' };

/** setTimeout's longest delay; longer expiries are reached in several hops. */
const MAX_DELAY_MS = 2 ** 31 - 1;

interface SessionState<Identity> {
  reauth: Reauthenticate<Identity>;
  refresh: NodeJS.Timeout | undefined;
  grace: NodeJS.Timeout | undefined;
  verifying: boolean;
}

export function createAuthSession<Identity>(deps: AuthSessionDeps<Identity>) {
  const states = new WeakMap<Connection<Identity>, SessionState<Identity>>();
  // `jwt()` verifies a bare token the same way with or without a reason; with one, refusals say why.
  const checkToken = isTokenAuthenticate(deps.authenticate) ? deps.authenticate.check : undefined;
  const trace = createTrace(deps.logger);

  /** Makes the connection usable, and traces it at debug (docs/server.md, "Diagnostics"). */
  function welcome(conn: Connection<Identity>): void {
    deps.welcome(conn);
    if (!trace) return;
    let member: string;
    try {
      member = deps.members.id(conn.identity, conn.clientId);
    } catch {
      member = '(presence.key threw)'; // the application's key function; presence reports it
    }
    trace.opened(conn.clientId, member, conn.codec.name);
  }

  function clear(conn: Connection<Identity>, t: NodeJS.Timeout | undefined): void {
    if (!t) return;
    clearTimeout(t);
    conn.timers.delete(t);
  }

  /** Arms the refresh request for the identity's expiry, if it has one. */
  function schedule(conn: Connection<Identity>, state: SessionState<Identity>): void {
    clear(conn, state.refresh);
    state.refresh = undefined;
    const at = deps.expiresAt(conn.identity);
    if (at === undefined) return;
    const delay = at - Date.now();
    state.refresh = conn.after(Math.max(0, Math.min(delay, MAX_DELAY_MS)), () => {
      state.refresh = undefined;
      if (at - Date.now() > 0) return schedule(conn, state); // a hop of a very long expiry
      conn.send({ t: 'refresh', deadlineMs: deps.refreshGraceMs });
      state.grace ??= conn.after(deps.refreshGraceMs, () => conn.close(CloseCode.TOKEN_EXPIRED, 'token expired'));
    });
  }

  /**
   * Verifies a token; `FAULT` when verification threw. A throw is a server fault (a key set that
   * cannot be fetched, a user store that is down), not a refused token: at the handshake it is HTTP
   * 500 and the client retries (docs/protocol.md §1.2), so it must not become a final UNAUTHORIZED close here.
   */
  async function verify(conn: Connection<Identity>, state: SessionState<Identity>, token: string): Promise<Verdict<Identity> | typeof FAULT> {
    try {
      if (checkToken) return await checkToken(token);
      const identity = await state.reauth(token);
      return identity === null || identity === undefined ? { ok: false, reason: 'refused' } : { ok: true, identity };
    } catch (err) {
      // Never log the token: only the error the application threw.
      deps.logger.error({ err, clientId: conn.clientId }, 'authenticate threw');
      return FAULT;
    }
  }

  return {
    /**
     * Starts the session of an accepted connection. With `deferred` the connection waits for its
     * `auth` frame; otherwise it is welcomed now. `reauth` is only kept when it can be needed.
     */
    start(conn: Connection<Identity>, deferred: boolean, reauth: Reauthenticate<Identity> | undefined): void {
      const state: SessionState<Identity> | undefined = reauth ? { reauth, refresh: undefined, grace: undefined, verifying: false } : undefined;
      if (state) states.set(conn, state);
      if (deferred) {
        conn.authPending = true;
        conn.after(deps.authTimeoutMs, () => {
          if (conn.authPending) conn.close(CloseCode.AUTH_TIMEOUT, 'authentication timeout');
        });
        return;
      }
      welcome(conn);
      if (state) schedule(conn, state);
    },

    /** The first frame of a deferred connection. */
    async first(conn: Connection<Identity>, token: string): Promise<void> {
      const state = states.get(conn);
      if (!state || state.verifying) return conn.close(CloseCode.AUTH_TIMEOUT, 'authentication already in progress');
      state.verifying = true;
      const verdict = await verify(conn, state, token);
      state.verifying = false;
      if (!conn.open) return;
      // INTERNAL_ERROR (the client reconnects with backoff), as HTTP 500 would at the handshake.
      if (verdict === FAULT) return conn.close(CloseCode.INTERNAL_ERROR, 'internal error');
      // The reason reaches the client in the close reason, which browsers can read (docs/protocol.md §1.3).
      if (!verdict.ok) return conn.close(CloseCode.UNAUTHORIZED, `token refused: ${verdict.reason}`);
      conn.identity = verdict.identity;
      conn.authPending = false;
      welcome(conn);
      schedule(conn, state);
    },

    /** An `auth` frame with an id: a token refresh, asked for or proactive. */
    async refresh(conn: Connection<Identity>, id: number, token: string): Promise<void> {
      const state = states.get(conn);
      const refuse = (message: string, reason?: string) => conn.fail(errFrame(id, ErrorCode.UNAUTHORIZED, message, reason ? { reason } : undefined));
      if (!state) return refuse('This connection has no token to refresh');
      const verdict = await verify(conn, state, token);
      if (!conn.open) return;
      // Not the token's fault: INTERNAL as for any server failure (docs/protocol.md §4); the grace
      // timer keeps running, so the client reconnects after TOKEN_EXPIRED if no later refresh succeeds.
      if (verdict === FAULT) return conn.fail(errFrame(id, ErrorCode.INTERNAL, INTERNAL_MESSAGE));
      if (!verdict.ok) return refuse(`Token refused: ${verdict.reason}`, verdict.reason);
      const identity = verdict.identity;
      if (deps.members.id(identity, conn.clientId) !== deps.members.id(conn.identity, conn.clientId)) {
        return refuse('Token is for another identity');
      }
      const before = deps.expiresAt(conn.identity);
      const after = deps.expiresAt(identity);
      // A token that does not outlive the current one would only bring the next refresh forward.
      if (before !== undefined && (after === undefined ? false : after <= before)) return refuse('Token is not renewed');
      conn.identity = identity;
      clear(conn, state.grace);
      state.grace = undefined;
      schedule(conn, state);
      conn.reply(id, after === undefined ? {} : { expiresAt: after });
    },
  };
}

/** The auth session API the server and dispatcher use. */
export type AuthSession<Identity> = ReturnType<typeof createAuthSession<Identity>>;
