/**
 * TLS settings as every endpoint and client of the package takes them (docs/deploy.md, "TLS"):
 * PEM text or its bytes, checked once here. Runtime-neutral (no Node types), so the client's
 * options can name them without dragging Node into browser declaration files; each Node user hands
 * them to `https` / `tls` as they are (Node accepts any `Uint8Array` where it types `Buffer`).
 */
import { check, knownKeys } from './options.js';

/** PEM text, or its bytes (what `fs.readFileSync` returns). */
export type Pem = string | Uint8Array;

/** A server's own certificate: what a `wss://` endpoint serves (server `tls`, egress relay `tls`). */
export interface TlsOptions {
  /** The private key. */
  key: Pem;
  /** The certificate, followed by its intermediates. */
  cert: Pem;
  /** CA certificates to trust instead of the system's (client certificates). @default the system's */
  ca?: Pem | Pem[];
}

/**
 * How a Node peer checks the server it connects to over `wss://` (the Node client's `tls`, the
 * egress relay's `upstreamTls`), and the certificate it shows when the server asks for one.
 */
export interface ClientTlsOptions {
  /**
   * CA certificates to trust for the server's certificate, instead of the system's (a private CA,
   * a self-signed development certificate). @default the system's trusted CAs
   */
  ca?: Pem | Pem[];
  /** A client certificate (mutual TLS), followed by its intermediates; needs `key`. @default none */
  cert?: Pem;
  /** The private key of `cert`. @default none */
  key?: Pem;
  /**
   * Whether a certificate that does not verify (unknown CA, wrong host name, expired) fails the
   * connection. `false` accepts any certificate: encryption without knowing who answers, for local
   * experiments only. @default true
   */
  rejectUnauthorized?: boolean;
  /** The host name the certificate must name, when it is not the URL's (SNI). @default the URL's host */
  servername?: string;
}

const isPem = (v: unknown): boolean => typeof v === 'string' || v instanceof Uint8Array;
const isPemList = (v: unknown): boolean => (Array.isArray(v) ? v.length > 0 && v.every(isPem) : isPem(v));
const object = (path: string, v: unknown, shape: string) => check(path, v, typeof v === 'object' && v !== null && !Array.isArray(v), `an object ${shape}`);

/** Checks a server's `tls` option (`path` names it in the `TypeError`): a key and a certificate, each PEM text or bytes. */
export function checkTls(path: string, tls: unknown): TlsOptions | undefined {
  if (tls === undefined) return undefined;
  const t = knownKeys(path, object(path, tls, '{ key, cert, ca? }') as Record<string, unknown>, ['key', 'cert', 'ca']);
  check(`${path}.key`, t.key, isPem(t.key), 'PEM text or bytes');
  check(`${path}.cert`, t.cert, isPem(t.cert), 'PEM text or bytes');
  if (t.ca !== undefined) check(`${path}.ca`, t.ca, isPemList(t.ca), 'PEM text or bytes, or a list of them');
  return t as unknown as TlsOptions;
}

/** Checks a client's TLS settings (`path` names them in the `TypeError`). */
export function checkClientTls(path: string, tls: unknown): ClientTlsOptions | undefined {
  if (tls === undefined) return undefined;
  const t = knownKeys(path, object(path, tls, '{ ca?, cert?, key?, rejectUnauthorized?, servername? }') as Record<string, unknown>, ['ca', 'cert', 'key', 'rejectUnauthorized', 'servername']);
  if (t.ca !== undefined) check(`${path}.ca`, t.ca, isPemList(t.ca), 'PEM text or bytes, or a list of them');
  if (t.cert !== undefined) check(`${path}.cert`, t.cert, isPem(t.cert), 'PEM text or bytes');
  if (t.key !== undefined) check(`${path}.key`, t.key, isPem(t.key), 'PEM text or bytes');
  // A certificate without its key (or the reverse) would fail at the first handshake, far from here.
  if ((t.cert === undefined) !== (t.key === undefined)) throw new TypeError(`${path}.cert and ${path}.key go together: a client certificate needs its private key`);
  if (t.rejectUnauthorized !== undefined) check(`${path}.rejectUnauthorized`, t.rejectUnauthorized, typeof t.rejectUnauthorized === 'boolean', 'true or false');
  if (t.servername !== undefined) check(`${path}.servername`, t.servername, typeof t.servername === 'string' && t.servername.length > 0, 'a host name');
  return t as ClientTlsOptions;
}

/**
 * Whether a system error code is a TLS failure (a certificate the peer does not trust, a host name
 * it does not name, a TLS handshake with something that does not speak TLS): the Node client
 * reports those as `TLS_FAILED` rather than an unreachable server.
 */
export function isTlsErrorCode(code: string | undefined): boolean {
  return code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO_(VERIFY|GET)|^ERR_SSL_|^ERR_TLS_|^EPROTO$/.test(code);
}
