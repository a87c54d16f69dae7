/**
 * The client's subscriptions: one server subscription per topic however many handlers share it,
 * the presence member list kept from the snapshot plus join/leave events, and the bookkeeping that
 * lets the client re-subscribe by itself after a reconnect.
 */
import type { Member, MessageMeta } from '../protocol/frames.js';
import type { SwitchboardError } from '../protocol/errors.js';

/** Metadata passed to message handlers. */
export interface DeliveryMeta extends MessageMeta {
  /** The topic the message was published on. */
  topic: string;
}

/** Receives the messages of a subscription. */
export type MessageHandler<T = unknown> = (data: T, meta: DeliveryMeta) => void;

/** Events of one subscription. */
export interface SubscriptionEvents {
  /** A member appeared (presence topics only). */
  join: Member;
  /** A member left (presence topics only). */
  leave: Member;
  /** The server refused a re-subscription after a reconnect; the subscription has ended. */
  error: SwitchboardError;
}

/** What `client.subscribe` returns. */
export interface Subscription {
  readonly topic: string;
  /** Resolves once the server confirmed the subscription; rejects with `FORBIDDEN` where no rule allows it. */
  readonly ready: Promise<void>;
  /** Stops this handler; the server subscription ends with the topic's last handler. */
  unsubscribe(): void;
  /** Listens to presence and error events of this subscription; returns the remover. */
  on<K extends keyof SubscriptionEvents>(event: K, cb: (arg: SubscriptionEvents[K]) => void): () => void;
  /** The members present now, as last reported by the server (empty without presence). */
  members(): Member[];
}

type Listener = { [K in keyof SubscriptionEvents]: { event: K; cb: (arg: SubscriptionEvents[K]) => void } }[keyof SubscriptionEvents];

/** One topic's shared state. */
export class TopicState {
  readonly topic: string;
  readonly handlers = new Set<MessageHandler<never>>();
  readonly listeners = new Set<Listener>();
  members: Map<string, Member> | undefined;
  /** Confirmed by the server on the current connection. */
  active = false;
  /** Waiters for the first confirmation. */
  #waiters: { resolve(): void; reject(e: SwitchboardError): void }[] = [];

  constructor(topic: string) {
    this.topic = topic;
  }

  waitReady(): Promise<void> {
    if (this.active) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  confirmed(members: Member[] | undefined, onError: (err: unknown) => void): void {
    this.active = true;
    this.#applySnapshot(members, onError);
    for (const w of this.#waiters.splice(0)) w.resolve();
  }

  failed(err: SwitchboardError): void {
    this.active = false;
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }

  deliver(data: unknown, meta: DeliveryMeta, onError: (err: unknown) => void): void {
    for (const h of this.handlers) {
      try {
        (h as MessageHandler)(data, meta);
      } catch (err) {
        onError(err);
      }
    }
  }

  join(member: Member, onError: (err: unknown) => void): void {
    if (!this.members || this.members.has(member.id)) return;
    this.members.set(member.id, member);
    this.#emit({ event: 'join', arg: member }, onError);
  }

  leave(member: Member, onError: (err: unknown) => void): void {
    if (!this.members?.delete(member.id)) return;
    this.#emit({ event: 'leave', arg: member }, onError);
  }

  emitError(err: SwitchboardError, onError: (err: unknown) => void): void {
    this.#emit({ event: 'error', arg: err }, onError);
  }

  /** A re-subscription's snapshot replaces the list; differences are reported as join/leave. */
  #applySnapshot(members: Member[] | undefined, onError: (err: unknown) => void): void {
    if (!members) return;
    const next = new Map(members.map((m) => [m.id, m]));
    const prev = this.members;
    this.members = next;
    if (!prev) return;
    for (const [id, m] of prev) if (!next.has(id)) this.#emit({ event: 'leave', arg: m }, onError);
    for (const [id, m] of next) if (!prev.has(id)) this.#emit({ event: 'join', arg: m }, onError);
  }

  #emit(e: { event: keyof SubscriptionEvents; arg: Member | SwitchboardError }, onError: (err: unknown) => void): void {
    for (const l of [...this.listeners]) {
      if (l.event !== e.event) continue;
      try {
        (l.cb as (arg: unknown) => void)(e.arg);
      } catch (err) {
        onError(err);
      }
    }
  }
}
