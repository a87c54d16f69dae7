/**
 * The HTTP server under a WebSocket endpoint: its own (with a slowloris guard), or one the
 * application attached; listening on it, and closing it on shutdown.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../shared/logger.js';
import type { Pem, TlsOptions } from '../shared/tls.js';
import { pathnameOf, type HttpRoutes } from './http-routes.js';
import { serveRoute } from './node-http.js';

/** Where the endpoint listens. */
export interface HttpEndpointOptions {
  /** An HTTP server the application owns and listens on; the endpoint never closes it. */
  server: HttpServer | undefined;
  /** Port to listen on when the endpoint creates its own server; 0 picks one. */
  port: number;
  /** Address to bind when it creates its own server; `undefined` binds every interface. */
  host: string | undefined;
  /** A request whose headers have not all arrived after this many ms is dropped with 408. */
  handshakeTimeoutMs: number;
  /** Key and certificate (PEM) when the endpoint creates its own server: it is then an `https` server. */
  tls?: TlsOptions | undefined;
  /**
   * Plain HTTP requests the endpoint answers itself (health, metrics, the SSE fallback). On an
   * attached server they are taken before the application's own `request` listeners, which
   * `listen()` wraps (docs/server.md, "HTTP routes").
   */
  routes?: { table: HttpRoutes; logger: Logger } | undefined;
}

/** The HTTP server of one endpoint. */
export interface HttpEndpoint {
  readonly http: HttpServer;
  /** Whether the endpoint created the server (and so listens on it and closes it). */
  readonly owned: boolean;
  /** Listens (own server) or waits for the attached server to listen; resolves the port. */
  listen(): Promise<number>;
  /** Closes the server and its sockets if the endpoint owns it; an attached server is left running. */
  close(): Promise<void>;
}

/**
 * How often Node looks for requests past `headersTimeout`. Its default (30 s) would let a slowloris
 * socket live up to 30 s past any shorter timeout, so it is kept well below the timeout.
 */
export function connectionsCheckingInterval(handshakeTimeoutMs: number): number {
  return Math.max(100, Math.min(1_000, handshakeTimeoutMs / 4));
}

/** The TLS settings as Node's `https` types them (a `Buffer` where bytes were given). */
function pemBuffers(tls: NonNullable<HttpEndpointOptions['tls']>): { key: string | Buffer; cert: string | Buffer; ca?: (string | Buffer)[] } {
  const b = (v: Pem) => (typeof v === 'string' ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength));
  return { key: b(tls.key), cert: b(tls.cert), ...(tls.ca === undefined ? {} : { ca: (Array.isArray(tls.ca) ? tls.ca : [tls.ca]).map(b) }) };
}

/** Creates (or adopts) the endpoint's HTTP server. */
export function createHttpEndpoint(o: HttpEndpointOptions): HttpEndpoint {
  const owned = !o.server;
  const settings = {
    // A request whose headers do not complete in time (slowloris) is dropped with 408.
    headersTimeout: o.handshakeTimeoutMs,
    requestTimeout: o.handshakeTimeoutMs,
    connectionsCheckingInterval: connectionsCheckingInterval(o.handshakeTimeoutMs),
  };
  const routes = o.routes;
  /** Serves `req` when one of the routes claims its path; false when none does. */
  const routed = (req: IncomingMessage, res: ServerResponse): boolean => {
    const handler = routes?.table.match(pathnameOf(req.url));
    if (!handler) return false;
    serveRoute(handler, req, res, routes!.logger);
    return true;
  };
  const answer = (req: IncomingMessage, res: ServerResponse) => {
    if (!routed(req, res)) res.writeHead(426, { 'Content-Type': 'text/plain' }).end('Upgrade Required\n');
  };
  // An https server is an http.Server too (it extends tls.Server, which Node's http server code runs on).
  const http: HttpServer =
    o.server ?? (o.tls ? (createHttpsServer({ ...settings, ...pemBuffers(o.tls) }, answer) as unknown as HttpServer) : createHttpServer(settings, answer));
  const port = () => (http.address() as AddressInfo).port;
  let wrapped = false;
  /**
   * On an attached server, routes are answered before the application's `request` listeners,
   * which then see only the other requests (engine.io attaches the same way). Listeners the
   * application adds after `listen()` see every request: docs/server.md says to add them before.
   */
  const wrapApplication = () => {
    if (owned || wrapped || !routes) return;
    wrapped = true;
    const theirs = http.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
    http.removeAllListeners('request');
    http.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (!routed(req, res)) for (const l of theirs) l.call(http, req, res);
    });
  };
  return {
    http,
    owned,
    async listen() {
      wrapApplication();
      if (http.listening) return port();
      await new Promise<void>((resolve, reject) => {
        // Settle on success or on failure (a port in use must not leave the caller hanging), and
        // leave no listener behind either way.
        const done = (err?: Error) => {
          http.off('listening', done);
          http.off('error', done);
          if (err) reject(err);
          else resolve();
        };
        http.once('listening', done);
        http.once('error', done);
        // An attached server is the application's to listen on; we only wait for it.
        if (owned) http.listen(o.port, o.host);
      });
      return port();
    },
    async close() {
      if (!owned || !http.listening) return;
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    },
  };
}
