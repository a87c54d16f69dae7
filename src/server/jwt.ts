/**
 * `jwt(options)`: an `authenticate` function that verifies JSON Web Tokens with `jose` (signatures
 * are never checked by hand) and finds the token in the transports the options allow.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type CryptoKey, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { TokenTransport } from '../protocol/subprotocol.js';
import { nonEmptyString, nonNegativeNumber, oneOf, withDefaults } from '../shared/options.js';
import type { Authenticate } from './options.js';


export interface JwtOptions {
  /** Shared secret for HS256/384/512. */
  secret?: string | Uint8Array;
  /** Public key for RS*, PS*, ES*, EdDSA: a PEM (SPKI) string, a `KeyObject` or a `CryptoKey`. */
  publicKey?: string | KeyObject | CryptoKey;
  /** A key set: a URL to fetch (and cache) it from, or the set itself. */
  jwks?: string | URL | JSONWebKeySet;
  /** Accepted `alg` values. Required; `none` is never accepted. */
  algorithms: string[];
  /** Required `iss`. @default not checked */
  issuer?: string | string[];
  /** Required `aud` (one of). @default not checked */
  audience?: string | string[];
  /** Leeway for `exp`/`nbf`, in seconds. @default 0 */
  clockToleranceSec?: number;
  /** Transports accepted, in the order they are looked at. @default ['protocol'] */
  from?: TokenTransport[];
  /** Cookie that carries the token with `from: ['cookie']`. @default 'sb_token' */
  cookieName?: string;
  /** Query parameter that carries the token with `from: ['query']`. @default 'token' */
  queryParam?: string;
}

/** The verified claims; they become `ctx.identity`. */
export type JwtClaims = JWTPayload & Record<string, unknown>;

/**
 * What `jwt()` returns: an `authenticate` function the server also asks about the transports it may
 * use, and how to verify a token that arrives in a frame (first message, refresh).
 */
export interface TokenAuthenticate<Identity> extends Authenticate<Identity> {
  readonly transports: readonly TokenTransport[];
  /** Verifies a bare token; `null` when it is not valid. */
  verify(token: string): Promise<Identity | null>;
  /** The token the handshake carries in an accepted transport, if any. */
  findToken(req: IncomingMessage, protocolToken: string | undefined): string | undefined;
}

/** Whether an `authenticate` function is a {@link TokenAuthenticate} (made by `jwt()` or alike). */
export function isTokenAuthenticate<I>(fn: Authenticate<I> | undefined): fn is TokenAuthenticate<I> {
  const f = fn as Partial<TokenAuthenticate<I>> | undefined;
  return typeof f?.verify === 'function' && typeof f.findToken === 'function' && Array.isArray(f.transports);
}

const JWT_DEFAULTS = { from: ['protocol'] as TokenTransport[], cookieName: 'sb_token', queryParam: 'token', clockToleranceSec: 0 };

/** Error codes of jose that mean "this token is not acceptable" (→ 401), not "we are broken" (→ 500). */
function isTokenFault(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^ERR_(JWT|JWS|JOSE_ALG|JWKS_NO_MATCHING_KEY|JWKS_MULTIPLE_MATCHING_KEYS|JOSE_NOT_SUPPORTED)/.test(code);
}

/** The key type an algorithm needs: RS* and PS* share RSA keys. */
function family(alg: string): string {
  return /^(RS|PS)\d+$/.test(alg) ? 'RSA' : alg.replace(/\d+$/, '');
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/**
 * Creates an `authenticate` function that accepts a valid JWT and makes its claims the identity.
 *
 * @example
 * createServer({ authenticate: jwt({ secret: process.env.JWT_SECRET!, algorithms: ['HS256'], audience: 'chat' }) });
 */
export function jwt(options: JwtOptions): TokenAuthenticate<JwtClaims> {
  const o = withDefaults<JwtOptions & typeof JWT_DEFAULTS>(JWT_DEFAULTS as JwtOptions & typeof JWT_DEFAULTS, options);
  nonEmptyString('jwt: cookieName', o.cookieName);
  nonEmptyString('jwt: queryParam', o.queryParam);
  nonNegativeNumber('jwt: clockToleranceSec', o.clockToleranceSec);
  if (!Array.isArray(o.from)) throw new TypeError('jwt: `from` must be an array of transports');
  o.from.forEach((t, i) => oneOf(`jwt: from[${i}]`, t, ['protocol', 'query', 'cookie', 'message']));
  if (!Array.isArray(o.algorithms) || o.algorithms.length === 0) throw new TypeError('jwt: `algorithms` is required');
  if (o.algorithms.some((a) => a.toLowerCase() === 'none')) throw new TypeError('jwt: alg "none" is never accepted');
  const keys = [o.secret, o.publicKey, o.jwks].filter((k) => k !== undefined);
  if (keys.length !== 1) throw new TypeError('jwt: pass exactly one of `secret`, `publicKey`, `jwks`');
  // One key source verifies one family: HS* only with `secret`, every other alg only with a public
  // key or key set. A mixed list let any client pick the other family in its token header, which
  // makes jose throw a key-type TypeError: HTTP 500 and an error log line per handshake, not a 401.
  const hmac = o.algorithms.filter((a) => /^HS\d+$/.test(a)).length;
  if (o.secret !== undefined ? hmac !== o.algorithms.length : hmac > 0) {
    throw new TypeError('jwt: `secret` verifies HS256/384/512 only; `publicKey` and `jwks` verify the other algorithms');
  }
  // A public key is of one type, so its algorithms must be of one family too; otherwise a crafted
  // header naming the other family makes jose throw a key-type error (HTTP 500) instead of a 401.
  if (o.publicKey !== undefined && new Set(o.algorithms.map(family)).size > 1) {
    throw new TypeError('jwt: a `publicKey` verifies one algorithm family (RS/PS, ES or EdDSA); use `jwks` for several');
  }
  if (o.from.length === 0) throw new TypeError('jwt: `from` lists no transport');

  let key: Uint8Array | KeyObject | CryptoKey | JWTVerifyGetKey;
  if (o.secret !== undefined) key = typeof o.secret === 'string' ? new TextEncoder().encode(o.secret) : o.secret;
  else if (o.publicKey !== undefined) key = typeof o.publicKey === 'string' ? createPublicKey(o.publicKey) : o.publicKey;
  else if (typeof o.jwks === 'string' || o.jwks instanceof URL) key = createRemoteJWKSet(new URL(o.jwks));
  else key = createLocalJWKSet(o.jwks as JSONWebKeySet);

  const verifyOptions = {
    algorithms: o.algorithms,
    clockTolerance: o.clockToleranceSec,
    ...(o.issuer !== undefined ? { issuer: o.issuer } : {}),
    ...(o.audience !== undefined ? { audience: o.audience } : {}),
  };

  async function verify(token: string): Promise<JwtClaims | null> {
    try {
      const { payload } = await jwtVerify(token, key as Uint8Array, verifyOptions);
      return payload as JwtClaims;
    } catch (err) {
      if (isTokenFault(err)) return null;
      throw err; // e.g. the JWKS endpoint is down: a server fault (HTTP 500), logged without the token
    }
  }

  /** The first token found in the handshake transports, in `from` order. */
  function find(req: IncomingMessage, protocolToken: string | undefined): string | undefined {
    for (const t of o.from) {
      if (t === 'protocol' && protocolToken) return protocolToken;
      if (t === 'query') {
        const v = new URL(req.url ?? '/', 'http://x').searchParams.get(o.queryParam);
        if (v) return v;
      }
      if (t === 'cookie') {
        const v = cookie(req, o.cookieName);
        if (v) return v;
      }
    }
    return undefined;
  }

  const authenticate = async (req: IncomingMessage, protocolToken: string | undefined) => {
    const token = find(req, protocolToken);
    return token === undefined ? null : verify(token);
  };
  return Object.assign(authenticate, { transports: Object.freeze([...o.from]), verify, findToken: find });
}
