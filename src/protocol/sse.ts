/**
 * The SSE + HTTP fallback's wire rules (docs/protocol.md §8), as pure functions both ends share:
 * the paths and headers, the event stream the server writes (one frame per event), the parser the
 * client reads it with, and the POST body (one frame per line). No I/O; isomorphic (`btoa`/`atob`).
 */

/** The fallback's path: appended to the WebSocket endpoint's path (`/ws` → `/ws/sse`). */
export const SSE_PATH_SUFFIX = '/sse';

/**
 * The request header carrying what `Sec-WebSocket-Protocol` carries for a WebSocket (the codec and
 * the `switchboard.auth.*` token entry, docs/protocol.md §1.1): browsers forbid `Sec-` headers on
 * `fetch`, so the fallback names it without the prefix.
 */
export const SSE_PROTOCOL_HEADER = 'switchboard-protocol';

/** SSE event names (the `event:` field); a frame is an event without one (type `message`). */
export const SseEvent = {
  /** First event: the session id, the chosen subprotocol and the POST body limit. */
  SESSION: 'session',
  /** A binary message (a JSON codec envelope, or any MessagePack frame), base64 in `data`. */
  BINARY: 'b',
  /** The server's heartbeat ping: answer with a POST (an empty body is enough). */
  PING: 'ping',
  /** The connection's close: `{ code, reason }`; the stream ends after it. */
  CLOSE: 'close',
} as const;

/** What the `session` event carries. */
export interface SseSession {
  /** `<nodeId>.<secret>`: names the node holding the session and is its only credential. */
  session: string;
  /** The subprotocol chosen, as a WebSocket would answer it (`switchboard.v1.json`). */
  protocol: string;
  /** Largest POST body the server reads, in bytes. */
  maxBody: number;
}

/** The first character of a POST body line holding a binary message in base64. */
export const BINARY_LINE = '~';

/** Base64 (RFC 4648 §4, padded) of `bytes`. */
export function toBase64(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** The bytes of base64 text; `undefined` when it is not base64. */
export function fromBase64(text: string): Uint8Array | undefined {
  let bin: string;
  try {
    bin = atob(text);
  } catch {
    return undefined;
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * One SSE event (`event:` when named, then `data:` lines, then a blank line). A frame's JSON text
 * never holds a raw line break (JSON escapes them), so it is always one `data:` line; anything else
 * is split over several, which a parser joins back with `\n`.
 */
export function sseEvent(data: string, event?: string): string {
  const body = /[\r\n]/.test(data) ? data.replace(/\r\n|\r|\n/g, '\ndata: ') : data;
  return `${event ? `event: ${event}\n` : ''}data: ${body}\n\n`;
}

/** A parsed SSE event: its name (`message` when unnamed) and its data. */
export interface ParsedEvent {
  event: string;
  data: string;
}

/**
 * An incremental `text/event-stream` parser (WHATWG HTML §9.2.6, without `id`/`retry`, which the
 * fallback does not use): feed it decoded text as it arrives; it calls `onEvent` per dispatched event.
 */
export function createEventParser(onEvent: (e: ParsedEvent) => void): (chunk: string) => void {
  let buffer = '';
  let event = '';
  let data: string[] = [];
  return (chunk) => {
    buffer += chunk;
    let start = 0;
    for (;;) {
      const nl = buffer.indexOf('\n', start);
      if (nl < 0) break;
      let line = buffer.slice(start, nl);
      start = nl + 1;
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line === '') {
        if (data.length > 0) onEvent({ event: event || 'message', data: data.join('\n') });
        event = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue; // a comment: the server's keep-alive
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') data.push(value);
      else if (field === 'event') event = value;
    }
    buffer = buffer.slice(start);
  };
}

/** One line of a POST body: a text message as is, a binary one as {@link BINARY_LINE} + base64. */
export function bodyLine(payload: string | Uint8Array): string {
  return typeof payload === 'string' ? payload : BINARY_LINE + toBase64(payload);
}

/** A message read from a POST body line. */
export type BodyMessage = { ok: true; data: string | Uint8Array; binary: boolean } | { ok: false };

/**
 * The messages of a POST body: one per line (`\n`; blank lines skipped, so an empty body holds
 * none). A binary line whose base64 is malformed is `{ ok: false }` in its place.
 */
export function readBody(text: string): BodyMessage[] {
  const out: BodyMessage[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line === '\r') continue;
    if (line.startsWith(BINARY_LINE)) {
      const bytes = fromBase64(line.slice(1));
      out.push(bytes ? { ok: true, data: bytes, binary: true } : { ok: false });
    } else out.push({ ok: true, data: line, binary: false });
  }
  return out;
}

/** A session id: `<node>.<secret>`, both base64url or UUID characters. */
const SESSION_ID = /^[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{16,64}$/;

/** What the node part of a session id may be (an engine's `nodeId`, when the fallback is on). */
export const SESSION_NODE_PATTERN = '[A-Za-z0-9_-]{1,64}';

/** Whether `nodeId` can start a session id ({@link SESSION_NODE_PATTERN}). */
export function isSessionNode(nodeId: string): boolean {
  return sessionNode(`${nodeId}.${'A'.repeat(16)}`) === nodeId;
}

/** The node a session id names, or `undefined` when it is not a session id. */
export function sessionNode(session: string | null | undefined): string | undefined {
  if (!session || !SESSION_ID.test(session)) return undefined;
  return session.slice(0, session.indexOf('.'));
}
