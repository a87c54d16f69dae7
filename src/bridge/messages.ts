/**
 * The bridge's `postMessage` protocol as data (docs/bridge.md §3): the RightPlace SDK's `rp:request` and
 * `rp:ws` messages, the `rp:response` that answers every request, and the checks that turn an
 * untrusted `event.data` into a typed request. Pure: no DOM, no I/O.
 */
import { isSendableCloseCode } from '../protocol/close-codes.js';

/** Version of this message protocol, reported by `ready`. */
export const BRIDGE_PROTOCOL_VERSION = 1;

/** The capability a manifest must list for any `ws.*` method. */
export const WS_CAPABILITY = 'network:ws';

/** Request methods, as the `method` field spells them. */
export const BridgeMethod = {
  READY: 'ready',
  WS_CONNECT: 'ws.connect',
  WS_SEND: 'ws.send',
  WS_CLOSE: 'ws.close',
  CREDENTIALS_GET: 'credentials.get',
} as const;

/** A request id: a string of 1–128 characters (the RightPlace SDK's `"req-1"`) or a non-negative safe integer. */
export type RequestId = string | number;

/** Guest → host: asks the host to do something. Every request is answered by one {@link BridgeResponse}. */
export interface BridgeRequest {
  type: 'rp:request';
  id: RequestId;
  method: string;
  params?: Record<string, unknown>;
}

/** Params of `ws.connect`. */
export interface ConnectParams {
  /** Chosen by the guest, unique among its live connections (1–128 characters). */
  connectionId: string;
  url: string;
  /** Upgrade headers; require the host's egress relay. */
  headers?: Record<string, string>;
  protocols?: string[];
}

/** Data a connection carries: text, or bytes (`ArrayBuffer` or any view such as `Uint8Array`). */
export type BridgeData = string | ArrayBuffer | ArrayBufferView;

/** Params of `ws.send`. */
export interface SendParams {
  connectionId: string;
  data: BridgeData;
}

/** Params of `ws.close`. */
export interface CloseParams {
  connectionId: string;
  /** 1000 or 3000–4999, as for `WebSocket.close`. @default 1000 */
  code?: number;
  /** At most 123 bytes of UTF-8. @default '' */
  reason?: string;
}

/** Result of `ready`. */
export interface ReadyResult {
  version: number;
  /** The manifest's capabilities. */
  capabilities: string[];
  /** Whether `headers` and credentials can be used (an egress relay is configured). */
  egress: boolean;
  limits: { maxConnections: number; maxBufferedBytes: number; maxMessageBytes: number };
}

/** An error as the guest receives it. */
export interface WireError {
  code: string;
  message: string;
}

/** Host → guest: the answer to one request, matched by `id` (`null` when the request had no valid id). */
export type BridgeResponse =
  | { type: 'rp:response'; id: RequestId | null; ok: true; result: unknown }
  | { type: 'rp:response'; id: RequestId | null; ok: false; error: WireError };

/** Host → guest: an event of one connection. Every connection ends with exactly one `close`. */
export type WsEventMessage =
  | { type: 'rp:ws'; connectionId: string; event: 'open'; protocol: string }
  | { type: 'rp:ws'; connectionId: string; event: 'message'; data: string | ArrayBuffer }
  | { type: 'rp:ws'; connectionId: string; event: 'close'; code: number; reason: string }
  | { type: 'rp:ws'; connectionId: string; event: 'error'; error: string; errorCode: string };

/** Outcome of {@link parseRequest}. */
export type ParsedRequest =
  | { kind: 'ignore' }
  | { kind: 'bad'; id: RequestId | null; message: string }
  | { kind: 'request'; request: BridgeRequest };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Whether `v` is a valid request id. */
export function isRequestId(v: unknown): v is RequestId {
  return (typeof v === 'string' && v.length > 0 && v.length <= 128) || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0);
}

/**
 * Reads `event.data`. Messages that are not `rp:request` are ignored (the page may use
 * `postMessage` for other things); a malformed `rp:request` is `bad` and gets `BAD_REQUEST`.
 */
export function parseRequest(data: unknown): ParsedRequest {
  if (!isPlainObject(data) || data.type !== 'rp:request') return { kind: 'ignore' };
  const id = isRequestId(data.id) ? data.id : null;
  if (id === null) return { kind: 'bad', id, message: 'id must be a string of 1-128 characters or a non-negative integer' };
  if (typeof data.method !== 'string' || data.method.length === 0 || data.method.length > 64) {
    return { kind: 'bad', id, message: 'method must be a string of 1-64 characters' };
  }
  if (data.params !== undefined && !isPlainObject(data.params)) return { kind: 'bad', id, message: 'params must be an object' };
  return { kind: 'request', request: { type: 'rp:request', id, method: data.method, ...(data.params ? { params: data.params } : {}) } };
}

/** Whether `v` is a valid connection id. */
export function isConnectionId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= 128;
}

const SUBPROTOCOL = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;

/** Checks `protocols` as `new WebSocket(url, protocols)` would (RFC 6455 tokens, no duplicates), at most 16. */
export function checkProtocols(v: unknown): string[] | string {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > 16) return 'protocols must be an array of at most 16 strings';
  const seen = new Set<string>();
  for (const p of v) {
    if (typeof p !== 'string' || !SUBPROTOCOL.test(p)) return `invalid subprotocol ${JSON.stringify(String(p).slice(0, 64))}`;
    if (seen.has(p)) return `subprotocol ${p} is listed twice`;
    seen.add(p);
  }
  return [...seen];
}

const encoder = new TextEncoder();

/**
 * Bytes `s` takes as UTF-8. A string longer than `limit` code units is over `limit` bytes anyway
 * (no code unit takes less than one byte), so it is not encoded just to be refused.
 */
export function utf8Length(s: string, limit = Infinity): number {
  if (s.length > limit) return s.length;
  return encoder.encode(s).byteLength;
}

/** Checks `ws.send` data; returns its size in bytes, or a message when it is not text or bytes. */
export function dataSize(v: unknown, limit: number): number | string {
  if (typeof v === 'string') return utf8Length(v, limit);
  if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return v.byteLength;
  return 'data must be a string, an ArrayBuffer or an ArrayBufferView (e.g. Uint8Array)';
}

/** Checks a `targetOrigin` option (host and guest): `'*'` or an origin, as `postMessage` takes it. */
export function checkTargetOrigin(v: unknown): string {
  if (typeof v !== 'string' || v === '') throw new TypeError(`targetOrigin must be '*' or an origin, got ${String(v)}`);
  return v;
}

/** Checks a close code and reason as `WebSocket.close` would; returns a message when invalid. */
export function checkClose(code: unknown, reason: unknown): string | undefined {
  if (code !== undefined && !isSendableCloseCode(code)) {
    return 'code must be 1000 or an integer in 3000-4999';
  }
  if (reason !== undefined && (typeof reason !== 'string' || encoder.encode(reason).byteLength > 123)) {
    return 'reason must be a string of at most 123 bytes of UTF-8';
  }
  return undefined;
}
