/**
 * The HTTP-level checks every WebSocket endpoint of the package makes before an upgrade (the
 * Switchboard server, the bridge's egress relay): origin, per-address counting, and a plain HTTP
 * refusal. Node built-ins only, so the bridge's relay loads none of the server's dependencies.
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

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

/**
 * The key `limits.maxConnectionsPerIp` counts by: an IPv4 address (also when IPv4-mapped, so
 * `::ffff:1.2.3.4` and `1.2.3.4` are one host), or an IPv6 /64 — one host usually owns a whole /64,
 * so per-address counting would not limit it at all.
 */
export function addressKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  // Expand '::' to get the first four groups of the address.
  const [head = '', tail = ''] = address.split('%')[0]!.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
