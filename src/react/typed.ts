/**
 * Hooks typed by a server's API: `createSwitchboardHooks<typeof server>()` returns the same hooks
 * as the untyped exports, with command inputs and outputs, stream items, topic payloads and
 * members' `info` read from the server's type (docs/client.md, "Typed calls", "Typed topics").
 * Types only: at run time they are the untyped hooks.
 */
import type { Client } from '../client/types.js';
import type { CommandMap, CommandsOf, MemberInfoOf, StreamMap, StreamsOf, TopicArg, TopicData, TopicMap, TopicsOf, UploadMap, UploadsOf } from '../protocol/api.js';
import { useClient } from './context.js';
import { useConnectionState, type ConnectionSnapshot } from './connection-state.js';
import { useCall, type CallState } from './use-call.js';
import { useServerEvent } from './use-server-event.js';
import { useStream, type StreamState, type UseStreamOptions } from './use-stream.js';
import { usePresence, useSubscription, type PresenceState, type SubscriptionState, type UseSubscriptionOptions } from './use-subscription.js';

/** Topic hooks for a server's topic rules: a literal topic no rule matches does not compile. */
export interface TypedTopicHooks<Topics extends TopicMap, MemberInfo> {
  /** {@link useSubscription}, the payload typed by the rule that governs the topic. */
  useSubscription<const Topic extends string>(
    topic: TopicArg<Topics, Topic>,
    options?: UseSubscriptionOptions<TopicData<Topics, Topic>>,
  ): SubscriptionState<TopicData<Topics, Topic>, MemberInfo>;
  /** {@link usePresence}, members' `info` typed by the server's `presence.info`. */
  usePresence<const Topic extends string>(topic: TopicArg<Topics, Topic>, options?: { enabled?: boolean }): PresenceState<MemberInfo>;
}

/** Topic hooks without topic rules in the server's type: any topic, payloads `unknown` unless stated. */
export interface LooseTopicHooks<MemberInfo> {
  /** {@link useSubscription}; `T` is the payload type the caller vouches for. */
  useSubscription<T = unknown>(topic: string, options?: UseSubscriptionOptions<T>): SubscriptionState<T, MemberInfo>;
  /** {@link usePresence}. */
  usePresence(topic: string, options?: { enabled?: boolean }): PresenceState<MemberInfo>;
}

/** Typed topic hooks for a server that chained its rules, loose ones otherwise (as the client's `TopicMethods`). */
export type TopicHooks<Topics extends TopicMap, MemberInfo> = number extends Topics['length']
  ? LooseTopicHooks<MemberInfo>
  : Topics extends readonly []
    ? LooseTopicHooks<MemberInfo>
    : TypedTopicHooks<Topics, MemberInfo>;

/** The hooks {@link createSwitchboardHooks} returns. */
export type SwitchboardHooks<
  Commands extends CommandMap = CommandMap,
  Streams extends StreamMap = StreamMap,
  Uploads extends UploadMap = UploadMap,
  Topics extends TopicMap = TopicMap,
  MemberInfo = unknown,
> = TopicHooks<Topics, MemberInfo> & {
  /** {@link useClient}, typed like `connect<typeof server>()`. */
  useClient(): Client<Commands, Streams, Uploads, Topics, MemberInfo> | undefined;
  /** {@link useConnectionState}. */
  useConnectionState(): ConnectionSnapshot;
  /** {@link useCall}: `call(input)` takes the command's input and resolves its output. */
  useCall<K extends keyof Commands & string>(name: K): CallState<Commands[K]['input'], Commands[K]['output']>;
  /** {@link useStream}: items typed by the stream handler's items. */
  useStream<K extends keyof Streams & string>(name: K, input?: Streams[K]['input'], options?: UseStreamOptions): StreamState<Streams[K]['item']>;
  /** {@link useServerEvent}: server events are not typed by the server (`server.send` takes any name); `T` is what the caller vouches for. */
  useServerEvent<T = unknown>(name: string, handler: (data: T, name: string) => void): void;
};

/**
 * The hooks, typed by a server's API (`typeof server`) or a hand-written command map. Make them
 * once, in a module of your app, and import them from there. Only types cross: nothing of the
 * server reaches the bundle.
 *
 * @example
 * import type { Api } from '../server';           // export type Api = typeof server
 * export const { useCall, useSubscription, useStream } = createSwitchboardHooks<Api>();
 * const { messages } = useSubscription('room:lobby'); // typed by the server's 'room:*' rule
 */
export function createSwitchboardHooks<Api = unknown>(): SwitchboardHooks<CommandsOf<Api>, StreamsOf<Api>, UploadsOf<Api>, TopicsOf<Api>, MemberInfoOf<Api>> {
  const hooks = { useClient, useConnectionState, useCall, useStream, useServerEvent, useSubscription, usePresence };
  return hooks as unknown as SwitchboardHooks<CommandsOf<Api>, StreamsOf<Api>, UploadsOf<Api>, TopicsOf<Api>, MemberInfoOf<Api>>;
}
