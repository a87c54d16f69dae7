/**
 * Why an upgrade request was refused, as data every transport can use: the reason category (logged
 * by refusal-log.ts and, for token refusals, sent in the 401's `WWW-Authenticate`), the HTTP status
 * and the one-line body (docs/protocol.md §1.2, docs/security.md "Refusal logs"). Nothing here
 * writes to a socket: a Node adapter writes the answer with refuse.ts, another runtime builds its
 * own response from the same status, headers and body.
 */

/**
 * Why a token was refused: what `jwt()` found wrong with it, in the words the 401 response's
 * `error_description` carries (RFC 6750 §3).
 */
export type TokenRefusalCategory =
  | 'no-token'
  | 'malformed'
  | 'bad-signature'
  | 'unknown-key'
  | 'expired'
  | 'not-yet-valid'
  | 'wrong-audience'
  | 'wrong-issuer'
  | 'algorithm';

/** Why an upgrade request was refused (docs/security.md, "Refusal logs"). */
export type RefusalCategory =
  | TokenRefusalCategory
  /** The application's `authenticate` returned `null` or `undefined`. */
  | 'refused'
  /** The `Origin` header is not in `origins`. */
  | 'origin'
  /** The request's path is not the endpoint's. */
  | 'path'
  /** `limits.maxConnections` or `limits.maxConnectionsPerIp`. */
  | 'limit'
  /** No supported subprotocol, or a malformed one (a bad token entry). */
  | 'subprotocol'
  /** The endpoint is shutting down. */
  | 'closing';

/** Every token refusal category, in the order docs/security.md lists them. */
export const TOKEN_REFUSAL_CATEGORIES: readonly TokenRefusalCategory[] = [
  'no-token',
  'malformed',
  'bad-signature',
  'unknown-key',
  'expired',
  'not-yet-valid',
  'wrong-audience',
  'wrong-issuer',
  'algorithm',
];

/** Every refusal category, in the order docs/security.md lists them. */
export const REFUSAL_CATEGORIES: readonly RefusalCategory[] = [...TOKEN_REFUSAL_CATEGORIES, 'refused', 'origin', 'path', 'limit', 'subprotocol', 'closing'];

/** One refused upgrade request: what to log, and what to answer. */
export interface Refusal {
  category: RefusalCategory;
  /** The HTTP status of the answer. */
  status: number;
  /** The answer's one-line text body; never a token. */
  message: string;
}

const TOKEN_CATEGORIES: ReadonlySet<string> = new Set(TOKEN_REFUSAL_CATEGORIES);

/** Whether `category` is a {@link TokenRefusalCategory}. */
export function isTokenRefusal(category: RefusalCategory): category is TokenRefusalCategory {
  return TOKEN_CATEGORIES.has(category);
}

/** The refusal of an authentication that `authenticate` (or `jwt()`) declined, with its category. */
export function unauthorized(category: TokenRefusalCategory | 'refused'): Refusal {
  return { category, status: 401, message: 'Unauthorized' };
}

/**
 * The headers a refusal carries besides the body's:
 *
 * - 401: a `WWW-Authenticate` challenge (RFC 7235 §4.1 asks for one on every 401), in RFC 6750's
 *   Bearer syntax. A refused token is `Bearer error="invalid_token", error_description="expired"`;
 *   a request without a token is `Bearer error_description="no-token"` (RFC 6750 §3.1: no `error`
 *   code when no credentials came, the description still says why), and so is the application's
 *   own refusal (`"refused"`), about which nothing more is known.
 * - 429 and 503 for limits and shutdown: `Retry-After: 1`, so clients back off.
 */
export function refusalHeaders(r: Refusal): Record<string, string> {
  if (r.status === 401) {
    const invalid = isTokenRefusal(r.category) && r.category !== 'no-token';
    return { 'WWW-Authenticate': `Bearer ${invalid ? 'error="invalid_token", ' : ''}error_description="${r.category}"` };
  }
  if (r.category === 'limit' || r.category === 'closing') return { 'Retry-After': '1' };
  return {};
}

/** The HTTP response of a refusal, as any transport writes it: status, extra headers, one-line body. */
export interface HttpRefusal {
  status: number;
  message: string;
  headers: Record<string, string>;
}

/** What to answer `r` with; a transport writes it (Node: refuse.ts) and closes the connection. */
export function httpAnswer(r: Refusal): HttpRefusal {
  return { status: r.status, message: r.message, headers: refusalHeaders(r) };
}

/**
 * Why `jwt()` (or another token authenticator) refused the token of a request, for the endpoint to
 * log and answer with. Keyed by the request object, so nothing about it outlives the request; the
 * authenticator's contract stays "return `null` to refuse" (docs/server.md, `authenticate`).
 */
const tokenRefusals = new WeakMap<object, TokenRefusalCategory>();

/** Records why the token of `req` was refused; the endpoint reads it with {@link takeTokenRefusal}. */
export function noteTokenRefusal(req: object, category: TokenRefusalCategory): void {
  tokenRefusals.set(req, category);
}

/** Why the token of `req` was refused, if an authenticator said so (and forgets it). */
export function takeTokenRefusal(req: object): TokenRefusalCategory | undefined {
  const category = tokenRefusals.get(req);
  tokenRefusals.delete(req);
  return category;
}
