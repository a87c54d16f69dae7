/**
 * The store behind `useSubscription` and `usePresence`: one `client.subscribe` per topic and client,
 * shared by every hook on the topic (docs/react.md, "Sharing"), keeping the newest messages in a
 * bounded ring buffer, the members of a presence topic, and the last gap.
 */
import { RingBuffer } from '../client/buffers.js';
import type { Client } from '../client/types.js';
import type { DeliveryMeta, GapEvent, Subscription } from '../client/subscriptions.js';
import type { SwitchboardError } from '../protocol/errors.js';
import type { Member } from '../protocol/frames.js';
import { invokeListener } from '../shared/emitter.js';
import { ExternalStore } from './external-store.js';
import type { Resource } from './shared-resources.js';

/** A topic's state as the hooks see it. A new object whenever something in it changed. */
export interface TopicSnapshot<T = unknown, Info = unknown> {
  /** The newest messages, oldest first, at most the largest `buffer` any hook on the topic asked for. */
  readonly messages: readonly T[];
  /** The newest message (`undefined` before the first). */
  readonly last: T | undefined;
  /** The newest message's metadata: topic, position, `recovered`. */
  readonly lastMeta: DeliveryMeta | undefined;
  /** Messages received since the subscription started (the buffer keeps the newest only). */
  readonly received: number;
  /** The server confirmed the subscription (its history, when asked for, follows at once). */
  readonly ready: boolean;
  /** Why the subscription ended: refused (`FORBIDDEN`), revoked (`REVOKED`), the client closed. */
  readonly error: SwitchboardError | undefined;
  /** The last loss the subscription could not repair (docs/client.md, "Missed messages"); refetch. */
  readonly gap: GapEvent | undefined;
  /** How many gaps were reported. */
  readonly gaps: number;
  /** The members of a presence topic, as last reported (empty without presence). */
  readonly members: readonly Member<Info>[];
}

/** Before there is a subscription (server rendering, `enabled: false`, no client yet). */
export const IDLE_TOPIC: TopicSnapshot<never, never> = Object.freeze({
  messages: Object.freeze([]) as readonly never[],
  last: undefined,
  lastMeta: undefined,
  received: 0,
  ready: false,
  error: undefined,
  gap: undefined,
  gaps: 0,
  members: Object.freeze([]) as readonly never[],
});

/** Per-hook callbacks the store calls (each hook's latest ones). */
export interface TopicListeners {
  onMessage?(data: unknown, meta: DeliveryMeta): void;
  onGap?(gap: GapEvent): void;
}

/** One topic's store. */
export class TopicStore extends ExternalStore {
  #snapshot: TopicSnapshot;
  #ring: RingBuffer<unknown> | undefined;
  /** The ring changed since `messages` was last copied out of it. */
  #stale = false;
  readonly #callbacks = new Set<TopicListeners>();
  readonly #sub: Subscription;

  constructor(client: Client, topic: string, history: number | undefined, capacity: number) {
    super();
    this.#snapshot = IDLE_TOPIC;
    this.grow(capacity);
    this.#sub = client.subscribe(topic, (data: unknown, meta: DeliveryMeta) => this.#message(data, meta), history === undefined ? undefined : { history });
    this.#sub.ready.then(
      () => this.#set({ ready: true, members: this.#sub.members() }),
      (err: SwitchboardError) => this.#set({ error: err }),
    );
    this.#sub.on('error', (err) => this.#set({ error: err }));
    this.#sub.on('join', () => this.#set({ members: this.#sub.members() }));
    this.#sub.on('leave', () => this.#set({ members: this.#sub.members() }));
    this.#sub.on('gap', (gap) => {
      this.#set({ gap, gaps: this.#snapshot.gaps + 1 });
      for (const c of this.#callbacks) if (c.onGap) invokeListener(c.onGap, [gap], 'gap');
    });
  }

  readonly getSnapshot = (): TopicSnapshot => {
    if (this.#stale) {
      this.#stale = false;
      this.#snapshot = { ...this.#snapshot, messages: this.#ring ? this.#ring.toArray() : IDLE_TOPIC.messages };
    }
    return this.#snapshot;
  };

  /** Keeps at least the newest `capacity` messages from now on (never fewer than before). */
  grow(capacity: number): void {
    if (capacity <= (this.#ring?.capacity ?? 0)) return;
    const ring = new RingBuffer<unknown>(capacity);
    for (const m of this.#ring ?? []) ring.push(m);
    this.#ring = ring;
  }

  /** Adds a hook's callbacks; returns their remover. */
  listen(callbacks: TopicListeners): () => void {
    this.#callbacks.add(callbacks);
    return () => void this.#callbacks.delete(callbacks);
  }

  #message(data: unknown, meta: DeliveryMeta): void {
    if (this.#ring) {
      this.#ring.push(data);
      this.#stale = true;
    }
    // Copying the buffer waits for a render that reads it: a burst of messages costs one copy.
    this.#snapshot = { ...this.#snapshot, last: data, lastMeta: meta, received: this.#snapshot.received + 1 };
    for (const c of this.#callbacks) if (c.onMessage) invokeListener(c.onMessage, [data, meta], 'message');
    this.notify();
  }

  #set(patch: Partial<TopicSnapshot>): void {
    this.#snapshot = { ...this.#snapshot, ...patch };
    this.notify();
  }

  dispose(): void {
    this.#callbacks.clear();
    this.#sub.unsubscribe();
  }
}

/** The shared resource of a topic. */
export function topicResource(client: Client, topic: string, history: number | undefined, capacity: number): Resource<TopicStore> {
  const store = new TopicStore(client, topic, history, capacity);
  return { store, dispose: () => store.dispose() };
}
