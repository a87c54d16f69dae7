/**
 * Presence member ids (docs/server.md, "Presence"): the one place an identity becomes a member id,
 * used for presence lists and join/leave events, for the "same member" check of a token refresh,
 * and for the default scope of idempotency keys.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Member } from '../protocol/frames.js';
import type { PresenceOptions } from './options.js';

/** The default `presence.key`: the identity when a string, else its string `id` (or numeric `id`), else its `sub`, else the clientId. */
export function defaultMemberKey(identity: unknown, clientId: string): string {
  if (typeof identity === 'string' && identity) return identity;
  if (typeof identity === 'object' && identity !== null) {
    const { id, sub } = identity as { id?: unknown; sub?: unknown };
    if (typeof id === 'string' && id) return id;
    if (typeof id === 'number') return String(id);
    if (typeof sub === 'string' && sub) return sub;
  }
  return clientId;
}

/** Marks "no stable id": what the member id falls back to for an identity without one. */
const NO_ID = '\u0000';

/** What the server derives from identities. */
export interface Members<Identity> {
  /** The member id of `identity` on connection `clientId`; connections with the same id are one member. */
  id(identity: Identity, clientId: string): string;
  /** What a connection shows in member lists and join/leave events: its id and `presence.info`. */
  of(conn: { readonly identity: Identity; readonly clientId: string }): Member;
  /**
   * The scope of an identity's idempotency keys: `scope` when given, else one shared scope for an
   * `undefined` identity, else its member id, else (an identity without a stable id) a digest of the
   * whole identity, so two different users never share one.
   */
  scope(identity: Identity): string;
}

/** Applies `presence.key` and `presence.info` (and `idempotency.scope`) for a server. */
export function createMembers<Identity>(presence: PresenceOptions<Identity>, scope?: (identity: Identity) => string): Members<Identity> {
  const { key, info } = presence;
  return {
    id: key,
    of: info ? (conn) => ({ id: key(conn.identity, conn.clientId), info: info(conn.identity) }) : (conn) => ({ id: key(conn.identity, conn.clientId) }),
    scope: scope ?? ((identity) => defaultScope(identity, key)),
  };
}

function defaultScope<Identity>(identity: Identity, key: (identity: Identity, clientId: string) => string): string {
  if (identity === undefined || identity === null) return '';
  const id = key(identity, NO_ID);
  if (id !== NO_ID && id !== '') return `id:${id}`;
  try {
    return `h:${createHash('sha256').update(JSON.stringify(identity) ?? String(identity)).digest('base64url')}`;
  } catch {
    // Not serialisable (a cycle): nothing stable to scope by, so keys cannot cross connections.
    return `c:${randomUUID()}`;
  }
}
