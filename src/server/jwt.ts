/**
 * `jwt(options)`: an `authenticate` function that verifies JSON Web Tokens with `jose` (signatures
 * are never checked by hand) and finds the token in the transports the options allow.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type CryptoKey, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { noteTokenRefusal, type TokenRefusalCategory } from '../net/refusal.js';
import type { TokenTransport } from '../protocol/subprotocol.js';
import { nonEmptyString, nonNegativeNumber, oneOf, withDefaults } from '../shared/options.js';
import type { Authenticate } from './options.js';

/** Options of {@link jwt}. */
export interface JwtOptions {
  /**
   * Shared secret for HS256/384/512: at least as many bytes as the hash (RFC 7518 §3.2: 32 for
   * HS256, 48 for HS384, 64 for HS512; the largest listed algorithm counts). Shorter secrets throw a
   * `TypeError`; generate one with `openssl rand -base64 32` (`64` for HS512).
   */
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

/** What {@link TokenAuthenticate.check} found: the identity, or why the token is refused. */
export type TokenCheck<Identity> = { ok: true; identity: Identity } | { ok: false; reason: TokenRefusalCategory };

export type { TokenRefusalCategory };

/**
 * What `jwt()` returns: an `authenticate` function the server also asks about the transports it may
 * use, and how to verify a token that arrives in a frame (first message, refresh).
 */
export interface TokenAuthenticate<Identity> extends Authenticate<Identity> {
  readonly transports: readonly TokenTransport[];
  /** Verifies a bare token; `null` when it is not valid. */
  verify(token: string): Promise<Identity | null>;
  /**
   * Verifies a bare token and says why it is refused (docs/security.md, "Refusal logs"); the server
   * logs that reason for first-message and refresh tokens. Optional for authenticators made
   * elsewhere: without it the reason is `refused`.
   */
  check?(token: string): Promise<TokenCheck<Identity>>;
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

/**
 * Why jose refused a token, in the categories of docs/security.md. Claim failures name their claim
 * (`nbf`, `aud`, `iss`); any other claim that fails (a non-numeric `exp`, a bad `iat`) is malformed.
 */
function refusalOf(err: unknown): TokenRefusalCategory {
  const { code, claim } = err as { code?: string; claim?: string };
  switch (code) {
    case 'ERR_JWT_EXPIRED':
      return 'expired';
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'bad-signature';
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return 'unknown-key';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return 'algorithm';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      return claim === 'nbf' ? 'not-yet-valid' : claim === 'aud' ? 'wrong-audience' : claim === 'iss' ? 'wrong-issuer' : 'malformed';
    default:
      return 'malformed';
  }
}

/** RFC 7518 §3.2: an HMAC key must be at least as long as the hash output, in bytes. */
const HMAC_MIN_BYTES: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 };

/** Throws the `TypeError` of a `secret` shorter than the strongest listed HS algorithm needs. */
function checkSecretLength(secret: string | Uint8Array, algorithms: readonly string[]): void {
  const bytes = typeof secret === 'string' ? new TextEncoder().encode(secret).byteLength : secret.byteLength;
  const strongest = algorithms.reduce((a, b) => ((HMAC_MIN_BYTES[b] ?? 0) > (HMAC_MIN_BYTES[a] ?? 0) ? b : a));
  const min = HMAC_MIN_BYTES[strongest] ?? 0;
  if (bytes < min) {
    throw new TypeError(
      `jwt: \`secret\` is ${bytes} bytes; ${strongest} needs at least ${min} (RFC 7518 §3.2). ` +
        `Generate one with \`openssl rand -base64 ${min}\` and keep it out of the source`,
    );
  }
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
  if (o.secret !== undefined) {
    if (typeof o.secret !== 'string' && !(o.secret instanceof Uint8Array)) throw new TypeError('jwt: `secret` must be a string or a Uint8Array');
    checkSecretLength(o.secret, o.algorithms);
  }

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

  async function check(token: string): Promise<TokenCheck<JwtClaims>> {
    try {
      const { payload } = await jwtVerify(token, key as Uint8Array, verifyOptions);
      return { ok: true, identity: payload as JwtClaims };
    } catch (err) {
      if (isTokenFault(err)) return { ok: false, reason: refusalOf(err) };
      throw err; // e.g. the JWKS endpoint is down: a server fault (HTTP 500), logged without the token
    }
  }

  async function verify(token: string): Promise<JwtClaims | null> {
    const r = await check(token);
    return r.ok ? r.identity : null;
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

  // Returns null to refuse, as every `authenticate` does; the reason goes to the endpoint beside it.
  const authenticate = async (req: IncomingMessage, protocolToken: string | undefined) => {
    const token = find(req, protocolToken);
    const r: TokenCheck<JwtClaims> = token === undefined ? { ok: false, reason: 'no-token' } : await check(token);
    if (r.ok) return r.identity;
    noteTokenRefusal(req, r.reason);
    return null;
  };
  return Object.assign(authenticate, { transports: Object.freeze([...o.from]), verify, check, findToken: find });
}
