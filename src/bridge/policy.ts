/**
 * URL policy: which WebSocket URLs a resource (host side) or the egress relay (server side) may
 * open. Pure and isomorphic — the host and the Node egress share it, so one pattern means the
 * same thing on both sides (docs/bridge.md §6).
 *
 * A pattern is `scheme://host[:port][/path]`:
 * - scheme `wss` or `ws`; a plain `ws://` URL passes only where a `ws://` pattern allows it;
 * - host exact (`api.example.com`, `127.0.0.1`, `[::1]`), `*.example.com` (any subdomain, not
 *   the apex), or `*` (any host);
 * - port exact, `*` (any), or omitted (the scheme's default port only);
 * - path, when given, a prefix on segment boundaries (`/v1` allows `/v1` and `/v1/x`, not `/v10`).
 */
import { BridgeErrorCode } from './errors.js';

/** The longest URL accepted; longer ones are refused before parsing. */
export const MAX_URL_LENGTH = 2_048;

interface Pattern {
  source: string;
  protocol: 'ws:' | 'wss:';
  /** `*` = any host; `.example.com` = any subdomain; else the exact hostname. */
  host: string;
  /** `*` = any port; `''` = the default port; else the exact port. */
  port: string;
  /** `''` = any path; else a normalised prefix. */
  path: string;
}

/** Outcome of {@link UrlPolicy.check}. */
export type UrlCheck = { ok: true; url: URL } | { ok: false; code: typeof BridgeErrorCode.URL_NOT_ALLOWED; message: string };

/** A compiled allowlist of WebSocket URLs. Create it with {@link createUrlPolicy}. */
export interface UrlPolicy {
  /** The patterns, as given. */
  readonly patterns: readonly string[];
  /** Parses `url` and checks it against the patterns. Never throws. */
  check(url: unknown): UrlCheck;
}

const PATTERN = /^(wss?):\/\/(\*|\*\.[^/:[\]*?#@]+|[^/:[\]*?#@]+|\[[0-9A-Fa-f:.]+\])(?::(\*|\d{1,5}))?(\/[^?#*]*)?$/;

function compile(source: string): Pattern {
  const m = typeof source === 'string' ? PATTERN.exec(source) : null;
  if (!m) {
    throw new TypeError(`invalid URL pattern ${JSON.stringify(source)}: expected scheme://host[:port][/path] with scheme ws or wss`);
  }
  const scheme = m[1] as 'ws' | 'wss';
  const rawHost = m[2]!;
  const rawPort = m[3];
  // Let the URL parser normalise the host (case, IDNA, IPv4 forms) exactly as it will for the
  // URLs checked later, so a pattern cannot fail to match a URL spelled differently.
  const base = rawHost === '*' ? '' : rawHost.startsWith('*.') ? rawHost.slice(2) : rawHost;
  let host = '*';
  let path = '';
  let port = rawPort === '*' ? '*' : '';
  try {
    const parsed = new URL(`${scheme}://${base || 'any.invalid'}${rawPort && rawPort !== '*' ? `:${rawPort}` : ''}${m[4] ?? '/'}`);
    if (base) host = rawHost.startsWith('*.') ? `.${parsed.hostname}` : parsed.hostname;
    if (rawPort !== '*') port = parsed.port;
    if (m[4] !== undefined && m[4] !== '/') path = parsed.pathname.replace(/\/+$/, '');
  } catch {
    throw new TypeError(`invalid URL pattern ${JSON.stringify(source)}: the host or port does not parse`);
  }
  return { source, protocol: `${scheme}:`, host, port, path };
}

function matches(p: Pattern, url: URL): boolean {
  if (url.protocol !== p.protocol) return false;
  if (p.host !== '*') {
    if (p.host.startsWith('.')) {
      if (!url.hostname.endsWith(p.host) || url.hostname.length === p.host.length) return false;
    } else if (url.hostname !== p.host) {
      return false;
    }
  }
  if (p.port !== '*' && url.port !== p.port) return false;
  if (p.path && url.pathname !== p.path && !url.pathname.startsWith(`${p.path}/`)) return false;
  return true;
}

function refused(message: string): UrlCheck {
  return { ok: false, code: BridgeErrorCode.URL_NOT_ALLOWED, message };
}

/**
 * Compiles an allowlist. An invalid pattern throws a `TypeError` at once; an empty list allows
 * nothing (safe by default).
 *
 * @example
 * const policy = createUrlPolicy(['wss://*.example.com', 'ws://127.0.0.1:*']);
 * policy.check('wss://feed.example.com/prices').ok; // true
 * policy.check('ws://feed.example.com/prices').ok;  // false: plain ws only for 127.0.0.1
 */
export function createUrlPolicy(allow: readonly string[]): UrlPolicy {
  if (!Array.isArray(allow)) throw new TypeError('the URL policy must be an array of patterns');
  const compiled = allow.map(compile);
  return {
    patterns: Object.freeze([...allow]),
    check(raw) {
      if (typeof raw !== 'string' || raw.length === 0) return refused('url must be a non-empty string');
      if (raw.length > MAX_URL_LENGTH) return refused(`url is longer than ${MAX_URL_LENGTH} characters`);
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        return refused('url does not parse');
      }
      if (url.protocol !== 'ws:' && url.protocol !== 'wss:') return refused(`scheme ${url.protocol} is not a WebSocket scheme (ws: or wss:)`);
      // Userinfo would travel to the upstream as credentials the policy never saw; WebSocket
      // URLs may not carry a fragment at all (WHATWG WebSockets, the constructor's step 5).
      if (url.username || url.password) return refused('url must not carry a user name or password');
      if (url.hash || raw.includes('#')) return refused('url must not carry a fragment');
      if (!compiled.some((p) => matches(p, url))) return refused(`${url.origin}${url.pathname} is not allowed by the policy`);
      return { ok: true, url };
    },
  };
}
