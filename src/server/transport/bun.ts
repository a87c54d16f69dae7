/**
 * The Bun transport: the server's WebSockets on `Bun.serve` (uWebSockets inside) instead of
 * `node:http` + `ws` (docs/server.md, "Running on Bun"). Bun frames, writes and fans out in native
 * code; the core keeps every decision (admission, origin, codec, authentication, limits, heartbeat,
 * slow consumers), as on Node. Nothing here touches `Bun` until `listen()`, so the module loads
 * under Node without harm.
 *
 * What Bun's own settings do here:
 * - `maxPayloadLength` = `limits.maxPayload` (a larger message closes with 1009);
 * - `backpressureLimit` = the hard cap on a connection's send buffer (4 × `limits.sendBufferBytes`),
 *   `closeOnBackpressureLimit` on: a native publish past it cannot lose a message silently;
 * - `idleTimeout` and `sendPings` off: the core's heartbeat pings silent peers itself, to the
 *   millisecond of `heartbeat.intervalMs`/`timeoutMs` (Bun's idle timeout counts whole seconds);
 * - the HTTP `idleTimeout` (seconds) bounds a request that never completes, from
 *   `limits.handshakeTimeoutMs`.
 */
import { pathnameOf, type HttpHandler } from '../../net/http-routes.js';
import { loggedRefusal, wrongPath } from '../../net/upgrade.js';
import { CloseCode } from '../../protocol/close-codes.js';
import { bunRuntime, type BunServer, type BunServerWebSocket, type BunWebSocketHandler } from './bun-api.js';
import { isUpgrade, refusalResponse, requestView } from './bun-request.js';
import { BunSocket, type BunPreparedFrame } from './bun-socket.js';
import type { NativeTopics, PendingUpgrade, Transport, TransportHooks, TransportOptions } from './types.js';

/** Bun's HTTP idle timeout is whole seconds, 1 to 255 (0 would turn it off). */
function idleSeconds(ms: number): number {
  return Math.min(255, Math.max(1, Math.ceil(ms / 1_000)));
}

const decoder = new TextDecoder();

type Data = BunSocket;
type Ws = BunServerWebSocket<Data>;

/**
 * Creates the Bun transport. `listen()` throws a `TypeError` when not running under Bun.
 *
 * @example
 * const transport = createBunTransport({ path: '/ws', port: 0, host: '127.0.0.1', maxPayload: 1 << 20, compression: false,
 *   handshakeTimeoutMs: 10_000, writeDelayMs: 0, sendBufferCapBytes: 32 << 20, tls: undefined, logger });
 */
export function createBunTransport(options: TransportOptions): Transport & { readonly topics: NativeTopics } {
  const { logger } = options;
  let hooks: TransportHooks<unknown> | undefined;
  let server: BunServer<Data> | undefined;

  /** Runs a hook; a throw must not reach Bun, which would end the process over it. */
  function guarded(what: string, ws: Ws, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      logger.error({ err }, `Bun transport: ${what} failed`);
      ws.close(CloseCode.INTERNAL_ERROR, 'internal error');
    }
  }

  /** Hands a closed socket to the core, once. */
  function closed(data: Data, code: number, reason: string): void {
    const conn = data.conn;
    data.conn = undefined;
    if (conn !== undefined) hooks?.close(conn, code, reason);
  }

  const websocket: BunWebSocketHandler<Data> = {
    open(ws) {
      const data = ws.data;
      const open = data.open!;
      data.attach(ws);
      guarded('open', ws, () => {
        data.conn = open(data);
      });
      data.open = undefined;
      data.opened?.();
      data.opened = undefined;
      // The core closed the socket inside `open`: Bun reported it before there was a connection.
      if (data.early) closed(data, data.early.code, data.early.reason);
    },
    message(ws, message) {
      const conn = ws.data.conn;
      if (conn === undefined) return;
      guarded('message', ws, () => hooks!.message(conn, message, typeof message !== 'string'));
    },
    pong(ws) {
      const conn = ws.data.conn;
      if (conn !== undefined) guarded('pong', ws, () => hooks!.pong(conn));
    },
    drain(ws) {
      const data = ws.data;
      if (data.drained() && data.conn !== undefined) guarded('drain', ws, () => hooks!.drain(data.conn));
    },
    close(ws, code, reason) {
      const data = ws.data;
      if (data.open) return void (data.early = { code, reason });
      try {
        closed(data, code, reason);
      } catch (err) {
        logger.error({ err }, 'Bun transport: close failed');
      }
    },
    maxPayloadLength: options.maxPayload,
    backpressureLimit: options.sendBufferCapBytes,
    closeOnBackpressureLimit: true,
    idleTimeout: 0,
    sendPings: false,
    perMessageDeflate: options.compression,
    publishToSelf: false,
  };

  /**
   * Answers one upgrade request to the endpoint's path through the core's `upgrade` hook. The core
   * decides synchronously unless `authenticate` makes it wait; the answer is then returned as is,
   * not as a promise: raw Bun.serve answering through a promise kept about 0.7 KB more per idle
   * connection (docs/server.md, "Running on Bun", Measured).
   */
  function upgrade(req: Request, srv: BunServer<Data>, core: TransportHooks<unknown>): Response | undefined | Promise<Response | undefined> {
    const remoteAddress = srv.requestIP(req)?.address;
    let answered = false;
    let result: Response | undefined;
    let respond: ((res: Response | undefined) => void) | undefined;
    const answer = (res: Response | undefined) => {
      if (answered) return;
      answered = true;
      if (respond) respond(res);
      else result = res;
    };
    /** Still inside `fetch`: the peer cannot have left yet, and `req.signal` (an object Bun makes on first use) is not read. */
    let inFetch = true;
    const gone = () => !inFetch && req.signal.aborted;
    const pending: PendingUpgrade<unknown> = {
      request: requestView(req, remoteAddress),
      get gone() {
        return gone();
      },
      refuse(r) {
        answer(refusalResponse(r));
      },
      accept(protocol, open) {
        if (answered) return Promise.resolve(false);
        if (gone()) return answer(undefined), Promise.resolve(false);
        let opened = false;
        let settle: ((ok: boolean) => void) | undefined;
        const data = new BunSocket(remoteAddress, open, () => {
          opened = true;
          settle?.(true);
        });
        const ok = srv.upgrade(req, { data, ...(protocol ? { headers: { 'Sec-WebSocket-Protocol': protocol } } : {}) });
        if (!ok) {
          // Bun refused the handshake itself (no key, wrong version): ws answers 400 too.
          answer(refusalResponse({ status: 400, message: 'Bad WebSocket handshake' }));
          return Promise.resolve(false);
        }
        answer(undefined);
        // Bun runs `open` inside `upgrade()`; should it ever run later, the core waits for it.
        return opened ? Promise.resolve(true) : new Promise<boolean>((resolve) => (settle = resolve));
      },
    };
    try {
      core.upgrade(pending);
    } catch (err) {
      logger.error({ err }, 'Bun transport: upgrade failed');
      answer(refusalResponse({ status: 500, message: 'Internal Server Error' }));
    }
    inFetch = false;
    if (answered) return result;
    return new Promise<Response | undefined>((resolve) => (respond = resolve));
  }

  /** A plain request to one of the server's HTTP routes: Bun takes the handler's `Response` as is. */
  async function serveRoute(route: HttpHandler, req: Request, srv: BunServer<Data>): Promise<Response> {
    try {
      return await route(req, { remoteAddress: srv.requestIP(req)?.address });
    } catch (err) {
      logger.error({ err, path: pathnameOf(req.url) }, 'HTTP route failed');
      return refusalResponse({ status: 500, message: 'Internal Server Error' });
    }
  }

  const topics: NativeTopics = {
    subscribe(socket, key) {
      (socket as BunSocket).raw.subscribe(key);
    },
    unsubscribe(socket, key) {
      const ws = (socket as BunSocket).raw;
      if (ws.readyState === 1) ws.unsubscribe(key);
    },
    publish(key, frame, except) {
      const f = frame as BunPreparedFrame;
      const from = (except as BunSocket | undefined)?.raw;
      if (f.binary) {
        if (from) from.publishBinary(key, f.payload);
        else server?.publish(key, f.payload);
      } else {
        const text = f.text ?? decoder.decode(f.payload);
        if (from) from.publishText(key, text);
        else server?.publish(key, text);
      }
    },
  };

  return {
    runtime: 'bun',
    topics,
    start(h) {
      hooks = h as TransportHooks<unknown>;
    },
    async listen() {
      if (server) return server.port;
      const bun = bunRuntime();
      if (!bun) throw new TypeError("runtime 'bun' needs the Bun runtime (Bun.serve); under Node use runtime 'node' or 'auto'");
      server = bun.serve<Data>({
        port: options.port,
        ...(options.host === undefined ? {} : { hostname: options.host }),
        idleTimeout: idleSeconds(options.handshakeTimeoutMs),
        ...(options.tls ? { tls: options.tls } : {}),
        fetch(req, srv) {
          if (!isUpgrade(req)) {
            const route = options.routes.match(pathnameOf(req.url));
            if (!route) return refusalResponse({ status: 426, message: 'Upgrade Required' });
            return serveRoute(route, req, srv);
          }
          if (pathnameOf(req.url) !== options.path) {
            // Logged like the Node transport's 404 (docs/security.md, "Refusal logs").
            let response: Response | undefined;
            const write = (status: number, message: string, headers?: Record<string, string>) => void (response = refusalResponse({ status, message, ...(headers ? { headers } : {}) }));
            wrongPath(loggedRefusal({ logger, name: 'Server' }, srv.requestIP(req)?.address, write));
            return response!;
          }
          if (!hooks) return refusalResponse({ status: 503, message: 'Server is starting' });
          return upgrade(req, srv, hooks);
        },
        error(err) {
          logger.error({ err }, 'Bun transport: request failed');
          return refusalResponse({ status: 500, message: 'Internal Server Error' });
        },
        websocket,
      });
      return server.port;
    },
    async close() {
      const s = server;
      server = undefined;
      // Sockets still open after the core's shutdown timeout are dropped with the listener.
      await s?.stop(true);
    },
    prepare(payload, binary): BunPreparedFrame {
      // Bun sends a text frame only from a string: decode it once for every subscriber.
      return { payload, binary, text: binary ? undefined : decoder.decode(payload) };
    },
  };
}
