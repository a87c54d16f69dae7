/**
 * The client's topic table: one server subscription per topic however many handles share it, the
 * handles `client.subscribe` returns, and re-subscription after every open — with recovery from the
 * last position (docs/protocol.md §2.7), retries of transient refusals, and one queue for what the
 * server's rate limit refused (docs/client.md, "Subscriptions").
 */
import * as ErrorCode from '../protocol/error-code-values.js';
import { SwitchboardError } from '../protocol/errors.js';
import type { Member, MsgFrame, OkFrame, SubOutput, SubscribedFrame, UnsubscribedFrame } from '../protocol/frames.js';
import { MAX_HISTORY, isPosition } from '../protocol/frames.js';
import type { ListenerErrorHandler, Listeners } from '../shared/emitter.js';
import { backoffDelay } from './backoff.js';
import type { RequestBody, RequestTable } from './requests.js';
import { createTopicState, type TopicState, type DeliveryMeta, type MessageHandler, type SubscribeOptions, type Subscription, type SubscriptionEvents } from './subscriptions.js';
import type { Connection } from './connection.js';

/** Error codes after which a re-subscription is tried again on the same connection. */
const TRANSIENT: string[] = [ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL];

/** What the topic table uses of the connection. */
export type TopicConnection = Pick<Connection, 'state' | 'transmit' | 'openTransmit' | 'ended'>;

/** The topic table; the client routes `ok`, `msg`, `join` and `leave` frames and its connection's lifecycle to it. */
export interface TopicTable {
  /** `client.subscribe`. */
  subscribe<T>(topic: string, handler: MessageHandler<T>, options: SubscribeOptions | undefined): Subscription;
  /** An `ok` frame arrived; if it answers a `sub`, the topic is confirmed before its replay is routed. */
  answered(f: OkFrame): void;
  /** A `msg` frame. */
  message(f: MsgFrame): void;
  /** A presence `join` frame. */
  join(topic: string, member: Member): void;
  /** A presence `leave` frame. */
  leave(topic: string, member: Member): void;
  /** The server subscribed this connection (docs/protocol.md §2.9). */
  granted(f: SubscribedFrame): void;
  /** The server ended a subscription: it fails with the frame's code. */
  revoked(f: UnsubscribedFrame): void;
  /** The connection opened: every topic is subscribed again (with its position). */
  opened(): void;
  /** The connection is gone: nothing is confirmed any more; the next open re-subscribes. */
  lost(): void;
  /** The client closed for good: every subscription ends with `cause`. */
  stopped(cause: SwitchboardError): void;
}

/**
 * Creates the topic table of one client. `sub` and `unsub` requests have the deadline `timeoutMs`;
 * a throwing handler or listener, and a `sub` that timed out, go to `reportError`.
 */
export function createTopicTable(requests: RequestTable, connection: TopicConnection, timeoutMs: number, reportError: ListenerErrorHandler): TopicTable {
  const topics = new Map<string, TopicState>();
  /** `sub` requests in flight → their topic, whether they asked `since` and sent a grant; confirmed when the answer arrives (see answered). */
  const pendingSubs = new Map<number, [t: TopicState, askedSince: boolean, sentGrant: boolean]>();
  /** Re-subscriptions waiting for the server's rate limit (see rateLimited). */
  const rateQueue: TopicState[] = [];
  let rateTimer: ReturnType<typeof setTimeout> | undefined;
  let rateDelayMs = 100;
  const isOpen = () => connection.state === 'open';

  function resubscribe(t: TopicState): void {
    // With a position (a topic with history, or `since`), ask for what was missed (§2.7); the first
    // subscription may instead ask for the last N messages.
    const since = t.position;
    const body: RequestBody = since ? { t: 'sub', topic: t.topic, since } : { t: 'sub', topic: t.topic };
    if (t.historyOnce) body.history = t.historyOnce;
    if (t.grant) body.grant = t.grant;
    const id = requests.reserveId();
    pendingSubs.set(id, [t, since !== undefined, t.grant !== undefined]);
    requests
      .request(body, { timeoutMs, direct: true, id }, connection.openTransmit())
      .then(
        // Confirmed in answered(), before the replay that follows the answer in the same chunk.
        () => {},
        (err: SwitchboardError) => {
          // A late answer to a timed-out `sub` still confirms it (with its replay); the entry goes
          // with the connection otherwise.
          if (err.code !== ErrorCode.TIMEOUT) pendingSubs.delete(id);
          // Transient refusals (over the rate limit after a reconnect burst, the server's engine
          // down or failing) are retried on this connection; only a real refusal ends it.
          if (TRANSIENT.includes(err.code)) {
            if (topics.get(t.topic) !== t || !isOpen()) return; // the next open re-subscribes
            if (err.code === ErrorCode.RATE_LIMITED) return rateLimited(t, err.retryAfterMs ?? 100);
            const delayMs = backoffDelay(t.retries++, 100, 2_000);
            t.retryTimer = setTimeout(() => {
              t.retryTimer = undefined;
              if (isOpen() && topics.get(t.topic) === t && !t.active) resubscribe(t);
            }, delayMs);
            return;
          }
          // Lost connection or timeout: the next open tries again. A refusal ends the subscription.
          if (err.code === ErrorCode.DISCONNECTED || err.code === ErrorCode.TIMEOUT || err.code === ErrorCode.CLOSED) {
            if (err.code === ErrorCode.TIMEOUT) {
              reportError(err, 'sub');
              // Still open and still wanted: ask again rather than wait for a reconnect that a
              // healthy connection may never have.
              if (isOpen() && topics.get(t.topic) === t) resubscribe(t);
            }
            return;
          }
          if (topics.get(t.topic) === t) topics.delete(t.topic);
          const waited = t.failed(err);
          if (t.events.listenerCount('error') > 0) t.events.emit('error', err);
          // No listener, and no `ready` that was read is rejected by it (a fire-and-forget
          // subscribe, or a re-subscription refused long after `ready` resolved): a silent refusal
          // would hide the bug, so the client's `error` event reports it (docs/client.md).
          else if (!(waited && t.seen)) reportError(err, 'sub');
        },
      );
  }

  /**
   * Re-subscriptions the server rate-limited wait in one queue and go out one at a time, each
   * after the server's `retryAfterMs`: retrying them all at once would be refused again and
   * could get the connection closed for flooding (1008).
   */
  function rateLimited(t: TopicState, retryAfterMs: number): void {
    rateDelayMs = Math.max(10, retryAfterMs);
    if (!rateQueue.includes(t)) rateQueue.push(t);
    rateTimer ??= setTimeout(drainRateQueue, rateDelayMs);
  }

  function drainRateQueue(): void {
    rateTimer = undefined;
    const t = rateQueue.shift();
    if (t && isOpen() && topics.get(t.topic) === t && !t.active) resubscribe(t);
    if (rateQueue.length > 0) rateTimer = setTimeout(drainRateQueue, rateDelayMs);
  }

  function clearRateQueue(): void {
    rateQueue.length = 0;
    if (rateTimer) clearTimeout(rateTimer);
    rateTimer = undefined;
  }

  function subscribe<T>(topic: string, handler: MessageHandler<T>, o: SubscribeOptions | undefined): Subscription {
    if (typeof topic !== 'string' || topic.length === 0) throw new TypeError('topic must be a non-empty string');
    if (typeof handler !== 'function') throw new TypeError('handler must be a function');
    if (o?.since !== undefined && !isPosition(o.since)) throw new TypeError('since must be { epoch: string of 1-64 characters, offset: non-negative integer }');
    if (o?.history !== undefined && !(Number.isSafeInteger(o.history) && o.history >= 1 && o.history <= MAX_HISTORY)) {
      throw new TypeError('history must be an integer from 1 to 2147483647');
    }
    const closed = connection.state === 'closed';
    const existing = topics.get(topic);
    if (existing && (o?.since !== undefined || o?.history !== undefined)) {
      // The topic's one server subscription is live already; a replay for one handler alone
      // would need a second one. Refused loudly rather than silently started live: the handle is
      // of a state outside the table, which never hears anything.
      const refused = new SwitchboardError(ErrorCode.BAD_REQUEST, `"${topic}" is already subscribed on this client; since/history apply to its first subscription`);
      return handle(createTopicState(topic, reportError), handler as MessageHandler<never>, Promise.reject(refused));
    }
    const t = existing ?? createTopicState(topic, reportError);
    if (!existing) {
      if (o?.since) t.position = o.since;
      if (o?.history) t.historyOnce = o.history;
    }
    if (!existing && !closed) topics.set(topic, t);
    t.handlers.add(handler as MessageHandler<never>);
    const ready = closed ? Promise.reject(connection.ended()) : t.waitReady();
    if (!existing && isOpen()) resubscribe(t);
    return handle(t, handler as MessageHandler<never>, ready);
  }

  /** One `client.subscribe` call's view of its topic: its handler and the listeners it added. */
  function handle(t: TopicState, handler: MessageHandler<never>, ready: Promise<void>): Subscription {
    // The caller may never await `ready`; a refusal must not become an unhandled rejection.
    ready.catch(() => {});
    const own: (() => void)[] = [];
    return {
      topic: t.topic,
      get ready() {
        t.seen = true;
        return ready;
      },
      unsubscribe() {
        if (!t.handlers.delete(handler)) return;
        for (const off of own.splice(0)) off();
        if (t.handlers.size > 0 || topics.get(t.topic) !== t) return;
        topics.delete(t.topic);
        clearTimeout(t.retryTimer);
        // Unsubscribed before the server confirmed: `ready` must not hang.
        if (!t.active) t.failed(new SwitchboardError(ErrorCode.ABORTED, 'Unsubscribed before the subscription was confirmed'));
        if (isOpen()) {
          requests.request({ t: 'unsub', topic: t.topic }, { timeoutMs, direct: true }, connection.transmit).catch(() => {});
        }
      },
      on(event, cb) {
        // A wrapper per registration: two handles that add the same function must not share it,
        // or one handle's unsubscribe would silence the other.
        const off = t.events.on(event, ((arg: never) => (cb as (a: never) => void)(arg)) as Listeners<SubscriptionEvents>[typeof event]);
        own.push(off);
        return off;
      },
      members: () => [...(t.members?.values() ?? [])],
      position: () => t.position,
    };
  }

  return {
    subscribe,
    answered(f) {
      const pending = pendingSubs.get(f.id);
      if (!pending) return;
      // Synchronously: the replayed `msg` frames right behind this answer are handled in the
      // same tick, before a promise callback could run, and must find the position set.
      pendingSubs.delete(f.id);
      const [t, askedSince] = pending;
      if (topics.get(t.topic) !== t) return;
      t.historyOnce = undefined;
      t.confirmed(f.output as SubOutput | undefined, askedSince);
    },
    message(f) {
      // The decoded frame is this message's own: its meta becomes the handler's, no copy.
      const meta = (f.meta ?? {}) as DeliveryMeta;
      meta.topic = f.topic;
      topics.get(f.topic)?.deliver(f.data, meta);
    },
    granted(f) {
      const t = topics.get(f.topic);
      if (!t) {
        const fresh = createTopicState(f.topic, reportError);
        topics.set(f.topic, fresh);
        if (f.grant) fresh.grant = f.grant;
        return fresh.confirmed(f.output, false);
      }
      // A topic this client holds already (its own, or the server's from before a reconnect): its
      // position stands, so nothing is skipped (docs/protocol.md §2.9).
      let inFlight: boolean | undefined;
      for (const [st, , sentGrant] of pendingSubs.values()) if (st === t) inFlight ||= sentGrant;
      // The server keeps the grant a `sub` in flight presented: the frame's grant is ignored then.
      if (f.grant && inFlight !== true) t.grant = f.grant;
      // Its `sub` in flight is answered with what followed its position; confirmed already, the
      // frame is the answer to a second `sub`: nothing was replayed, nothing more is asked.
      if (inFlight !== undefined || t.active) return;
      if (t.position) {
        // Waiting to re-subscribe (a transient refusal): ask now for what followed its position.
        clearTimeout(t.retryTimer);
        t.retryTimer = undefined;
        const queued = rateQueue.indexOf(t);
        if (queued >= 0) rateQueue.splice(queued, 1);
        return resubscribe(t);
      }
      t.confirmed(f.output, false);
    },
    revoked(f) {
      const t = topics.get(f.topic);
      if (!t) return;
      topics.delete(f.topic);
      const err = new SwitchboardError(f.code, f.message);
      t.failed(err);
      t.events.emit('error', err);
    },
    join: (topic, member) => topics.get(topic)?.join(member),
    leave: (topic, member) => topics.get(topic)?.leave(member),
    opened() {
      for (const t of topics.values()) {
        clearTimeout(t.retryTimer);
        t.retryTimer = undefined;
        resubscribe(t);
      }
    },
    lost() {
      pendingSubs.clear();
      clearRateQueue(); // the next open re-subscribes every topic
      for (const t of topics.values()) t.active = false;
    },
    stopped(cause) {
      clearRateQueue();
      for (const t of topics.values()) {
        clearTimeout(t.retryTimer);
        t.failed(cause);
      }
    },
  };
}
