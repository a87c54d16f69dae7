/**
 * `useSubscription` and `usePresence`: a topic's messages, members and gaps, from the topic store
 * the hooks on a topic share (topic-store.ts). The subscription starts in an effect, so server
 * rendering never subscribes, and ends a macrotask after the last hook on the topic unmounts.
 */
import { useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react';
import type { DeliveryMeta, GapEvent } from '../client/subscriptions.js';
import type { SwitchboardError } from '../protocol/errors.js';
import type { Member } from '../protocol/frames.js';
import { MAX_HISTORY } from '../protocol/frames.js';
import { bool, check, nonNegativeInt } from '../shared/options.js';
import { useProviderClient } from './context.js';
import { acquire } from './shared-resources.js';
import { IDLE_TOPIC, topicResource, type TopicSnapshot, type TopicStore } from './topic-store.js';

/** Options of {@link useSubscription}. */
export interface UseSubscriptionOptions<T = unknown> {
  /**
   * Replay the last `history` messages first (a chat's recent messages on entry), on a topic with
   * history. Applies when the topic is first subscribed on this client: a hook that joins a topic
   * another hook holds shares its buffer instead. @default none
   */
  history?: number;
  /** How many of the newest messages `messages` keeps (a bounded buffer); `0` keeps only `last`. @default 100 */
  buffer?: number;
  /** `false` holds no subscription (and returns the idle state): for a topic not known yet. @default true */
  enabled?: boolean;
  /** Called with each message as it arrives (a toast, a sound), besides the buffer. The latest function is used. */
  onMessage?: (data: T, meta: DeliveryMeta) => void;
  /** Called on each gap: messages were lost and could not be replayed; refetch what they built. The latest function is used. */
  onGap?: (gap: GapEvent) => void;
}

/**
 * What {@link useSubscription} returns: the topic's shared state (one owner, topic-store.ts), so a
 * field added there reaches every hook. `error` is why the subscription ended (`FORBIDDEN`,
 * `REVOKED`, `CLOSED`, …); it does not restart by itself.
 */
export type SubscriptionState<T = unknown, Info = unknown> = TopicSnapshot<T, Info>;

/** What {@link usePresence} returns. */
export interface PresenceState<Info = unknown> {
  /** Who is on the topic now, kept current by join and leave events. */
  readonly members: readonly Member<Info>[];
  /** The server confirmed the subscription (the member list is the server's). */
  readonly ready: boolean;
  /** Why the subscription ended. */
  readonly error: SwitchboardError | undefined;
}

/** Default of `buffer`. */
export const DEFAULT_BUFFER = 100;

const idle = () => IDLE_TOPIC;
const noSubscribe = () => () => {};

/** Holds the topic store of `topic` while mounted and enabled; reads its snapshot. */
function useTopicStore(hook: string, topic: string, history: number | undefined, capacity: number, enabled: boolean): { store: TopicStore | undefined; snapshot: TopicSnapshot } {
  const { client } = useProviderClient(hook);
  if (enabled) check(`${hook} topic`, topic, typeof topic === 'string' && topic.length > 0, 'a non-empty string (pass enabled: false while it is not known)');
  const key = `topic\u0000${topic}`;
  const [held, setHeld] = useState<{ key: string; client: object; store: TopicStore } | undefined>(undefined);
  useEffect(() => {
    if (!client || !enabled) return;
    const h = acquire(client, key, () => topicResource(client, topic, history, capacity));
    h.store.grow(capacity);
    setHeld({ key, client, store: h.store });
    return () => h.release();
    // history applies to the topic's first subscription; capacity only grows (grow() above and below).
  }, [client, key, enabled]);
  // After a change of topic or client, the previous store is in state until the effect ran: not shown.
  const current = enabled && held && held.key === key && held.client === client ? held.store : undefined;
  useEffect(() => void current?.grow(capacity), [current, capacity]);
  const snapshot = useSyncExternalStore(current?.subscribe ?? noSubscribe, current?.getSnapshot ?? idle, idle);
  return { store: current, snapshot };
}

/**
 * Subscribes to a topic while the component is mounted: the newest messages in a bounded buffer,
 * the last one, readiness, the error that ended it, and gaps. Hooks on one topic share one
 * subscription. Survives reconnects as `client.subscribe` does.
 *
 * @example
 * const { messages, ready, error } = useSubscription<ChatMessage>('room:lobby', { history: 50, buffer: 200 });
 */
export function useSubscription<T = unknown, Info = unknown>(topic: string, options: UseSubscriptionOptions<T> = {}): SubscriptionState<T, Info> {
  const { history, buffer = DEFAULT_BUFFER, enabled = true, onMessage, onGap } = options;
  nonNegativeInt('useSubscription buffer', buffer);
  bool('useSubscription enabled', enabled);
  if (history !== undefined) check('useSubscription history', history, Number.isSafeInteger(history) && history >= 1 && history <= MAX_HISTORY, `an integer from 1 to ${MAX_HISTORY}`);
  const { store, snapshot } = useTopicStore('useSubscription', topic, history, buffer, enabled);

  const callbacks = useRef({ onMessage, onGap });
  callbacks.current = { onMessage, onGap };
  const wantsCallbacks = onMessage !== undefined || onGap !== undefined;
  useEffect(() => {
    if (!store || !wantsCallbacks) return;
    return store.listen({
      onMessage: (data, meta) => callbacks.current.onMessage?.(data as T, meta),
      onGap: (gap) => callbacks.current.onGap?.(gap),
    });
  }, [store, wantsCallbacks]);

  // The store keeps the largest buffer any hook asked for; this hook shows its own.
  const all = snapshot.messages as readonly T[];
  const messages = useMemo(() => (all.length > buffer ? all.slice(all.length - buffer) : all), [all, buffer]);
  return useMemo(
    () => ({
      messages,
      last: snapshot.last as T | undefined,
      lastMeta: snapshot.lastMeta,
      received: snapshot.received,
      ready: snapshot.ready,
      error: snapshot.error,
      gap: snapshot.gap,
      gaps: snapshot.gaps,
      members: snapshot.members as readonly Member<Info>[],
    }),
    [messages, snapshot],
  );
}

/**
 * The members of a presence topic (a rule with `presence: true`) while the component is mounted,
 * join and leave live. Shares the topic's subscription with `useSubscription` hooks on it.
 *
 * @example
 * const { members } = usePresence('room:lobby');
 * return <ul>{members.map((m) => <li key={m.id}>{m.id}</li>)}</ul>;
 */
export function usePresence<Info = unknown>(topic: string, options: { enabled?: boolean } = {}): PresenceState<Info> {
  const { enabled = true } = options;
  bool('usePresence enabled', enabled);
  const { snapshot } = useTopicStore('usePresence', topic, undefined, 0, enabled);
  const { members, ready, error } = snapshot;
  return useMemo(() => ({ members: members as readonly Member<Info>[], ready, error }), [members, ready, error]);
}
