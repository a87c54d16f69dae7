/**
 * `switchboard token`: mints an HS256 development JWT that `jwt({ secret, algorithms: ['HS256'] })`
 * accepts (docs/cli.md, "token"). Signing is jose's, as verification is.
 */
import { SignJWT, type JWTPayload } from 'jose';
import { durationMs, helpWanted, list, parse, str, UsageError } from './args.js';

/** Shortest HS256 secret accepted: the key must be at least as long as the hash (RFC 7518 §3.2). */
export const MIN_SECRET_BYTES = 32;

/** Claims set by their own flags, which `--claim` may not set. */
const RESERVED = ['sub', 'exp', 'iat', 'nbf', 'aud', 'iss', 'jti'];

/** `switchboard token --help`. */
export const TOKEN_HELP = `Usage: switchboard token --secret SECRET --sub SUBJECT [options]

Mints an HS256 JSON Web Token for development that the server's jwt() helper accepts
(jwt({ secret, algorithms: ['HS256'] })). Prints the token on stdout.

Options:
  --secret SECRET   shared secret, at least ${MIN_SECRET_BYTES} bytes (default: $SWITCHBOARD_JWT_SECRET);
                    generate one with: openssl rand -base64 32
  --sub SUBJECT     the subject (sub claim): the member id presence shows
  --ttl DURATION    lifetime: 30s, 15m, 1h, 7d; a bare number is seconds (default: 1h)
  --aud AUDIENCE    audience (aud claim); repeat for several
  --iss ISSUER      issuer (iss claim)
  --claim KEY=VALUE another claim; VALUE is JSON when it parses (admin=true, n=42), else a string;
                    repeat for several
  -h, --help        this help

Example:
  switchboard token --secret "$(openssl rand -base64 32)" --sub alice --ttl 1h --claim admin=true
`;

/** What {@link mintToken} signs. */
export interface MintOptions {
  /** HS256 secret, at least {@link MIN_SECRET_BYTES} bytes of UTF-8. */
  secret: string;
  /** The `sub` claim. */
  subject: string;
  /** Lifetime in seconds: `exp` = `iat` + this. */
  ttlSec: number;
  /** The `aud` claim: one value, or several. */
  audience?: string[];
  /** The `iss` claim. */
  issuer?: string;
  /** Other claims. */
  claims?: Record<string, unknown>;
  /** `iat`, in seconds since the epoch. @default now */
  nowSec?: number;
}

/** The reason a secret is refused, or `undefined` when it is long enough. */
export function weakSecret(secret: string): string | undefined {
  const bytes = Buffer.byteLength(secret, 'utf8');
  if (bytes >= MIN_SECRET_BYTES) return undefined;
  return `the secret is ${bytes} bytes; HS256 needs at least ${MIN_SECRET_BYTES} (RFC 7518 §3.2). Generate one with: openssl rand -base64 32`;
}

/** Signs a token with HS256. Throws a {@link UsageError} for a secret that is too short. */
export async function mintToken(o: MintOptions): Promise<string> {
  const weak = weakSecret(o.secret);
  if (weak) throw new UsageError(weak);
  const iat = o.nowSec ?? Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ ...(o.claims ?? {}) } as JWTPayload)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(o.subject)
    .setIssuedAt(iat)
    .setExpirationTime(iat + o.ttlSec);
  if (o.audience?.length) jwt.setAudience(o.audience.length === 1 ? o.audience[0]! : o.audience);
  if (o.issuer !== undefined) jwt.setIssuer(o.issuer);
  return jwt.sign(new TextEncoder().encode(o.secret));
}

/** Parses `--claim key=value` entries. */
export function parseClaims(entries: readonly string[]): Record<string, unknown> {
  const claims: Record<string, unknown> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq < 1) throw new UsageError(`--claim takes KEY=VALUE, got ${JSON.stringify(entry)}`);
    const key = entry.slice(0, eq);
    const text = entry.slice(eq + 1);
    if (RESERVED.includes(key)) throw new UsageError(`--claim ${key}=… is set by its own flag (--sub, --ttl, --aud, --iss) or by the signer`);
    let value: unknown = text;
    try {
      value = JSON.parse(text);
    } catch {
      // not JSON: the text itself, so --claim name=Alice needs no quoting
    }
    claims[key] = value;
  }
  return claims;
}

/** Runs `switchboard token`; resolves the exit code. */
export async function runToken(args: readonly string[], out: NodeJS.WritableStream, env: NodeJS.ProcessEnv): Promise<number> {
  const p = parse('token', args, {
    secret: { type: 'string' },
    sub: { type: 'string' },
    ttl: { type: 'string' },
    aud: { type: 'string', multiple: true },
    iss: { type: 'string' },
    claim: { type: 'string', multiple: true },
  }, false);
  if (helpWanted(p, TOKEN_HELP, out)) return 0;
  const secret = str(p, 'secret') ?? env.SWITCHBOARD_JWT_SECRET;
  if (secret === undefined || secret === '') throw new UsageError('--secret is required (or set SWITCHBOARD_JWT_SECRET); generate one with: openssl rand -base64 32');
  const subject = str(p, 'sub');
  if (subject === undefined || subject === '') throw new UsageError('--sub is required: the subject the token is for (e.g. --sub alice)');
  const ttlMs = durationMs('ttl', str(p, 'ttl') ?? '1h');
  if (ttlMs < 1000) throw new UsageError('--ttl must be at least 1s: a JWT counts its lifetime in whole seconds');
  const token = await mintToken({
    secret,
    subject,
    ttlSec: Math.round(ttlMs / 1000),
    audience: list(p, 'aud'),
    ...(str(p, 'iss') !== undefined ? { issuer: str(p, 'iss')! } : {}),
    claims: parseClaims(list(p, 'claim')),
  });
  out.write(`${token}\n`);
  return 0;
}
