/**
 * `createServer`: wires the HTTP upgrade gate, connections, dispatcher, topic index, engine and
 * heartbeat together. Behaviour lives in the files it wires; this one owns lifecycle only.
 */
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { createMemoryEngine } from '../engines/memory.js';
import type { Codec } from '../protocol/codec.js';
import { CloseCode } from '../protocol/close-codes.js';
import { MAX_NAME_LENGTH, PROTOCOL_VERSION } from '../protocol/frames.js';
import { Connection } from './connection.js';
import { createDispatcher } from './dispatch.js';
import { negotiate, originAllowed, refuse } from './handshake.js';
import { resolveOptions, type ServerOptions } from './options.js';
import { TopicIndex } from './topic-index.js';
import { TopicRules } from './topic-rules.js';
import type { CommandHandler, Server } from './types.js';

/**
 * Creates a Switchboard server.
 *
 * @example
 * const server = createServer({ port: 8080 })
 *   .command('add', ({ a, b }: { a: number; b: number }) => a + b)
 *   .topic('room:*', { subscribe: true, publish: true, presence: true });
 * const { port } = await server.listen();
 */
export function createServer<Identity = unknown>(options: ServerOptions<Identity> = {}): Server<Identity> {
  const opts = resolveOptions(options);
  const { logger } = opts;
  const ownsEngine = !options.engine;
  const engine = options.engine ?? createMemoryEngine();
  const commands = new Map<string, CommandHandler<unknown, unknown, Identity>>();
  const rules = new TopicRules<Identity>();
  const connections = new Set<Connection<Identity>>();
  const index = new TopicIndex<Identity>(engine, (conn) => {
    const id = opts.presence.key(conn.identity, conn.clientId);
    return opts.presence.info ? { id, info: opts.presence.info(conn.identity) } : { id };
  });
  const dispatcher = createDispatcher({ commands, rules, index, engine, logger });
  const ownsHttp = !opts.server;
  const http: HttpServer = opts.server ?? createHttpServer((_req, res) => {
    res.writeHead(426, { 'Content-Type': 'text/plain' }).end('Upgrade Required\n');
  });
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    maxPayload: opts.limits.maxPayload,
    perMessageDeflate: false,
    handleProtocols: (_offered, req) => codecOf.get(req)?.subprotocol ?? false,
  });
  /** The codec chosen for a request during the upgrade, read back by `handleProtocols`. */
  const codecOf = new WeakMap<IncomingMessage, Codec>();
  let closing = false;
  let closed: Promise<void> | undefined;
  let attached: Promise<void> | undefined;
  let heartbeat: NodeJS.Timeout | undefined;

  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const pathname = (req.url ?? '/').split('?', 1)[0];
    if (pathname !== opts.path) {
      // Another handler on a shared HTTP server (Vite HMR, a second endpoint) may own this path.
      if (http.listenerCount('upgrade') <= 1) refuse(socket, 404, 'Not Found');
      return;
    }
    // A peer may reset the socket while authenticate() runs; an unhandled 'error' would crash.
    socket.on('error', () => socket.destroy());
    if (closing) return refuse(socket, 503, 'Server is shutting down');
    if (!originAllowed(req, opts.origins)) return refuse(socket, 403, 'Origin not allowed');
    const nego = negotiate(req.headers['sec-websocket-protocol']);
    if (!nego.ok) return refuse(socket, nego.status, nego.message);
    let identity: Identity | null | undefined = undefined;
    if (opts.authenticate) {
      try {
        identity = await opts.authenticate(req, nego.token);
      } catch (err) {
        // The token is not logged; only the error the application threw.
        logger.error({ err, url: pathname }, 'authenticate threw');
        return refuse(socket, 500, 'Authentication failed');
      }
      if (identity === null || identity === undefined) return refuse(socket, 401, 'Unauthorized');
    }
    if (socket.destroyed) return;
    if (closing) return refuse(socket, 503, 'Server is shutting down');
    codecOf.set(req, nego.codec);
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, identity as Identity, nego.codec));
  }

  function accept(ws: WebSocket, identity: Identity, codec: Codec): void {
    const conn = new Connection<Identity>(ws, randomUUID(), identity, codec);
    connections.add(conn);
    ws.on('message', (data: Buffer, isBinary: boolean) => conn.receive(data, isBinary, dispatcher));
    ws.on('pong', () => conn.alive());
    // ws reports protocol faults (bad UTF-8, oversize, bad opcode) as 'error' and closes with the
    // right code itself; the listener only keeps the process alive.
    ws.on('error', (err) => logger.debug({ err, clientId: conn.clientId }, 'socket error'));
    ws.once('close', () => {
      connections.delete(conn);
      conn.dispose();
      for (const topic of [...conn.topics]) {
        index.remove(conn, topic, rules.find(topic)?.presence === true).catch((err: unknown) =>
          logger.error({ err, topic }, 'cleanup after close failed'),
        );
      }
    });
    conn.send({
      t: 'welcome',
      v: PROTOCOL_VERSION,
      clientId: conn.clientId,
      heartbeat: opts.heartbeat,
      maxPayload: opts.limits.maxPayload,
    });
  }

  function sweep(): void {
    for (const conn of connections) {
      if (conn.seen) {
        conn.seen = false;
      } else if (!conn.pingTimer) {
        conn.ping();
        conn.pingTimer = setTimeout(() => conn.terminate(), opts.heartbeat.timeoutMs);
        conn.pingTimer.unref?.();
      }
    }
  }

  const upgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    onUpgrade(req, socket, head).catch((err: unknown) => {
      logger.error({ err }, 'upgrade failed');
      refuse(socket, 500, 'Internal Server Error');
    });
  };

  async function start(): Promise<void> {
    await engine.attach({ deliver: (topic, event) => index.deliver(topic, event) });
    http.on('upgrade', upgradeListener);
    heartbeat = setInterval(sweep, opts.heartbeat.intervalMs);
    heartbeat.unref();
  }

  function port(): number {
    return (http.address() as AddressInfo).port;
  }

  const server: Server<Identity> = {
    command(name, handler) {
      if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_LENGTH) {
        throw new TypeError('command name must be a string of 1-256 characters');
      }
      if (typeof handler !== 'function') throw new TypeError(`handler of "${name}" must be a function`);
      if (commands.has(name)) throw new TypeError(`command "${name}" is already registered`);
      commands.set(name, handler as CommandHandler<unknown, unknown, Identity>);
      return server as never;
    },
    topic(pattern, rule) {
      rules.add(pattern, rule);
      return server;
    },
    async publish(topic, data) {
      if (typeof topic !== 'string' || topic.length === 0 || topic.length > MAX_NAME_LENGTH) {
        throw new TypeError('topic must be a string of 1-256 characters');
      }
      await engine.publish(topic, { kind: 'msg', data, meta: {} });
    },
    async presence(topic) {
      return engine.presenceList(topic);
    },
    async listen() {
      if (closing) throw new Error('server is closed');
      attached ??= start();
      await attached;
      if (http.listening) return { port: port() };
      if (ownsHttp) {
        await new Promise<void>((resolve, reject) => {
          http.once('error', reject);
          http.listen(opts.port, opts.host, () => {
            http.off('error', reject);
            resolve();
          });
        });
      } else {
        // Someone else listens; settle on their success or failure (a port in use must not hang us).
        await new Promise<void>((resolve, reject) => {
          const done = (err?: Error) => {
            http.off('listening', done);
            http.off('error', done);
            if (err) reject(err);
            else resolve();
          };
          http.once('listening', done);
          http.once('error', done);
        });
      }
      return { port: port() };
    },
    close() {
      closed ??= shutdown();
      return closed;
    },
    get connections() {
      return connections.size;
    },
  };

  async function shutdown(): Promise<void> {
    closing = true;
    if (heartbeat) clearInterval(heartbeat);
    // The upgrade listener stays: on an HTTP server that outlives us, upgrades to our path are
    // answered 503 rather than left hanging.
    const gone = [...connections].map(
      (conn) =>
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => conn.terminate(), opts.shutdownTimeoutMs);
          conn.onClosed(() => {
            clearTimeout(timer);
            resolve();
          });
          conn.close(CloseCode.GOING_AWAY, 'server shutting down');
        }),
    );
    await Promise.all(gone);
    if (ownsHttp && http.listening) {
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    }
    if (ownsEngine) await engine.close();
  }
  return server;
}
