/**
 * A plain HTTP refusal of an upgrade request on a Node socket: the status, a one-line text body,
 * and the socket closed whether or not the peer reads the answer. What a refusal says and how it is
 * logged is transport-neutral (refusal.ts, refusal-log.ts); this file only writes it.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RefusalLog } from './refusal-log.js';
import { httpAnswer, type Refusal } from './refusal.js';

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

/**
 * Logs `refusal` on `log` (once, rate-limited per address) and answers it with its status, body and
 * headers (refusal.ts `httpAnswer`: `WWW-Authenticate` on 401, `Retry-After` on 429/503).
 */
export function refuseWith(socket: Duplex, refusal: Refusal, log: RefusalLog, address: string | undefined, endpoint: string): void {
  log.record({ category: refusal.category, status: refusal.status, address, endpoint });
  const { status, message, headers } = httpAnswer(refusal);
  refuse(socket, status, message, headers);
}
