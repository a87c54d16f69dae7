/**
 * `createEgressRelay`: the server side of headers and credentials (docs/bridge.md §7). A browser
 * cannot set WebSocket headers, so the host asks this relay to open the upstream connection for
 * it — with those headers, to URLs this server allows, with secrets from this server's store —
 * and then relays messages and closes both ways (wire format: egress-protocol.ts). Node only.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { AUTH_PREFIX, decodeTokenProtocol } from '../protocol/subprotocol.js';
import { Admission } from '../server/admission.js';
import { addressKey, originAllowed, refuse } from '../server/gate.js';
import { EGRESS_SUBPROTOCOL, type EgressReply } from './egress-protocol.js';
import { resolveEgressOptions, type EgressOptions } from './egress-options.js';
import { BridgeError, BridgeErrorCode } from './errors.js';
import { checkHeaders, resolveCredentials } from './headers.js';
import { checkProtocols } from './messages.js';
import { closeLike, openUpstream, pipe, upstreamOpened } from './node-upstream.js';

/** A running egress relay. */
export interface EgressRelay {
  /** Listens on `port` (or waits for the attached server to listen); resolves the port. */
  listen(): Promise<{ port: number }>;
  /** Closes every relayed connection (1001 both ways), then its own HTTP server if it has one. */
  close(): Promise<void>;
  /** Relay connections now (handshaking or relaying). */
  readonly connections: number;
}

/** Marks an upgrade that `handle` already answered with an HTTP error. */
const REFUSED = Symbol('refused');

interface Pair {
  relay: WebSocket;
  upstream: WebSocket | undefined;
}

/** The host's `connect` message, checked. */
interface ConnectRequest {
  url: string;
  headers: Record<string, string>;
  protocols: string[];
  resource: string | undefined;
}

/** Reads the subprotocol header: the relay's own entry is required, a token entry optional. */
function readProtocols(header: string | undefined): { ok: true; token: string | undefined } | { ok: false; message: string } {
  let ours = false;
  let token: string | undefined;
  for (const raw of (header ?? '').split(',')) {
    const entry = raw.trim();
    if (entry === EGRESS_SUBPROTOCOL) ours = true;
    else if (entry.startsWith(AUTH_PREFIX)) {
      if (token !== undefined) return { ok: false, message: 'More than one token subprotocol' };
      token = decodeTokenProtocol(entry);
      if (token === undefined) return { ok: false, message: 'Malformed token subprotocol' };
    }
  }
  return ours ? { ok: true, token } : { ok: false, message: `Subprotocol ${EGRESS_SUBPROTOCOL} required` };
}

/**
 * Creates the egress relay. Attach it to the HTTP server of a Switchboard server (both share the
 * server; each answers its own path) or let it listen on its own port.
 *
 * @example
 * import { createServer as createHttp } from 'node:http';
 * import { createServer } from 'switchboard/server';
 * import { createEgressRelay } from 'switchboard/bridge/server';
 * const http = createHttp();
 * createServer({ server: http });
 * createEgressRelay({
 *   server: http,
 *   allow: ['wss://chat.example.com'],
 *   authenticate: (req, token) => sessions.verify(token),
 *   credentials: { 'chat-token': { urls: ['wss://chat.example.com'], value: ({ identity }) => vault.chatToken(identity) } },
 * });
 * http.listen(8080);
 */
export function createEgressRelay<Identity = unknown>(options: EgressOptions<Identity>): EgressRelay {
  const opts = resolveEgressOptions(options);
  const { limits, logger } = opts;
  const ownsHttp = !opts.server;
  const http: HttpServer =
    opts.server ??
    createHttpServer({ headersTimeout: limits.handshakeTimeoutMs, requestTimeout: limits.handshakeTimeoutMs }, (_req, res) => {
      res.writeHead(426, { 'Content-Type': 'text/plain' }).end('Upgrade Required\n');
    });
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    maxPayload: limits.maxPayload,
    perMessageDeflate: false,
    handleProtocols: () => EGRESS_SUBPROTOCOL,
  });
  const admission = new Admission(limits.maxConnections, limits.maxConnectionsPerIp);
  const pairs = new Set<Pair>();
  let closing = false;
  let closed: Promise<void> | undefined;

  /** Checks the host's `connect` message; a refusal carries the code the host will relay to the guest. */
  function readConnect(data: Buffer, isBinary: boolean): ConnectRequest {
    const bad = (message: string) => new BridgeError(BridgeErrorCode.BAD_REQUEST, message);
    if (isBinary) throw bad('the first message must be the JSON connect message');
    let v: unknown;
    try {
      v = JSON.parse(data.toString('utf8'));
    } catch {
      throw bad('the connect message is not JSON');
    }
    const m = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
    if (m.type !== 'connect') throw bad('the first message must be {"type":"connect",…}');
    const checked = opts.policy.check(m.url);
    if (!checked.ok) throw new BridgeError(checked.code, checked.message);
    const headers = checkHeaders(m.headers ?? {});
    if (!headers.ok) throw bad(headers.message);
    const protocols = checkProtocols(m.protocols);
    if (typeof protocols === 'string') throw bad(protocols);
    const resource = typeof m.resource === 'string' && m.resource.length <= 256 ? m.resource : undefined;
    return { url: checked.url.href, headers: headers.headers, protocols, resource };
  }

  async function withCredentials(c: ConnectRequest, identity: Identity): Promise<Record<string, string>> {
    const resolved = await resolveCredentials(c.headers, async (name) => {
      const source = opts.credentials.get(name);
      if (!source || !source.policy.check(c.url).ok) return undefined;
      return typeof source.value === 'string' ? source.value : source.value({ identity, url: c.url, resource: c.resource });
    });
    if (!resolved.ok) throw new BridgeError(BridgeErrorCode.CREDENTIAL_DENIED, resolved.message);
    return resolved.headers;
  }

  function accept(relay: WebSocket, identity: Identity, deadline: number, release: () => void): void {
    const pair: Pair = { relay, upstream: undefined };
    pairs.add(pair);
    relay.on('error', (err) => logger.debug({ err }, 'egress relay socket error'));
    relay.once('close', (code, reason) => {
      pairs.delete(pair);
      release();
      if (pair.upstream) closeLike(pair.upstream, code, reason);
    });
    const reply = (r: EgressReply) => relay.readyState === WebSocket.OPEN && relay.send(JSON.stringify(r));
    const refuseRelay = (code: string, message: string) => {
      logger.info({ code, message }, 'egress refused a connection');
      reply({ type: 'error', code, message });
      relay.close(1008, code);
    };
    const timer = setTimeout(() => refuseRelay(BridgeErrorCode.UPSTREAM_FAILED, 'the connection did not open in time'), Math.max(0, deadline - Date.now()));
    // Nothing may come between the connect message and the `open` reply.
    const early = () => refuseRelay(BridgeErrorCode.BAD_REQUEST, 'a message arrived before the open reply');
    relay.once('message', (data: Buffer, isBinary: boolean) => {
      relay.on('message', early);
      void (async () => {
        const c = readConnect(data, isBinary);
        const headers = await withCredentials(c, identity);
        if (relay.readyState !== WebSocket.OPEN) return;
        const upstream = openUpstream({ ...c, headers, maxPayload: limits.maxPayload, handshakeTimeoutMs: Math.max(1, deadline - Date.now()) });
        pair.upstream = upstream;
        await upstreamOpened(upstream, () => {
          // The relay may have closed (or timed out) while the upstream opened.
          if (relay.readyState !== WebSocket.OPEN) return upstream.terminate();
          clearTimeout(timer);
          relay.off('message', early);
          reply({ type: 'open', protocol: upstream.protocol });
          pipe(relay, upstream, limits.highWaterMark);
          pipe(upstream, relay, limits.highWaterMark);
          upstream.on('close', (code, reason) => closeLike(relay, code, reason));
        });
      })().catch((err: unknown) => {
        clearTimeout(timer);
        if (err instanceof BridgeError) return refuseRelay(err.code, err.message);
        // A credential function threw, or a bug: the host learns only that it failed.
        logger.error({ err }, 'egress connection failed');
        refuseRelay(BridgeErrorCode.UPSTREAM_FAILED, 'the relay failed to open the connection');
      });
    });
    relay.once('close', () => clearTimeout(timer));
  }

  async function handle(req: IncomingMessage, socket: Duplex, head: Buffer, deadline: number): Promise<Identity | typeof REFUSED> {
    if (closing) return refuse(socket, 503, 'Server is shutting down'), REFUSED;
    if (!originAllowed(req, opts.origins)) return refuse(socket, 403, 'Origin not allowed'), REFUSED;
    const protocols = readProtocols(req.headers['sec-websocket-protocol']);
    if (!protocols.ok) return refuse(socket, 400, protocols.message), REFUSED;
    if (!opts.authenticate) return undefined as Identity;
    let timer: NodeJS.Timeout | undefined;
    try {
      const identity = await Promise.race([
        Promise.resolve(opts.authenticate(req, protocols.token)),
        new Promise<typeof REFUSED>((resolve) => (timer = setTimeout(() => resolve(REFUSED), Math.max(0, deadline - Date.now())))),
      ]);
      if (identity === REFUSED) return refuse(socket, 503, 'Authentication timed out'), REFUSED;
      if (identity === null || identity === undefined) return refuse(socket, 401, 'Unauthorized'), REFUSED;
      return identity;
    } catch (err) {
      // The token is not logged; only the error the application threw.
      logger.error({ err }, 'egress authenticate threw');
      return refuse(socket, 500, 'Authentication failed'), REFUSED;
    } finally {
      clearTimeout(timer);
    }
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const pathname = (req.url ?? '/').split('?', 1)[0];
    if (pathname !== opts.path) {
      // Another handler on a shared HTTP server (a Switchboard server) owns the other paths.
      if (http.listenerCount('upgrade') <= 1) refuse(socket, 404, 'Not Found');
      return;
    }
    socket.on('error', () => socket.destroy());
    const deadline = Date.now() + limits.handshakeTimeoutMs;
    const ip = addressKey(req.socket.remoteAddress);
    const refused = admission.admit(ip);
    if (refused) return refuse(socket, refused, refused === 429 ? 'Too many connections from this address' : 'Relay is at capacity', { 'Retry-After': '1' });
    let released = false;
    const release = () => {
      if (!released) admission.release(ip);
      released = true;
    };
    handle(req, socket, head, deadline).then(
      (identity) => {
        if (identity === REFUSED || socket.destroyed || closing) {
          if (identity !== REFUSED) refuse(socket, 503, 'Server is shutting down');
          return release();
        }
        socket.once('close', release); // ws answers an invalid upgrade itself and never calls back
        wss.handleUpgrade(req, socket, head, (ws) => accept(ws, identity, deadline, release));
      },
      (err: unknown) => {
        release();
        logger.error({ err }, 'egress upgrade failed');
        refuse(socket, 500, 'Internal Server Error');
      },
    );
  }
  http.on('upgrade', onUpgrade);

  async function shutdown(): Promise<void> {
    closing = true;
    await Promise.all(
      [...pairs].map(
        ({ relay, upstream }) =>
          new Promise<void>((resolve) => {
            if (relay.readyState === WebSocket.CLOSED) return resolve();
            const timer = setTimeout(() => relay.terminate(), 5_000);
            relay.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
            if (upstream) closeLike(upstream, 1001, 'relay shutting down');
            closeLike(relay, 1001, 'relay shutting down');
          }),
      ),
    );
    if (ownsHttp && http.listening) {
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    }
  }

  return {
    async listen() {
      if (closing) throw new Error('relay is closed');
      if (!http.listening) {
        await new Promise<void>((resolve, reject) => {
          http.once('error', reject);
          const done = () => {
            http.off('error', reject);
            resolve();
          };
          if (ownsHttp) http.listen(opts.port, opts.host, done);
          else http.once('listening', done);
        });
      }
      return { port: (http.address() as AddressInfo).port };
    },
    close() {
      closed ??= shutdown();
      return closed;
    },
    get connections() {
      return pairs.size;
    },
  };
}
