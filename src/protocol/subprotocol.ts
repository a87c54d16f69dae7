/**
 * Subprotocol names (docs/protocol.md §1.1) and the token entry browsers can carry in
 * `Sec-WebSocket-Protocol`. Isomorphic: uses only `btoa`/`atob` and TextEncoder.
 */
import { utf8Encoder as enc, utf8StrictDecoder as dec } from './utf8.js';

/** Protocol v1 with the JSON codec. */
export const SUBPROTOCOL_JSON = 'switchboard.v1.json';
/** Protocol v1 with the MessagePack codec. */
export const SUBPROTOCOL_MSGPACK = 'switchboard.v1.msgpack';
/** Prefix of every v1 subprotocol. */
export const SUBPROTOCOL_V1_PREFIX = 'switchboard.v1.';
/** Prefix of the token entry. */
export const AUTH_PREFIX = 'switchboard.auth.';

/**
 * Where a token may travel (docs/security.md, "Where the token travels"): a `Sec-WebSocket-Protocol`
 * entry (the client's default, safe in browsers), the query string (`?token=`; visible in proxy
 * logs), a cookie (sent by browsers on their own; pair with `origins`), or the first message after
 * the upgrade. The server's `jwt({ from })` lists the ones it accepts; a client picks one of them
 * but `'cookie'` ({@link ClientTokenTransport}).
 */
export type TokenTransport = 'protocol' | 'query' | 'cookie' | 'message';

/** Where a client puts its token (`tokenIn`): browsers send cookies on their own, so no option is needed for them. */
export type ClientTokenTransport = Exclude<TokenTransport, 'cookie'>;

/** Encodes a token as a `switchboard.auth.<base64url>` subprotocol entry. */
export function encodeTokenProtocol(token: string): string {
  let bin = '';
  for (const b of enc.encode(token)) bin += String.fromCharCode(b);
  return AUTH_PREFIX + btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** Decodes a token entry; `undefined` when the entry is malformed. */
export function decodeTokenProtocol(entry: string): string | undefined {
  if (!entry.startsWith(AUTH_PREFIX)) return undefined;
  const raw = entry.slice(AUTH_PREFIX.length);
  // base64url only (RFC 4648 §5): one spelling per token, so a token cannot be smuggled twice.
  if (!/^[A-Za-z0-9_-]*$/.test(raw) || raw.length % 4 === 1) return undefined;
  const b64 = raw.replace(/-/g, '+').replace(/_/g, '/');
  try {
    const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return dec.decode(bytes);
  } catch {
    return undefined;
  }
}

/** A `Sec-WebSocket-Protocol` header, read: the offered entries, and the token entry decoded. */
export type OfferedProtocols = { ok: true; protocols: string[]; token: string | undefined } | { ok: false; message: string };

/**
 * Reads an offered subprotocol list (docs/protocol.md §1.1): the `switchboard.auth.*` entry is set
 * apart and decoded; more than one, or a malformed one, refuses the whole request (HTTP 400 at
 * every endpoint), so a token can never be read two ways.
 */
export function readOfferedProtocols(header: string | undefined): OfferedProtocols {
  const protocols: string[] = [];
  let token: string | undefined;
  for (const raw of (header ?? '').split(',')) {
    const entry = raw.trim();
    if (entry.startsWith(AUTH_PREFIX)) {
      if (token !== undefined) return { ok: false, message: 'More than one token subprotocol' };
      token = decodeTokenProtocol(entry);
      if (token === undefined) return { ok: false, message: 'Malformed token subprotocol' };
    } else if (entry) {
      protocols.push(entry);
    }
  }
  return { ok: true, protocols, token };
}
