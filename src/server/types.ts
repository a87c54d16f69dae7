/**
 * Public types of the server API, kept apart from the implementation. The API-map types the client
 * shares live in protocol/api.ts, which has no Node imports.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { ApiTypes, CommandMap, StreamMap, TopicData, TopicEntry, TopicMap, TopicName, TopicsOf, UploadMap } from '../protocol/api.js';
import type { Member, StreamPosition } from '../protocol/frames.js';
import type { TopicRule } from './topic-rules.js';
import type { EngineHealth } from '../engines/engine.js';
import type { KickOptions, ServerEvents, ServerHook, ServerSubscribeOptions, ServerUnsubscribeOptions, Target } from './control-types.js';

/** What `server.health()` reports: the facts behind the readiness check (docs/deploy.md, "Health checks"). */
export interface ServerHealth {
  /** Whether the engine can serve (a Redis engine whose Redis is unreachable is not). */
  engine: EngineHealth;
  /** Open connections now. */
  connections: number;
  /** `limits.maxConnections`: at it, new connections are refused. */
  maxConnections: number;
  /** `close()` has begun. */
  closing: boolean;
  /** `drain()` has begun. */
  draining: boolean;
  /** Requests not yet answered, over every connection: commands running, live streams and uploads, topic operations in progress. */
  inFlight: number;
  /** Which transport carries the WebSockets (`'node'`, `'bun'`). */
  runtime: string;
  /** Whether this node should get new connections: what the readiness check answers (200 or 503). */
  ready: boolean;
  /** Why not, when not ready. */
  reasons: NotReadyReason[];
}

/**
 * Why a server is not ready: not listening yet (`starting`), its engine cannot serve (`engine`),
 * `drain()` or `close()` began (`draining`, `closing`), or it holds `limits.maxConnections` (`full`).
 */
export type NotReadyReason = 'starting' | 'engine' | 'draining' | 'closing' | 'full';

/** Options of `server.drain()`. */
export interface DrainOptions {
  /**
   * How long connections may finish what they have in flight before they are closed all the same,
   * in ms. The close handshakes that follow take up to `shutdownTimeoutMs` more. Keep the sum below
   * the time your orchestrator grants between SIGTERM and SIGKILL (docs/deploy.md, "Rolling deploys").
   * @default 20000
   */
  timeoutMs?: number;
}

/** What `server.drain()` resolves with. */
export interface DrainReport {
  /** Connections closed with MOVED once they had nothing in flight. */
  moved: number;
  /** Connections closed with MOVED at the deadline with requests still in flight (their clients see `DISCONNECTED`; keyed calls are re-sent elsewhere). */
  cut: number;
  /** How long the drain took, close included, in ms. */
  durationMs: number;
}

/** What a handler knows about the connection that called it. */
export interface CommandContext<Identity = unknown> {
  /** Unique id of the connection (also `meta.from` on messages it publishes). */
  readonly clientId: string;
  /** What `authenticate` returned for this connection. */
  readonly identity: Identity;
  /** Aborts when the connection closes, so long handlers can stop early. */
  readonly signal: AbortSignal;
}

/** What a stream or upload handler knows; `signal` aborts when the consumer cancels or disconnects. */
export type StreamContext<Identity = unknown> = CommandContext<Identity>;

/** A stream handler: returns the items as an (async) iterable — an async generator is the usual form. */
export type StreamHandler<Input, Item, Identity = unknown> = (
  input: Input,
  ctx: StreamContext<Identity>,
) => AsyncIterable<Item> | Iterable<Item>;

/** An upload handler: consumes the client's items and returns the result of the upload. */
export type UploadHandler<Input, Item, Output, Identity = unknown> = (
  input: Input,
  items: AsyncIterable<Item>,
  ctx: StreamContext<Identity>,
) => Output | Promise<Output>;

/** Options of `server.stream`. */
export interface StreamSpec<In extends StandardSchemaV1 | undefined = undefined> {
  /** Validates the stream's input (`INVALID_INPUT` otherwise); its output type is the handler's input. */
  input?: In;
  /** Coalesce items produced within `maxDelayMs` into one frame, up to `maxItems`. @default off */
  batch?: { maxItems?: number; maxDelayMs?: number };
}

/** Options of `server.upload`. */
export interface UploadSpec<In extends StandardSchemaV1 | undefined = undefined> {
  /** Validates the upload's input. */
  input?: In;
  /** Items the server lets the client send ahead of the handler. @default 16 */
  highWaterMark?: number;
}

export type { CommandMap, StreamMap, TopicEntry, TopicMap, UploadMap } from '../protocol/api.js';

type InputOf<S, Fallback> = S extends StandardSchemaV1 ? StandardSchemaV1.InferOutput<S> : Fallback;
type WireInputOf<S, Fallback> = S extends StandardSchemaV1 ? StandardSchemaV1.InferInput<S> : Fallback;

/** A command handler: returns the result, or throws `ServerError` for a coded failure. */
export type CommandHandler<Input, Output, Identity = unknown> = (
  input: Input,
  ctx: CommandContext<Identity>,
) => Output | Promise<Output>;

/**
 * Schemas of a command: `input` is checked before the handler runs (`INVALID_INPUT` otherwise) and
 * its output type becomes the handler's input type; `output` checks what the handler returns
 * (a mismatch is a server bug: logged, `INTERNAL` to the caller).
 */
export interface CommandSpec<In extends StandardSchemaV1 = StandardSchemaV1> {
  input: In;
  output?: StandardSchemaV1;
}

/** The entry a topic rule with schema `S` adds: clients publish the schema's input, subscribers get its output. */
type SchemaTopic<Pattern extends string, S> = S extends StandardSchemaV1
  ? TopicEntry<Pattern, StandardSchemaV1.InferInput<S>, StandardSchemaV1.InferOutput<S>>
  : TopicEntry<Pattern>;

/**
 * A topic `server.publish` may be given: one of the rules' topics (with its data checked), or any
 * other string (the server publishes where it likes; its data is then `unknown`).
 */
type ServerTopic<M extends TopicMap, T extends string> = number extends M['length'] ? unknown : T extends TopicName<M> ? TopicData<M, T> : unknown;

/**
 * A Switchboard server. Create one with `createServer`. The type parameters record what was
 * registered, for `connect<typeof server>()`: `Topics` is the rules in registration order (the
 * default, a plain array, stands for any rules), `MemberInfo` what `presence.info` returns.
 */
export interface Server<
  Identity = unknown,
  Commands extends CommandMap = {},
  Streams extends StreamMap = {},
  Uploads extends UploadMap = {},
  out Topics extends TopicMap = TopicMap,
  MemberInfo = unknown,
> {
  /**
   * Registers a request/response command. Returns the server with the command's types added, so
   * `connect<typeof server>()` types `client.call` for it.
   */
  command<Name extends string, Input = unknown, Output = unknown>(
    name: Name,
    handler: CommandHandler<Input, Output, Identity>,
  ): Server<Identity, Commands & { [K in Name]: { input: Input; output: Awaited<Output> } }, Streams, Uploads, Topics, MemberInfo>;
  /** Registers a command whose input is validated by a Standard Schema; the handler's input type is inferred from it. */
  command<Name extends string, In extends StandardSchemaV1, Output = unknown>(
    name: Name,
    spec: CommandSpec<In>,
    handler: CommandHandler<StandardSchemaV1.InferOutput<In>, Output, Identity>,
  ): Server<Identity, Commands & { [K in Name]: { input: StandardSchemaV1.InferInput<In>; output: Awaited<Output> } }, Streams, Uploads, Topics, MemberInfo>;
  /**
   * Registers a server-to-client stream: the handler's (async) iterable is pulled only while the
   * consumer has credit; `ctx.signal` aborts on cancel or disconnect.
   */
  stream<Name extends string, Input = unknown, Item = unknown>(
    name: Name,
    handler: StreamHandler<Input, Item, Identity>,
  ): Server<Identity, Commands, Streams & { [K in Name]: { input: Input; item: Item } }, Uploads, Topics, MemberInfo>;
  stream<Name extends string, In extends StandardSchemaV1 | undefined = undefined, Input = unknown, Item = unknown>(
    name: Name,
    spec: StreamSpec<In>,
    handler: StreamHandler<InputOf<In, Input>, Item, Identity>,
  ): Server<Identity, Commands, Streams & { [K in Name]: { input: WireInputOf<In, Input>; item: Item } }, Uploads, Topics, MemberInfo>;
  /** Registers a client-to-server stream (uploads, sensors): the handler consumes items with flow control. */
  upload<Name extends string, Input = unknown, Item = unknown, Output = unknown>(
    name: Name,
    handler: UploadHandler<Input, Item, Output, Identity>,
  ): Server<Identity, Commands, Streams, Uploads & { [K in Name]: { input: Input; item: Item; output: Awaited<Output> } }, Topics, MemberInfo>;
  upload<Name extends string, In extends StandardSchemaV1 | undefined = undefined, Input = unknown, Item = unknown, Output = unknown>(
    name: Name,
    spec: UploadSpec<In>,
    handler: UploadHandler<InputOf<In, Input>, Item, Output, Identity>,
  ): Server<Identity, Commands, Streams, Uploads & { [K in Name]: { input: WireInputOf<In, Input>; item: Item; output: Awaited<Output> } }, Topics, MemberInfo>;
  /**
   * Declares who may subscribe to and publish on topics matching `pattern` (`*` matches any run of
   * characters). Returns the server with the rule's types added, so `connect<typeof server>()`
   * types `subscribe` and `publish` on its topics: the payload is the `schema`'s (clients publish
   * its input type, subscribers receive its output type), else `unknown`.
   *
   * @example
   * createServer().topic('room:*', { subscribe: true, publish: true, schema: z.object({ text: z.string() }) });
   */
  topic<const Pattern extends string, S extends StandardSchemaV1 | undefined = undefined>(
    pattern: Pattern,
    rule: TopicRule<Identity> & { schema?: S },
  ): Server<Identity, Commands, Streams, Uploads, [...Topics, SchemaTopic<Pattern, S>], MemberInfo>;
  /**
   * Declares a topic rule whose payload type is given as a type argument, for a rule without a
   * schema (nothing checks it at run time). TypeScript infers no type argument when one is given,
   * so the pattern is passed as both: `server.topic<'room:*', { text: string }>('room:*', rule)`.
   */
  topic<const Pattern extends string, Data>(
    pattern: Pattern,
    rule: TopicRule<Identity> & { schema?: undefined },
  ): Server<Identity, Commands, Streams, Uploads, [...Topics, TopicEntry<Pattern, Data, Data>], MemberInfo>;
  /**
   * Publishes `data` to every subscriber of `topic`. Rules do not apply to the server. Resolves the
   * message's stream position on a topic with history, else `undefined`. On a topic a typed rule
   * matches, `data` must have the rule's payload type (what its subscribers are typed to receive).
   */
  publish<const Topic extends string>(topic: Topic, data: ServerTopic<TopicsOf<this>, Topic>): Promise<StreamPosition | undefined>;
  /** Members present on a presence topic. */
  presence(topic: string): Promise<Member<MemberInfo>[]>;
  /**
   * Runs `hook` when this node welcomes a connection (`connect`) or when one of those closes
   * (`disconnect`); returns the function that removes it. A hook that throws is logged and changes
   * nothing for the connection. Only this node's connections: across nodes use presence or
   * {@link send} (docs/server.md, "Server control").
   *
   * @example
   * server.on('connect', ({ clientId, member }) => log.info({ clientId, member }, 'online'));
   */
  on<K extends keyof ServerEvents<Identity>>(event: K, hook: ServerHook<ServerEvents<Identity>[K]>): () => void;
  /**
   * Sends a targeted event to one connection or every connection of a member, on any node; the
   * client receives it as its `event` event. At most once, in order per target; a target that is
   * not connected now never receives it (docs/protocol.md §2.9). Resolves once the engine took it.
   *
   * @example
   * await server.send({ member: 'alice' }, 'notification', { text: 'Build passed' });
   */
  send(target: Target, event: string, data?: unknown): Promise<void>;
  /**
   * Closes one connection or every connection of a member, on any node: with KICKED (4502, the
   * client does not reconnect) or, with `reconnect: true`, MOVED (4002, it reconnects).
   */
  kick(target: Target, options?: KickOptions): Promise<void>;
  /**
   * Subscribes one connection or every connection of a member (connected now) to `topic`, on any
   * node, honouring the topic's `subscribe` rule or, with `bypassRules`, whatever it says. The
   * client sees a subscription of its own (its `subscribed` event) that survives its reconnects.
   */
  subscribe(target: Target, topic: string, options?: ServerSubscribeOptions): Promise<void>;
  /**
   * Ends a subscription of one connection or every connection of a member to `topic`, whoever
   * made it; the client's subscription ends with a `REVOKED` error carrying `reason`.
   */
  unsubscribe(target: Target, topic: string, options?: ServerUnsubscribeOptions): Promise<void>;
  /**
   * For health endpoints: whether the engine can serve (a Redis engine whose Redis is unreachable
   * reports `healthy: false`; local connections stay open meanwhile), open connections, whether
   * `close()` has begun, and which transport carries the WebSockets (`'node'`, `'bun'`;
   * docs/server.md, "Running on Bun").
   */
  health(): ServerHealth;
  /**
   * Takes this node out of service without losing work (docs/server.md, "Draining"): new upgrades
   * are refused with 503, the readiness check answers 503, and every connection is closed with
   * MOVED (4002, the client reconnects at once, to another node where its URL provider offers one)
   * as soon as it has nothing in flight — its commands answered, its streams and uploads ended,
   * its publishes confirmed. At `timeoutMs` the rest are closed with MOVED all the same; then the
   * server closes as {@link close} does. Resolves once closed, with what happened. Calling it again
   * returns the same promise; `close()` during a drain cuts it short.
   *
   * @example
   * process.once('SIGTERM', () => void server.drain({ timeoutMs: 20_000 }).then(() => process.exit(0)));
   */
  drain(options?: DrainOptions): Promise<DrainReport>;
  /** Starts listening (or waits for the attached server to listen); resolves the port. */
  listen(): Promise<{ port: number }>;
  /** Closes every connection with GOING_AWAY (1001) and resolves once all are gone. */
  close(): Promise<void>;
  /** Number of open connections now. */
  readonly connections: number;
  /**
   * Bytes queued for all connections and not yet handed to the operating system, summed over
   * connections (a message fanned out to N subscribers counts N times, though its bytes are held
   * once). Walks every connection: read it for metrics, not per message.
   */
  readonly bufferedBytes: number;
  /**
   * Backpressure for the server's own publishing: resolves at once when no connection holds more
   * than `limits.sendBufferBytes`, else once every connection that does has written its buffer out
   * or been closed (a peer that stops reading is closed after `limits.slowConsumerGraceMs`).
   *
   * @example
   * for (const row of rows) {
   *   await server.publish('feed', row);
   *   await server.drained(); // memory stays near sendBufferBytes per subscriber, however fast rows come
   * }
   */
  drained(): Promise<void>;
  /** Type-only marker for `connect<typeof server>()`; always `undefined` at run time. */
  readonly '~types'?: ApiTypes<Identity, Commands, Streams, Uploads, Topics, MemberInfo>;
}
