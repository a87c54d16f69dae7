/**
 * Public types of the client API.
 */
import type { Member } from '../protocol/frames.js';
import type { SwitchboardError } from '../protocol/errors.js';
import type { CommandMap, StreamMap, TopicArg, TopicData, TopicInput, TopicMap, UploadMap } from '../protocol/api.js';
import type { StreamOptions, StreamReader, UploadOptions } from './streams.js';
import type { MessageHandler, SubscribeOptions, Subscription } from './subscriptions.js';

/** Connection state. `closed` is final. */
export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Events a client emits. */
export interface ClientEvents {
  /** The connection is usable (the server's `welcome` arrived). */
  open: { clientId: string };
  /** The connection closed. `willReconnect` tells whether the client tries again. */
  close: { code: number; reason: string; willReconnect: boolean; httpStatus?: number };
  /** A reconnect attempt is scheduled after `delayMs`. `attempt` counts from 1. */
  reconnecting: { attempt: number; delayMs: number };
  /**
   * Something failed that no promise reports: each failed connection attempt (a coded handshake
   * outcome), the client giving up (`CONNECTION_FAILED`), a refused subscription nobody listens
   * to, a throwing handler, a bad frame (docs/client.md, "When things go wrong").
   */
  error: SwitchboardError | Error;
  /**
   * A targeted event the server sent to this connection or its member (`server.send`;
   * docs/client.md, "Events from the server"). At most once: none arrives while disconnected.
   */
  event: { name: string; data?: unknown };
  /**
   * The server subscribed this client to `topic` (`server.subscribe`). Call `client.subscribe(topic,
   * handler)` in the listener to receive its messages from the first; the subscription survives
   * reconnects like the client's own.
   */
  subscribed: { topic: string };
}

export interface CallOptions {
  /** Deadline counted from the call (queued time included), in ms. @default the client's `timeoutMs` */
  timeoutMs?: number;
  /** Cancels the call while it is queued or awaited; rejects with `ABORTED`. */
  signal?: AbortSignal;
}

export interface CallRequestOptions extends CallOptions {
  /**
   * Makes the call idempotent (docs/protocol.md §2.8): the server runs it at most once per key,
   * and a connection lost before the answer re-sends it after the reconnect instead of rejecting
   * with `DISCONNECTED`. Use a fresh unguessable key per operation, e.g. `crypto.randomUUID()`.
   */
  idempotencyKey?: string;
}

export interface PublishOptions extends CallOptions {
  /** Deliver to the publishing connection too, when it is subscribed. @default true */
  echo?: boolean;
}

/**
 * Topic methods of a client typed with a server's topic rules (`connect<typeof server>()`): a
 * literal topic no rule matches is a compile error, and payloads have the type of the rule that
 * governs the topic — the first registered rule whose pattern matches, as on the server. A topic
 * typed `string` is accepted (the server checks it) with the union of the payloads of every rule
 * that may match it (docs/client.md, "Typed topics").
 */
export interface TypedTopics<Topics extends TopicMap, MemberInfo = unknown> {
  /**
   * Subscribes to a topic; survives reconnects. On a topic with history, messages missed while
   * disconnected are replayed exactly once and in order, or a `gap` event says they are lost.
   */
  subscribe<const Topic extends string>(
    topic: TopicArg<Topics, Topic>,
    handler: MessageHandler<TopicData<Topics, Topic>>,
    options?: SubscribeOptions,
  ): Subscription<MemberInfo, Topic>;
  /** Publishes on a topic; resolves once the server accepted it. `data` is the rule schema's input type. */
  publish<const Topic extends string>(topic: TopicArg<Topics, Topic>, data: TopicInput<Topics, Topic>, options?: PublishOptions): Promise<void>;
  /** Asks the server who is on a presence topic this client is subscribed to. */
  presence<const Topic extends string>(topic: TopicArg<Topics, Topic>, options?: CallOptions): Promise<Member<MemberInfo>[]>;
}

/** Topic methods of a client without the server's types: any topic, payloads `unknown` unless stated. */
export interface LooseTopics<MemberInfo = unknown> {
  /**
   * Subscribes to a topic; survives reconnects. On a topic with history, messages missed while
   * disconnected are replayed exactly once and in order, or a `gap` event says they are lost.
   * `T` is the payload type the caller vouches for (nothing checks it).
   */
  subscribe<T = unknown>(topic: string, handler: MessageHandler<T>, options?: SubscribeOptions): Subscription<MemberInfo>;
  /** Publishes on a topic; resolves once the server accepted it. */
  publish(topic: string, data: unknown, options?: PublishOptions): Promise<void>;
  /** Asks the server who is on a presence topic this client is subscribed to. */
  presence(topic: string, options?: CallOptions): Promise<Member<MemberInfo>[]>;
}

/**
 * The topic methods for a topic map: typed for a server's rules (a tuple), loose for the loose map
 * and for a server type that chained no rule (its rules were added as separate statements, which
 * types cannot follow, or are yet to come).
 */
export type TopicMethods<Topics extends TopicMap, MemberInfo = unknown> = number extends Topics['length']
  ? LooseTopics<MemberInfo>
  : Topics extends readonly []
    ? LooseTopics<MemberInfo>
    : TypedTopics<Topics, MemberInfo>;

/**
 * A Switchboard client. Create one with `connect`; `connect<typeof server>()` fills the type
 * parameters from the server (`Topics`: its topic rules in order; `MemberInfo`: what its
 * `presence.info` returns).
 */
export interface Client<
  Commands extends CommandMap = CommandMap,
  Streams extends StreamMap = StreamMap,
  Uploads extends UploadMap = UploadMap,
  Topics extends TopicMap = TopicMap,
  MemberInfo = unknown,
> {
  /** The connection state now. */
  readonly state: ClientState;
  /** This connection's id as the server knows it; `undefined` until the first `open`. */
  readonly clientId: string | undefined;
  /** Listens to a client event; returns the function that removes the listener. */
  on<K extends keyof ClientEvents>(event: K, cb: (arg: ClientEvents[K]) => void): () => void;
  /** Calls a server command and resolves its result. */
  call<K extends keyof Commands & string>(name: K, input?: Commands[K]['input'], options?: CallRequestOptions): Promise<Commands[K]['output']>;
  /**
   * Subscribes to a topic; survives reconnects. On a topic with history, messages missed while
   * disconnected are replayed exactly once and in order, or a `gap` event says they are lost.
   * Typed by the server's topic rules when there are any ({@link TypedTopics}), else {@link LooseTopics}.
   */
  readonly subscribe: TopicMethods<Topics, MemberInfo>['subscribe'];
  /** Publishes on a topic; resolves once the server accepted it. */
  readonly publish: TopicMethods<Topics, MemberInfo>['publish'];
  /** Asks the server who is on a presence topic this client is subscribed to. */
  readonly presence: TopicMethods<Topics, MemberInfo>['presence'];
  /**
   * Opens a server-to-client stream: an async iterable of the handler's items, in order, with
   * flow control (at most `highWaterMark` items ahead). `break`, `return()`, `cancel()` or the
   * signal stop it; a server error rejects with its code; a lost connection with `DISCONNECTED`.
   */
  stream<K extends keyof Streams & string>(name: K, input?: Streams[K]['input'], options?: StreamOptions): StreamReader<Streams[K]['item']>;
  /** Sends an iterable's items to a server upload handler with flow control; resolves its result. */
  upload<K extends keyof Uploads & string>(
    name: K,
    items: AsyncIterable<Uploads[K]['item']> | Iterable<Uploads[K]['item']>,
    options?: UploadOptions<Uploads[K]['input']>,
  ): Promise<Uploads[K]['output']>;
  /** Closes for good (idempotent): no more reconnects, pending requests reject with `CLOSED`. `code`: 1000 or 3000–4999, `reason`: at most 123 UTF-8 bytes; otherwise a `TypeError`. */
  close(code?: number, reason?: string): void;
}
