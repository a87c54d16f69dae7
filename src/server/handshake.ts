/**
 * The HTTP upgrade gate: path, origin, subprotocol and authentication are decided here, before a
 * WebSocket exists, so refused peers cost one HTTP response (docs/protocol.md §1.2).
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Codec } from '../protocol/codec.js';
import { jsonCodec } from '../protocol/codec.js';
import { msgpackCodec } from '../protocol/msgpack.js';
import { AUTH_PREFIX, SUBPROTOCOL_V1_PREFIX, decodeTokenProtocol } from '../protocol/subprotocol.js';

/** Codecs the server can speak, by subprotocol name. */
const CODECS: ReadonlyMap<string, Codec> = new Map([
  [jsonCodec.subprotocol, jsonCodec],
  [msgpackCodec.subprotocol, msgpackCodec],
]);

const ALL_CODECS: ReadonlySet<string> = new Set([...CODECS.values()].map((c) => c.name));

/** Outcome of reading the `Sec-WebSocket-Protocol` header. */
export type Negotiated = { ok: true; codec: Codec; token: string | undefined } | { ok: false; status: number; message: string };

/** Picks the codec and extracts the token entry from the offered subprotocols. */
export function negotiate(header: string | undefined, allowed: ReadonlySet<string> = ALL_CODECS): Negotiated {
  if (!header) return { ok: true, codec: jsonCodec, token: undefined };
  let codec: Codec | undefined;
  let token: string | undefined;
  for (const raw of header.split(',')) {
    const entry = raw.trim();
    if (entry.startsWith(AUTH_PREFIX)) {
      if (token !== undefined) return { ok: false, status: 400, message: 'More than one token subprotocol' };
      token = decodeTokenProtocol(entry);
      if (token === undefined) return { ok: false, status: 400, message: 'Malformed token subprotocol' };
    } else if (!codec && entry.startsWith(SUBPROTOCOL_V1_PREFIX)) {
      const c = CODECS.get(entry);
      if (c && allowed.has(c.name)) codec = c;
    }
  }
  if (!codec) return { ok: false, status: 400, message: 'No supported subprotocol (expected switchboard.v1.json or switchboard.v1.msgpack)' };
  return { ok: true, codec, token };
}

/** Whether the request's Origin passes; requests without one (non-browsers) pass. */
export function originAllowed(req: IncomingMessage, origins: ReadonlySet<string> | undefined): boolean {
  const origin = req.headers.origin;
  return !origins || origin === undefined || origins.has(origin);
}

/** Answers the upgrade request with a plain HTTP error and closes the socket. */
export function refuse(socket: Duplex, status: number, message: string, headers: Record<string, string> = {}): void {
  if (socket.destroyed) return;
  const body = `${message}\n`;
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  // As ws does: flush the response, then make sure the socket is gone even if the peer never reads.
  socket.once('finish', () => socket.destroy());
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}
