/**
 * `createServer`: wires the upgrade handling, connections, dispatcher, topic index, engine and
 * heartbeat together. Behaviour lives in the files it wires; this one owns lifecycle only.
 */
import { randomUUID } from 'node:crypto';
import { createMemoryEngine } from '../engines/memory.js';
import { CloseCode } from '../protocol/close-codes.js';
import { assertDepth } from '../protocol/depth.js';
import { PROTOCOL_VERSION, isName, type Member } from '../protocol/frames.js';
import { Admission } from '../net/admission.js';
import { createHttpRoutes } from '../net/http-routes.js';
import { addHealthRoutes } from '../net/health.js';
import { moveConnections } from './drain.js';
import { closeWithin } from '../net/close-peers.js';
import { createAuthSession } from './auth-session.js';
import { Backpressure } from './backpressure.js';
import { Connection, SEND_BUFFER_CAP_FACTOR } from './connection.js';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { createDispatcher, type CommandEntry } from './dispatch.js';
import type { StreamEntry, UploadEntry } from './streams.js';
import { SERVER_DEFAULTS, resolveHistory, resolveOptions, type HistoryConfig, type ServerOptions } from './options.js';
import { knownKeys, nonNegativeMs, positiveInt, withDefaults } from '../shared/options.js';
import { startHeartbeat } from './heartbeat.js';
import { createIdempotency } from './idempotency.js';
import { createMembers } from './members.js';
import { createControl } from './control.js';
import { createTrace } from './trace.js';
import { resolveObserver, type CodecMeter, type Observer } from './observe.js';
import type { HistoryOptions } from '../engines/engine.js';
import { TopicIndex } from './topic-index.js';
import { TOPIC_RULE_KEYS, TopicRules, type TopicRule } from './topic-rules.js';
import type { CommandHandler, CommandSpec, DrainReport, NotReadyReason, Server, ServerHealth, StreamSpec, UploadSpec } from './types.js';
import { createUpgradeHandler, type Accepted } from './accept-upgrade.js';
import type { TransportHooks } from './transport/types.js';
import { createTransport, resolveRuntime } from './transport/select.js';
import { createSseFallback } from './transport/sse.js';
import { resolveSseOptions } from './sse-options.js';
import { isStandardSchema } from './validation.js';

/**
 * Creates a Switchboard server.
 *
 * @example
 * const server = createServer({ port: 8080 })
 *   .command('add', ({ a, b }: { a: number; b: number }) => a + b)
 *   .topic('room:*', { subscribe: true, publish: true, presence: true });
 * const { port } = await server.listen();
 */
export function createServer<Identity = unknown, MemberInfo = unknown>(
  options: ServerOptions<Identity, MemberInfo> = {},
): Server<Identity, {}, {}, {}, [], MemberInfo> {
  const opts = resolveOptions(options);
  const { logger, limits } = opts;
  const ownsEngine = !options.engine;
  const engine = options.engine ?? createMemoryEngine();
  const commands = new Map<string, CommandEntry<Identity>>();
  const streams = new Map<string, StreamEntry<Identity>>();
  const uploads = new Map<string, UploadEntry<Identity>>();
  const rules = new TopicRules<Identity>();
  const connections = new Set<Connection<Identity>>();
  const pressure = new Backpressure();
  const members = createMembers(opts.presence, opts.idempotency.scope);
  // The development trace (docs/server.md, "Diagnostics"): undefined unless the logger has debug on.
  const trace = createTrace(logger);
  // Instrumentation (docs/observability.md): undefined unless `observe` is given.
  const obs = resolveObserver(options.observe);
  /** Per codec, what its connections report to (one object per codec, none per connection). */
  const observed = new Map<string, { observer: Observer; meter: CodecMeter }>();
  // Plain HTTP requests the server answers itself (docs/server.md, "HTTP routes").
  const routes = createHttpRoutes();
  // Checked before the transport attaches anything: its settings may throw.
  const sseOptions = resolveSseOptions(options.sse, limits, engine.nodeId);
  // The runtime's transport (docs/server.md, "Runtimes and transports"): its HTTP side and sockets.
  const transport = createTransport(resolveRuntime(opts.runtime, opts.server), {
    server: opts.server,
    path: opts.path,
    port: opts.port,
    host: opts.host,
    maxPayload: limits.maxPayload,
    compression: opts.compression,
    handshakeTimeoutMs: limits.handshakeTimeoutMs,
    writeDelayMs: opts.writeDelayMs,
    sendBufferCapBytes: limits.sendBufferBytes * SEND_BUFFER_CAP_FACTOR,
    tls: opts.tls,
    routes,
    logger,
  });
  // The SSE + HTTP fallback, when on (docs/server.md, "SSE fallback"): a second transport on the same routes.
  const sse =
    sseOptions &&
    createSseFallback({ path: opts.path, routes, options: sseOptions, maxPayload: limits.maxPayload, origins: opts.origins, nodeId: engine.nodeId ?? randomUUID(), relay: engine.relay?.bind(engine), logger });
  const index = new TopicIndex<Identity>(engine, members.of, (topic) => rules.find(topic)?.volatile === true, transport.prepare, transport.topics, obs);
  const welcome = (conn: Connection<Identity>) => {
    conn.send({ t: 'welcome', v: PROTOCOL_VERSION, clientId: conn.clientId, heartbeat: opts.heartbeat, maxPayload: limits.maxPayload });
    control.welcomed(conn);
  };
  const auth = createAuthSession<Identity>({ ...opts, members, welcome });
  const historyOf = (topic: string): HistoryOptions | false => {
    const h = rules.find(topic)?.history;
    return h === undefined ? opts.history : (h as Required<HistoryConfig> | false);
  };
  const idempotent = createIdempotency({ engine, logger, ttlMs: opts.idempotency.ttlMs, leaseMs: opts.idempotency.leaseMs });
  const keyScope = (conn: Connection<Identity>) => members.scope(conn.identity);
  /** A connection's member id for log lines; a `presence.key` that throws leaves the line without one. */
  const memberOf = (conn: Connection<Identity>): string | undefined => {
    try {
      return members.id(conn.identity, conn.clientId);
    } catch {
      return undefined;
    }
  };
  // Server control: connection hooks, targeted events, kicks, server-side subscriptions (control.ts).
  const control = createControl<Identity>({ engine, logger, members, rules, index, historyOf, maxSubscriptionsPerConnection: limits.maxSubscriptionsPerConnection });
  const dispatcher = createDispatcher({ commands, streams, uploads, rules, index, engine, logger, limits, auth, historyOf, idempotent, keyScope, granted: control.granted, observer: obs, memberOf });
  const admission = new Admission(limits.maxConnections, limits.maxConnectionsPerIp);
  let closing = false;
  let closed: Promise<void> | undefined;
  let drained: Promise<DrainReport> | undefined;
  /** Serving: the transport started (the readiness check answers `starting` until then). */
  let started = false;
  let attached: Promise<void> | undefined;
  let stopHeartbeat: (() => void) | undefined;

  function accept({ socket, identity, codec, deferred, reauth, release, remoteAddress }: Accepted<Identity>): Connection<Identity> {
    let o = obs && observed.get(codec.name);
    if (obs && !o) observed.set(codec.name, (o = { observer: obs, meter: obs.meter(codec.name) }));
    const conn = new Connection<Identity>(socket, randomUUID(), identity, codec, limits, pressure, release, trace, o);
    obs?.connected(codec.name);
    connections.add(conn);
    control.accepted(conn, remoteAddress);
    auth.start(conn, deferred, reauth);
    return conn;
  }

  function socketClosed(conn: Connection<Identity>, code: number, reason: string): void {
    connections.delete(conn);
    conn.dispose();
    dispatcher.closed(conn);
    for (const topic of [...conn.topics]) {
      index.remove(conn, topic, rules.find(topic)?.presence === true).catch((err: unknown) =>
        logger.error({ err, topic }, 'cleanup after close failed'),
      );
    }
    const own = conn.closedByServer;
    trace?.closed(conn.clientId, memberOf(conn), own?.code ?? code, own?.reason ?? reason);
    obs?.disconnected(own?.code ?? code);
    control.closed(conn, own?.code ?? code, own?.reason ?? reason, own ? 'server' : 'client');
  }

  const upgrade = createUpgradeHandler<Identity, Connection<Identity>>({
    opts,
    admission,
    accept,
    isClosing: () => closing || drained !== undefined,
    isDraining: () => drained !== undefined,
    refused: obs && ((c) => obs.refused(c)),
  });
  // The health checks (docs/deploy.md, "Health checks"): server.health() owns every fact they answer.
  if (opts.health) addHealthRoutes(routes, opts.health, () => server.health());

  async function start(): Promise<void> {
    await engine.attach({
      deliver: (topic, event) => index.deliver(topic, event),
      suspend: () => index.suspend(),
      control: (message) => control.apply(message),
      ...(sse ? { relayed: (payload: Uint8Array) => sse.relayed(payload) } : {}),
      resync: () =>
        index.resync().catch((err: unknown) => logger.error({ err }, 'could not re-read topic history after an engine outage')),
      logger,
      ...(obs?.engine ? { observe: obs.engine } : {}),
    });
    if (closing) return;
    const hooks: TransportHooks<Connection<Identity>> = {
      upgrade,
      message: (conn, data, binary) => conn.receive(data, binary, dispatcher),
      pong: (conn) => conn.alive(),
      drain: (conn) => conn.drained(),
      close: socketClosed,
    };
    transport.start(hooks);
    sse?.start(hooks);
    stopHeartbeat = startHeartbeat(connections, opts.heartbeat);
    started = true;
  }

  obs?.bind({
    connections: () => connections.size,
    engineHealth: () => engine.health?.() ?? { healthy: true },
    routes,
  });

  const server: Server<Identity, {}, {}, {}, [], MemberInfo> = {
    command(name: string, specOrHandler: unknown, maybeHandler?: unknown) {
      const { spec, handler } = registration('command', name, specOrHandler, maybeHandler, commands);
      const { input, output } = (spec ?? {}) as Partial<CommandSpec>;
      // A spec that names no schema would register a command that validates nothing, silently.
      if (spec && input === undefined && output === undefined) {
        throw new TypeError(`spec of command "${name}" must be { input: schema, output?: schema }`);
      }
      if (output !== undefined && !isStandardSchema(output)) throw new TypeError(`output of command "${name}" must implement Standard Schema`);
      commands.set(name, { handler: handler as CommandHandler<unknown, unknown, Identity>, input, output });
      return server as never;
    },
    stream(name: string, specOrHandler: unknown, maybeHandler?: unknown) {
      const { spec, handler } = registration('stream', name, specOrHandler, maybeHandler, streams);
      const b = (spec as StreamSpec<StandardSchemaV1 | undefined> | undefined)?.batch;
      const merged = b && withDefaults(SERVER_DEFAULTS.stream.batch as { maxItems: number; maxDelayMs: number }, b);
      const batch = merged && { maxItems: positiveInt('batch.maxItems', merged.maxItems), maxDelayMs: nonNegativeMs('batch.maxDelayMs', merged.maxDelayMs) };
      streams.set(name, { handler: handler as StreamEntry<Identity>['handler'], input: spec?.input, batch });
      return server as never;
    },
    upload(name: string, specOrHandler: unknown, maybeHandler?: unknown) {
      const { spec, handler } = registration('upload', name, specOrHandler, maybeHandler, uploads);
      const hwm = positiveInt('highWaterMark', (spec as UploadSpec<StandardSchemaV1 | undefined> | undefined)?.highWaterMark ?? SERVER_DEFAULTS.upload.highWaterMark);
      uploads.set(name, { handler: handler as UploadEntry<Identity>['handler'], input: spec?.input, highWaterMark: hwm });
      return server as never;
    },
    topic(pattern: string, rule: TopicRule<Identity>) {
      if (typeof rule !== 'object' || rule === null) throw new TypeError(`the rule of topic "${pattern}" must be an object such as { subscribe: true }`);
      knownKeys(`topic "${pattern}"`, rule, TOPIC_RULE_KEYS);
      if (rule.schema && !isStandardSchema(rule.schema)) throw new TypeError(`schema of topic "${pattern}" must implement Standard Schema`);
      const history = resolveHistory(`history of topic "${pattern}"`, rule.history);
      rules.add(pattern, history === undefined ? rule : { ...rule, history });
      // The same object: only its type grows with each rule (docs/server.md, "Typed topics").
      return server as never;
    },
    async publish(topic: string, data: unknown) {
      if (!isName(topic)) throw new TypeError('topic must be a string of 1-256 characters');
      // Refused before any delivery: a value every codec can carry or none (docs/protocol.md §2.6).
      assertDepth(data, 'data');
      const history = historyOf(topic);
      const position = await engine.publish(topic, { kind: 'msg', data, meta: {} }, ...(history ? [history] : []));
      obs?.published();
      return position ?? undefined;
    },
    on: (event, hook) => control.on(event, hook),
    send: (target, event, data) => control.send(target, event, data),
    kick: (target, options) => control.kick(target, options),
    subscribe: (target, topic, options) => control.subscribe(target, topic, options),
    unsubscribe: (target, topic, options) => control.unsubscribe(target, topic, options),
    async presence(topic) {
      // Members carry what `presence.info` returned, so their `info` has its type.
      return (await engine.presenceList(topic)) as Member<MemberInfo>[];
    },
    async listen() {
      if (closing) throw new Error('server is closed');
      attached ??= start().catch((err: unknown) => {
        // A failed start (the engine's Redis down) may be retried by calling listen() again.
        attached = undefined;
        throw err;
      });
      await attached;
      // close() may have run while the engine attached: do not start listening behind its back.
      if (closing) throw new Error('server is closed');
      return { port: await transport.listen() };
    },
    close() {
      closed ??= shutdown();
      return closed;
    },
    get connections() {
      return connections.size;
    },
    get bufferedBytes() {
      let sum = 0;
      for (const conn of connections) sum += conn.bufferedBytes;
      return sum;
    },
    drained() {
      return pressure.drained();
    },
    health(): ServerHealth {
      const e = engine.health?.() ?? { healthy: true };
      const draining = drained !== undefined;
      const reasons: NotReadyReason[] = [];
      if (!started) reasons.push('starting');
      if (!e.healthy) reasons.push('engine');
      if (draining) reasons.push('draining');
      if (closing) reasons.push('closing');
      if (connections.size >= limits.maxConnections) reasons.push('full');
      let inFlight = 0;
      for (const conn of connections) inFlight += dispatcher.inFlight(conn);
      return {
        engine: e,
        connections: connections.size,
        maxConnections: limits.maxConnections,
        closing,
        draining,
        inFlight,
        runtime: transport.runtime,
        ready: reasons.length === 0,
        reasons,
      };
    },
    drain(options) {
      knownKeys('drain', options, ['timeoutMs']);
      const timeoutMs = nonNegativeMs('drain timeoutMs', options?.timeoutMs ?? SERVER_DEFAULTS.drain.timeoutMs);
      drained ??= (async () => {
        const t0 = Date.now();
        logger.info({ connections: connections.size, timeoutMs }, 'draining: moving connections to other nodes');
        const { moved, cut } = await moveConnections(connections, (conn) => dispatcher.inFlight(conn), t0 + timeoutMs, () => closing);
        if (cut > 0) logger.warn({ cut, timeoutMs }, 'draining: connections closed with requests in flight at the deadline');
        await server.close();
        return { moved, cut, durationMs: Date.now() - t0 };
      })();
      return drained;
    },
  };

  /** Checks a command/stream/upload registration: `(name, handler)` or `(name, spec, handler)`. */
  function registration(
    kind: string,
    name: string,
    specOrHandler: unknown,
    maybeHandler: unknown,
    existing: ReadonlyMap<string, unknown>,
  ): { spec: { input?: StandardSchemaV1 } | undefined; handler: unknown } {
    if (!isName(name)) throw new TypeError(`${kind} name must be a string of 1-256 characters`);
    // A schema passed bare (`command(name, z.object(…), h)`; arktype's are callable and would even
    // become the handler) would register something that validates nothing, silently.
    if (isStandardSchema(specOrHandler)) throw new TypeError(`pass the schema of ${kind} "${name}" as { input: schema }`);
    const spec = typeof specOrHandler === 'function' ? undefined : (specOrHandler as { input?: StandardSchemaV1 } | undefined);
    if (spec !== undefined && (typeof spec !== 'object' || spec === null)) throw new TypeError(`options of ${kind} "${name}" must be an object`);
    const handler = spec ? maybeHandler : specOrHandler;
    if (typeof handler !== 'function') throw new TypeError(`handler of ${kind} "${name}" must be a function`);
    if (spec?.input !== undefined && !isStandardSchema(spec.input)) throw new TypeError(`input of ${kind} "${name}" must implement Standard Schema`);
    if (existing.has(name)) throw new TypeError(`${kind} "${name}" is already registered`);
    return { spec, handler };
  }

  async function shutdown(): Promise<void> {
    closing = true;
    stopHeartbeat?.();
    // The upgrade listener stays: on an HTTP server that outlives us, upgrades to our path are
    // answered 503 rather than left hanging.
    const peers = [...connections].map((conn) => ({
      close: () => conn.close(CloseCode.GOING_AWAY, 'server shutting down'),
      terminate: () => conn.terminate(),
      onClosed: (cb: () => void) => conn.onClosed(cb),
    }));
    await closeWithin(peers, opts.shutdownTimeoutMs);
    sse?.close();
    await transport.close();
    if (ownsEngine) await engine.close();
  }
  return server;
}
