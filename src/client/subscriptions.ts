/**
 * The client's subscriptions: one server subscription per topic however many handlers share it,
 * the presence member list kept from the snapshot plus join/leave events, and the bookkeeping that
 * lets the client re-subscribe by itself after a reconnect.
 */
import type { GapReason, Member, MessageMeta, StreamPosition, SubOutput } from '../protocol/frames.js';
import type { SwitchboardError } from '../protocol/errors.js';
import { Emitter, invokeListener, type ListenerErrorHandler, type Listeners } from '../shared/emitter.js';

/** Metadata passed to message handlers. */
export interface DeliveryMeta extends MessageMeta {
  /** The topic the message was published on. */
  topic: string;
  /**
   * Present on the first message after the subscription was re-established with a position
   * (after a reconnect, or with `since`), and on the first message after any gap: `true` when
   * nothing was missed, `false` when messages were lost (a `gap` event says which).
   */
  recovered?: boolean;
}

/** Options of `client.subscribe`. */
export interface SubscribeOptions {
  /** Start after this position (e.g. one the app persisted from `meta`): every later message is replayed, or a `gap` is reported. */
  since?: StreamPosition;
  /** Replay the last `history` messages first (chat history on page load); at most the topic's history size. */
  history?: number;
}

/** A loss the subscription could not repair: the app should refetch its state. */
export interface GapEvent {
  topic: string;
  /**
   * `epoch`: the topic's history was lost (server or engine restart); `window`: the missed messages
   * are no longer kept; `no-history`: the topic keeps none; `skipped`: offsets jumped on a live
   * connection (a volatile topic dropped messages for this slow subscriber).
   */
  reason: GapReason | 'skipped';
  /** The last position this subscription had, if any. */
  from: StreamPosition | undefined;
  /** Where the messages continue from (the next one is `to.offset + 1`). */
  to: StreamPosition | undefined;
}

/** Receives the messages of a subscription. */
export type MessageHandler<T = unknown> = (data: T, meta: DeliveryMeta) => void;

/** Events of one subscription; `MemberInfo` is what the server's `presence.info` returns. */
export interface SubscriptionEvents<MemberInfo = unknown> {
  /** A member appeared (presence topics only). */
  join: Member<MemberInfo>;
  /** A member left (presence topics only). */
  leave: Member<MemberInfo>;
  /** The server refused a re-subscription after a reconnect; the subscription has ended. */
  error: SwitchboardError;
  /** Messages were lost and could not be replayed (topics with history; docs/guarantees.md). */
  gap: GapEvent;
}

/** What `client.subscribe` returns; typed clients fill in the members' `info` type and the topic. */
export interface Subscription<MemberInfo = unknown, Topic extends string = string> {
  readonly topic: Topic;
  /** Resolves once the server confirmed the subscription; rejects with `FORBIDDEN` where no rule allows it. */
  readonly ready: Promise<void>;
  /** Stops this handler; the server subscription ends with the topic's last handler. */
  unsubscribe(): void;
  /** Listens to presence and error events of this subscription; returns the remover. */
  on<K extends keyof SubscriptionEvents>(event: K, cb: (arg: SubscriptionEvents<MemberInfo>[K]) => void): () => void;
  /** The members present now, as last reported by the server (empty without presence). */
  members(): Member<MemberInfo>[];
  /** The position of the last message received (or the server's position at subscribe), on topics with history. */
  position(): StreamPosition | undefined;
}

/**
 * One topic's shared state: its handlers and event listeners (every handle of the topic adds to
 * them), where it stands in the topic's stream, and whether the server confirmed it. A throwing
 * handler or listener goes to `onError` (the client's `error` event) and never stops delivery.
 */
export interface TopicState {
  readonly topic: string;
  readonly handlers: Set<MessageHandler<never>>;
  /** The `join`, `leave`, `error` and `gap` listeners of every handle of the topic. */
  readonly events: Emitter<Listeners<SubscriptionEvents>>;
  members?: Map<string, Member>;
  /** Confirmed by the server on the current connection. */
  active: boolean;
  /** Where this subscription stands in the topic's stream; sent as `since` when re-subscribing. */
  position?: StreamPosition;
  /** A re-subscription scheduled after a transient refusal. */
  retryTimer?: ReturnType<typeof setTimeout>;
  /** Consecutive transient refusals, for the retry backoff. */
  retries: number;
  /** `history` of the first `sub` (cleared once the server confirmed it). */
  historyOnce?: number;
  /** The grant of a server-side subscription, sent with every re-subscription (docs/protocol.md §2.9). */
  grant?: string;
  /** Resolves once the server confirmed the subscription; rejects when it failed first. */
  waitReady(): Promise<void>;
  /** The server's `ok` for a `sub` (on `askedSince`: one that carried a position). */
  confirmed(out: SubOutput | undefined, askedSince: boolean): void;
  /** Some handle's `ready` was read: its reader hears a refusal of the first subscription. */
  seen?: boolean;
  /** The subscription ended (or never started): waiters of `ready` reject with `err`; true if there were any. */
  failed(err: SwitchboardError): boolean;
  /** A `msg` frame: handed to every handler, unless it repeats what this subscription has seen. */
  deliver(data: unknown, meta: DeliveryMeta): void;
  /** A presence `join` frame. */
  join(member: Member): void;
  /** A presence `leave` frame. */
  leave(member: Member): void;
}

/** Creates the state of one topic; nothing is sent. */
export function createTopicState(topic: string, onError: ListenerErrorHandler): TopicState {
  const events = new Emitter<Listeners<SubscriptionEvents>>(onError);
  /** What the next delivered message reports as `meta.recovered`. */
  let recovered: boolean | undefined;
  /** Waiters for the first confirmation. */
  const waiters: { resolve(): void; reject(e: SwitchboardError): void }[] = [];
  const settle = (err?: SwitchboardError): boolean => {
    const waited = waiters.length > 0;
    for (const w of waiters.splice(0)) {
      if (err) w.reject(err);
      else w.resolve();
    }
    return waited;
  };
  const gap = (reason: GapEvent['reason'], from: StreamPosition | undefined, to: StreamPosition | undefined): void => {
    recovered = false;
    events.emit('gap', { topic, reason, from, to });
  };
  const t: TopicState = {
    topic,
    handlers: new Set(),
    events,
    active: false,
    retries: 0,
    waitReady: () => (t.active ? Promise.resolve() : new Promise((resolve, reject) => waiters.push({ resolve, reject }))),
    confirmed(out, askedSince) {
      t.active = true;
      t.retries = 0;
      // A re-subscription's snapshot replaces the member list; differences are reported as join/leave.
      if (out?.members) {
        const next = new Map(out.members.map((m) => [m.id, m]));
        const prev = t.members;
        t.members = next;
        if (prev) {
          for (const [id, m] of prev) if (!next.has(id)) events.emit('leave', m);
          for (const [id, m] of next) if (!prev.has(id)) events.emit('join', m);
        }
      }
      const from = t.position;
      // Never back within an epoch: an answer overlapping what this subscription received already
      // (a repeated `sub` after its first answer arrived late) is followed by a replay it drops.
      const behind = from && out?.position && from.epoch === out.position.epoch && from.offset > out.position.offset;
      if (out?.position && !behind) t.position = out.position;
      // No `recovered` in the answer to a `since`: the connection was subscribed already (a repeated
      // `sub` after a timeout), so nothing was replayed and nothing was lost.
      if (askedSince && out?.recovered !== undefined) {
        recovered = out.recovered === true;
        if (!recovered) gap(out.reason ?? 'no-history', from, out.position);
      }
      settle();
    },
    failed(err) {
      t.active = false;
      return settle(err);
    },
    deliver(data, meta) {
      // Not confirmed on this connection: left over from an earlier server subscription of the
      // topic (unsubscribed, then subscribed again). The new one's answer and replay cover it.
      if (!t.active) return;
      const { epoch, offset } = meta;
      if (epoch !== undefined && offset !== undefined) {
        const p = t.position;
        if (p && p.epoch === epoch) {
          // Seen already: a replay overlapping what arrived live. Dropping it keeps exactly-once.
          if (offset <= p.offset) return;
          if (offset > p.offset + 1) gap('skipped', p, { epoch, offset: offset - 1 });
        } else if (p) {
          gap('epoch', p, { epoch, offset: offset - 1 });
        }
        t.position = { epoch, offset };
      }
      if (recovered !== undefined) {
        meta.recovered = recovered;
        recovered = undefined;
      }
      // The live set, not a snapshot: a handler unsubscribed by an earlier one gets no more messages.
      for (const h of t.handlers) invokeListener(h as MessageHandler, [data, meta], 'message', onError);
    },
    join(member) {
      if (!t.members || t.members.has(member.id)) return;
      t.members.set(member.id, member);
      events.emit('join', member);
    },
    leave(member) {
      if (t.members?.delete(member.id)) events.emit('leave', member);
    },
  };
  return t;
}
