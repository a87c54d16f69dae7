/**
 * Real servers for the bridge suites (docs/bridge.md): an echo WebSocket server that records what each
 * connection sent it (headers, subprotocol, messages, close), and a static HTTP server for pages
 * and the built ESM in dist/. All on 127.0.0.1, port 0.
 */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket, { WebSocketServer } from 'ws';

const DIST = fileURLToPath(new URL('../dist/', import.meta.url));

/** What the echo server saw of one connection. */
export interface EchoConnection {
  ws: WebSocket;
  path: string;
  headers: IncomingHttpHeaders;
  protocol: string;
  /** Every message received, in order, with its kind. */
  messages: { binary: boolean; data: Buffer }[];
  /** Set once the connection closed. */
  closed: { code: number; reason: string } | undefined;
}

/** An echo server: every message goes back as it came (text as text, binary as binary). */
export interface Echo {
  url: string;
  port: number;
  connections: EchoConnection[];
  close(): Promise<void>;
}

/** Starts an echo server; it picks the first offered subprotocol. */
export async function startEcho(): Promise<Echo> {
  const http = createServer((_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({ server: http, handleProtocols: (offered) => [...offered][0] ?? false });
  const connections: EchoConnection[] = [];
  wss.on('connection', (ws, req) => {
    const c: EchoConnection = { ws, path: req.url ?? '', headers: req.headers, protocol: ws.protocol, messages: [], closed: undefined };
    connections.push(c);
    ws.on('message', (data: Buffer, binary: boolean) => {
      c.messages.push({ binary, data });
      // `/silent` reads and never answers: a peer that takes everything and says nothing.
      if (!c.path.startsWith('/silent')) ws.send(data, { binary });
    });
    // `/big` greets with 4 KiB of text: more than a small `maxMessageBytes`.
    if (c.path.startsWith('/big')) ws.send('x'.repeat(4_096));
    ws.on('close', (code, reason) => (c.closed = { code, reason: reason.toString() }));
    ws.on('error', () => {});
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const port = (http.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/echo`,
    port,
    connections,
    close: async () => {
      for (const c of connections) c.ws.terminate();
      wss.close();
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}

/** A static server: `pages` by path, and `/dist/**.js` from the build. */
export async function startStatic(pages: Record<string, string>, { cors = false } = {}): Promise<{ origin: string; server: HttpServer; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    // A sandboxed iframe's origin is opaque: its module scripts are CORS requests from "null".
    const headers: Record<string, string> = cors ? { 'Access-Control-Allow-Origin': '*' } : {};
    const page = pages[path];
    if (page !== undefined) return void res.writeHead(200, { ...headers, 'Content-Type': 'text/html; charset=utf-8' }).end(page);
    const file = resolve(DIST, `.${decodeURIComponent(path.replace(/^\/dist/, ''))}`);
    if (!path.startsWith('/dist/') || !file.startsWith(DIST.endsWith(sep) ? DIST : DIST + sep) || !file.endsWith('.js')) {
      return void res.writeHead(404).end();
    }
    readFile(file).then(
      (body) => res.writeHead(200, { ...headers, 'Content-Type': 'text/javascript; charset=utf-8' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The host page of the bridge's browser suites: the built `switchboard/bridge` as `window.bridge`. */
export const BRIDGE_HOST_PAGE = `<!doctype html><meta charset="utf-8"><title>host</title><body>
<script type="module">
import * as bridge from '/dist/bridge/index.js';
window.bridge = bridge;
window.pageReady = true;
</script>`;

/** `window.waitFor(pred, what, ms)` for pages: polls `pred` every 5 ms, rejects on a throw or after `ms`. */
export const PAGE_WAIT_FOR = `window.waitFor = (pred, what, ms = 8000) => new Promise((resolve, reject) => {
  const t0 = Date.now();
  const tick = () => {
    let v;
    try { v = pred(); } catch (e) { return reject(e); }
    if (v) return resolve(v);
    if (Date.now() - t0 > ms) return reject(new Error('timed out waiting for ' + what));
    setTimeout(tick, 5);
  };
  tick();
});`;
