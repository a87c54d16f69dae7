/**
 * `createEgressRelay`: the server side of headers and credentials (docs/bridge.md §7). A browser
 * cannot set WebSocket headers, so the host asks this relay to open the upstream connection for
 * it — with those headers, to URLs this server allows, with secrets from this server's store —
 * and then relays messages and closes both ways (wire format: egress-protocol.ts). Node only.
 */
import WebSocket, { WebSocketServer } from 'ws';
import { Admission } from '../net/admission.js';
import { closeWithin } from '../net/close-peers.js';
import { createHttpEndpoint } from '../net/http-endpoint.js';
import { addHealthRoutes } from '../net/health.js';
import { createHttpRoutes } from '../net/http-routes.js';
import { REFUSED, authenticateUpgrade, completeUpgrade, createUpgradeListener, type Upgrade, type UpgradeEndpoint } from '../net/upgrade.js';
import { CloseCode, ReadyState } from '../protocol/close-codes.js';
import { readOfferedProtocols } from '../protocol/subprotocol.js';
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
  /**
   * Closes every relayed connection (1001 both ways; one whose close handshake has not ended after
   * `shutdownTimeoutMs` is terminated), then its own HTTP server if it has one.
   */
  close(): Promise<void>;
  /** Relay connections now (handshaking or relaying). */
  readonly connections: number;
}

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
  const offered = readOfferedProtocols(header);
  if (!offered.ok) return offered;
  return offered.protocols.includes(EGRESS_SUBPROTOCOL) ? { ok: true, token: offered.token } : { ok: false, message: `Subprotocol ${EGRESS_SUBPROTOCOL} required` };
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
  // Its own HTTP server (with the slowloris guard), or the application's.
  // Plain HTTP requests it answers itself: the health checks, when asked for.
  const routes = createHttpRoutes();
  const endpoint = createHttpEndpoint({
    server: opts.server,
    port: opts.port,
    host: opts.host,
    handshakeTimeoutMs: limits.handshakeTimeoutMs,
    tls: opts.tls,
    // Only with health checks: an attached server's own requests then pass through untouched.
    routes: opts.health ? { table: routes, logger } : undefined,
  });
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    maxPayload: limits.maxPayload,
    perMessageDeflate: false,
    handleProtocols: () => EGRESS_SUBPROTOCOL,
  });
  const upgrades: UpgradeEndpoint = {
    http: endpoint.http,
    path: opts.path,
    admission: new Admission(limits.maxConnections, limits.maxConnectionsPerIp),
    origins: opts.origins,
    handshakeTimeoutMs: limits.handshakeTimeoutMs,
    name: 'Relay',
    logger,
    isClosing: () => closing,
  };
  const pairs = new Set<Pair>();
  let closing = false;
  let closed: Promise<void> | undefined;
  if (opts.health) {
    addHealthRoutes(routes, opts.health, () => {
      const reasons = [...(closing ? ['closing'] : []), ...(pairs.size >= limits.maxConnections ? ['full'] : [])];
      return { ready: reasons.length === 0, reasons, connections: pairs.size, maxConnections: limits.maxConnections, closing };
    });
  }

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
    const reply = (r: EgressReply) => relay.readyState === ReadyState.OPEN && relay.send(JSON.stringify(r));
    const refuseRelay = (code: string, message: string) => {
      logger.info({ code, message }, 'egress refused a connection');
      reply({ type: 'error', code, message });
      relay.close(CloseCode.POLICY_VIOLATION, code);
    };
    const timer = setTimeout(() => refuseRelay(BridgeErrorCode.UPSTREAM_FAILED, 'the connection did not open in time'), Math.max(0, deadline - Date.now()));
    // Nothing may come between the connect message and the `open` reply.
    const early = () => refuseRelay(BridgeErrorCode.BAD_REQUEST, 'a message arrived before the open reply');
    relay.once('message', (data: Buffer, isBinary: boolean) => {
      relay.on('message', early);
      void (async () => {
        const c = readConnect(data, isBinary);
        const headers = await withCredentials(c, identity);
        if (relay.readyState !== ReadyState.OPEN) return;
        const upstream = openUpstream({ ...c, headers, maxPayload: limits.maxPayload, handshakeTimeoutMs: Math.max(1, deadline - Date.now()), tls: opts.upstreamTls });
        pair.upstream = upstream;
        await upstreamOpened(upstream, () => {
          // The relay may have closed (or timed out) while the upstream opened.
          if (relay.readyState !== ReadyState.OPEN) return upstream.terminate();
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

  /** The relay's own part of the upgrade: its subprotocol, then who the host is. */
  async function decide(u: Upgrade): Promise<boolean> {
    const protocols = readProtocols(u.req.headers['sec-websocket-protocol']);
    if (!protocols.ok) return u.refuse({ category: 'subprotocol', status: 400, message: protocols.message }), false;
    const auth = opts.authenticate;
    const identity = auth ? await authenticateUpgrade(u, logger, () => auth(u.req, protocols.token)) : (undefined as Identity);
    if (identity === REFUSED) return false;
    const { deadline, release } = u;
    return completeUpgrade(upgrades, wss, u, (ws) => accept(ws, identity, deadline, release));
  }
  endpoint.http.on('upgrade', createUpgradeListener(upgrades, decide));

  async function shutdown(): Promise<void> {
    closing = true;
    const peers = [...pairs].map(({ relay, upstream }) => ({
      close: () => {
        if (upstream) closeLike(upstream, CloseCode.GOING_AWAY, 'relay shutting down');
        closeLike(relay, CloseCode.GOING_AWAY, 'relay shutting down');
      },
      terminate: () => relay.terminate(),
      onClosed: (cb: () => void) => {
        if (relay.readyState === ReadyState.CLOSED) cb();
        else relay.once('close', cb);
      },
    }));
    await closeWithin(peers, opts.shutdownTimeoutMs);
    await endpoint.close();
  }

  return {
    async listen() {
      if (closing) throw new Error('relay is closed');
      return { port: await endpoint.listen() };
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
