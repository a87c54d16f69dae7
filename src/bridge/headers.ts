/**
 * Upgrade headers a guest may ask for, and credential references inside them. Pure and
 * isomorphic: the host checks headers before it contacts the egress relay, and the relay checks
 * them again (it trusts no host) before it substitutes credentials (docs/bridge.md §7).
 *
 * A credential reference is the string `{{rp.credential:NAME}}`. `rp.credentials.get(NAME)`
 * returns it, so the RightPlace SDK's `Bearer ${token}` still works — but only the egress server replaces
 * it with the secret, so the secret never enters the iframe, the host page or a `postMessage`.
 */

/** Most headers one connection may carry. */
export const MAX_HEADERS = 32;
/** Most bytes (names + values, as UTF-16 code units) of all headers of one connection. */
export const MAX_HEADER_BYTES = 8_192;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;
// RFC 9110 §5.5: field values are visible characters, spaces and tabs; CR, LF and NUL would let a
// value smuggle a second header.
const VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Headers that belong to the WebSocket handshake or to the connection itself: setting them would
 * break the upgrade or lie about its target (`Host` could reach a virtual host the URL policy never
 * saw). Subprotocols go in `protocols`.
 */
const FORBIDDEN = new Set([
  'host',
  'connection',
  'upgrade',
  'content-length',
  'transfer-encoding',
  'te',
  'trailer',
  'keep-alive',
  'expect',
]);
const FORBIDDEN_PREFIXES = ['sec-websocket-', 'proxy-'];

/** Credential names: 1–64 characters of `A-Z a-z 0-9 . _ -`. */
export const CREDENTIAL_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const REFERENCE = /\{\{rp\.credential:([A-Za-z0-9._-]{1,64})\}\}/g;

/** The reference string that stands for credential `name` until the egress server replaces it. */
export function credentialReference(name: string): string {
  return `{{rp.credential:${name}}}`;
}

/** Names of the credentials referenced in header values, each once. */
export function referencedCredentials(headers: Readonly<Record<string, string>>): string[] {
  const names = new Set<string>();
  for (const value of Object.values(headers)) for (const m of value.matchAll(REFERENCE)) names.add(m[1]!);
  return [...names];
}

/** Outcome of {@link checkHeaders}. */
export type HeadersCheck = { ok: true; headers: Record<string, string> } | { ok: false; message: string };

/**
 * Validates headers as a guest sent them: a plain object of string values, valid names and values,
 * none of the handshake's own headers, within {@link MAX_HEADERS} and {@link MAX_HEADER_BYTES}.
 * Returns a fresh object (no prototype tricks survive).
 */
export function checkHeaders(raw: unknown): HeadersCheck {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, message: 'headers must be an object of strings' };
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > MAX_HEADERS) return { ok: false, message: `at most ${MAX_HEADERS} headers` };
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  const seen = new Set<string>();
  let bytes = 0;
  for (const [name, value] of entries) {
    if (typeof value !== 'string') return { ok: false, message: `header ${JSON.stringify(name.slice(0, 64))} must be a string` };
    if (!TOKEN.test(name)) return { ok: false, message: `invalid header name ${JSON.stringify(name.slice(0, 64))}` };
    const lower = name.toLowerCase();
    if (FORBIDDEN.has(lower) || FORBIDDEN_PREFIXES.some((p) => lower.startsWith(p))) {
      return { ok: false, message: `header ${name} cannot be set (it belongs to the WebSocket handshake)` };
    }
    if (seen.has(lower)) return { ok: false, message: `header ${name} is given twice` };
    seen.add(lower);
    if (!VALUE.test(value)) return { ok: false, message: `header ${name} has an invalid value (control characters)` };
    bytes += name.length + value.length;
    if (bytes > MAX_HEADER_BYTES) return { ok: false, message: `headers exceed ${MAX_HEADER_BYTES} bytes` };
    headers[name] = value;
  }
  return { ok: true, headers };
}

/** Outcome of {@link resolveCredentials}. */
export type CredentialsResolution = { ok: true; headers: Record<string, string> } | { ok: false; name: string; message: string };

/**
 * Replaces every credential reference in the header values with the secret `lookup` returns.
 * `undefined` from `lookup` refuses the whole set. A secret that is not a valid header value is
 * refused too (it would otherwise be rejected later by the HTTP layer with its value in the error).
 * Messages name the credential, never its value.
 */
export async function resolveCredentials(
  headers: Readonly<Record<string, string>>,
  lookup: (name: string) => Promise<string | undefined>,
): Promise<CredentialsResolution> {
  const secrets = new Map<string, string>();
  for (const name of referencedCredentials(headers)) {
    const secret = await lookup(name);
    if (secret === undefined) return { ok: false, name, message: `credential ${name} is not available for this URL` };
    if (typeof secret !== 'string' || !VALUE.test(secret)) return { ok: false, name, message: `credential ${name} is not a valid header value` };
    secrets.set(name, secret);
  }
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    out[name] = value.replace(REFERENCE, (_m, n: string) => secrets.get(n)!);
  }
  return { ok: true, headers: out };
}
