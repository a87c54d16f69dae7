/**
 * The Node adapter of the transport boundary (src/server/transport/types.ts): Node's `http` server
 * (our own with the slowloris guard, or the application's) and `ws` for the WebSocket protocol.
 */
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { createHttpEndpoint } from '../../net/http-endpoint.js';
import { refuse } from '../../net/refuse.js';
import { handOver, routeUpgrade } from '../../net/upgrade.js';
import { NodeFrame, NodeSocket, type WriteBatch } from './node-socket.js';
import type { PendingUpgrade, Transport, TransportHooks, TransportOptions } from './types.js';

/** Options of the Node adapter: the common ones and the application's HTTP server. */
export interface NodeTransportOptions extends TransportOptions {
  /** An HTTP server the application owns and listens on; the transport never closes it. */
  server: HttpServer | undefined;
}

/** Where a ws WebSocket and its net.Socket keep their {@link NodeSocket}. */
const SOCKET = Symbol('switchboard.socket');
type Tagged = { [SOCKET]?: NodeSocket<unknown> };

/**
 * Flushes the sockets corked by their first write: at the end of this turn of the event loop (one
 * tick callback for every socket corked in it, not one each), or `delayMs` after the first write.
 */
export function createWriteBatch(delayMs: number): WriteBatch {
  let pending: NodeSocket<unknown>[] = [];
  const flush = () => {
    const sockets = pending;
    pending = [];
    for (const socket of sockets) socket.flush();
  };
  return {
    add(socket) {
      if (pending.push(socket) !== 1) return;
      if (delayMs === 0) process.nextTick(flush);
      else setTimeout(flush, delayMs);
    },
  };
}

/** Creates the Node transport of one server. */
export function createNodeTransport(o: NodeTransportOptions): Transport {
  const endpoint = createHttpEndpoint({ server: o.server, port: o.port, host: o.host, handshakeTimeoutMs: o.handshakeTimeoutMs, tls: o.tls, routes: { table: o.routes, logger: o.logger } });
  const { http } = endpoint;
  /** The subprotocol the core chose for a request, read back by ws's `handleProtocols`. */
  const protocolOf = new WeakMap<IncomingMessage, string>();
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    maxPayload: o.maxPayload,
    // Off by default (docs/security.md). When on, ws applies maxPayload to the inflated size, so a
    // decompression bomb ends with MESSAGE_TOO_BIG like any oversize message.
    perMessageDeflate: o.compression ? { threshold: 1_024 } : false,
    handleProtocols: (_offered, req) => protocolOf.get(req) ?? false,
  });
  const batch = createWriteBatch(o.writeDelayMs);
  let hooks: TransportHooks<unknown> | undefined;

  // One set of listeners for every socket (`this` is the emitter), not closures per connection:
  // idle memory per connection (docs/performance.md).
  function onMessage(this: WebSocket & Tagged, data: Buffer, isBinary: boolean): void {
    hooks!.message(this[SOCKET]!.conn, data, isBinary);
  }
  function onPong(this: WebSocket & Tagged): void {
    hooks!.pong(this[SOCKET]!.conn);
  }
  function onDrain(this: Duplex & Tagged): void {
    hooks!.drain(this[SOCKET]!.conn);
  }
  function onClose(this: WebSocket & Tagged, code: number, reason: Buffer): void {
    hooks!.close(this[SOCKET]!.conn, code, reason.toString());
  }
  // ws reports protocol faults (bad UTF-8, oversize, bad opcode) as 'error' and closes with the
  // right code itself; the listener only keeps the process alive.
  function onError(err: Error): void {
    o.logger.debug({ err }, 'socket error');
  }

  function pending(req: IncomingMessage, socket: Duplex, head: Buffer): PendingUpgrade<unknown> {
    return {
      request: req,
      get gone() {
        return socket.destroyed;
      },
      refuse(r) {
        refuse(socket, r.status, r.message, r.headers ? { ...r.headers } : {});
      },
      accept(protocol, open) {
        if (socket.destroyed) return Promise.resolve(false);
        protocolOf.set(req, protocol);
        return handOver(wss, req, socket, head, (ws) => {
          const s = new NodeSocket<unknown>(ws, batch);
          (ws as WebSocket & Tagged)[SOCKET] = s;
          (socket as Duplex & Tagged)[SOCKET] = s;
          ws.on('message', onMessage);
          ws.on('pong', onPong);
          ws.on('error', onError);
          ws.once('close', onClose);
          socket.on('drain', onDrain);
          s.conn = open(s);
          // The 101 response and the welcome leave at the end of this turn, never a delay window
          // later: the window is for messages, not for the handshake.
          if (o.writeDelayMs > 0) process.nextTick(() => s.flush());
        });
      },
    };
  }

  function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!routeUpgrade(http, o.path, req, socket, { logger: o.logger, name: 'Server' })) return;
    // A peer may reset the socket while authenticate() runs; an unhandled 'error' would crash.
    socket.on('error', () => socket.destroy());
    hooks!.upgrade(pending(req, socket, head));
  }

  return {
    runtime: 'node',
    start(h) {
      hooks = h as TransportHooks<unknown>;
      http.on('upgrade', onUpgrade);
    },
    listen: () => endpoint.listen(),
    close: () => endpoint.close(),
    prepare: (payload, binary) => new NodeFrame(payload, binary),
  };
}
