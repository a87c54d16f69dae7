/**
 * The NATS engine: several Switchboard servers share topics, history, presence and
 * idempotent-call records through NATS with JetStream (docs/scaling.md, "NATS").
 *
 * - Fan-out: core NATS, one subject per topic (`<prefix>.c.<topic>`), one publish per event.
 * - History: one JetStream stream per topic; its sequence is the offset, its name carries the
 *   epoch (history.ts). A message is stored first, then fanned out with its position; receiving
 *   nodes put positioned events in offset order and read what is missing from the stream
 *   (ordering.ts), so every node delivers the same offsets in the same order.
 * - Presence, the node registry and grants: a JetStream KV bucket (presence.ts, records.ts);
 *   idempotent-call records: a second bucket whose TTL bounds them.
 * - NATS down: local connections stay; what needs NATS fails at once with `UNAVAILABLE` (nothing
 *   is buffered); `health()` reports it; when the link is back the engine re-reads the streams'
 *   tops and asks the node to re-read the history its subscribers may have missed, then restores
 *   presence. A JetStream request past `commandTimeoutMs` rejects with `OUTCOME_UNKNOWN` (a
 *   publish) or `UNAVAILABLE`.
 */
import { randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { ErrorCode } from '../../protocol/error-codes.js';
import { SwitchboardError } from '../../protocol/errors.js';
import type { StreamPosition } from '../../protocol/frames.js';
import { consoleLogger, type Logger } from '../../shared/logger.js';
import type { CallClaim, ControlMessage, Engine, EngineEvent, EngineHealth, EngineNode, HistoryOptions, StoredMessage } from '../engine.js';
import { decodeEvent, decodeValue, encodeEvent, encodeValue } from '../redis/wire.js';
import { fanoutFrame, splitFanout, view } from './wire.js';
import { HistoryStreams } from './history.js';
import { natsNames } from './names.js';
import { resolveNatsOptions, type NatsEngineOptions } from './options.js';
import { TopicOrder } from './ordering.js';
import { RecentMessages } from './recent.js';
import { NatsPresence } from './presence.js';
import { CallRecords, Grants } from './records.js';

/** The engine for a Switchboard server that shares its topics with other nodes through NATS JetStream. */
export interface NatsEngine extends Engine {
  /** This node's id in the registry. */
  readonly nodeId: string;
  /** Publishes a server-control command on the subject every node listens on (docs/scaling.md). */
  control(message: ControlMessage): Promise<void>;
  /** Hands `payload` to node `nodeId` (a request on its own subject); resolves whether a live node took it (docs/scaling.md). */
  relay(nodeId: string, payload: Uint8Array): Promise<boolean>;
  health(): EngineHealth;
}

/** What attach() sets up; absent before it. */
interface Link {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  history: HistoryStreams;
  presence: NatsPresence;
  calls: CallRecords;
  grants: Grants;
  control: Subscription;
  /** This node's own subject (`Engine.relay`). */
  inbox: Subscription;
}

/** A topic this node has subscribers of. */
interface Carried {
  sub: Subscription;
  order: TopicOrder;
  recent: RecentMessages;
  /** The size and TTL of the topic's history, from the last positioned message's header. */
  limits?: HistoryOptions;
}

/** Creates a NATS engine: `createServer({ engine: natsEngine({ url }) })`. */
export function natsEngine(options?: NatsEngineOptions): NatsEngine {
  const o = resolveNatsOptions(options);
  const names = natsNames(o.prefix);
  const nodeId = randomUUID();
  let logger: Logger = o.logger ?? consoleLogger;
  const onError = (err: unknown, what: string) => logger.error({ err, what }, `nats engine: ${what} failed`);
  let node: EngineNode | undefined;
  let link: Link | undefined;
  let closed = false;
  /** Whether the connection is up (from its status events). */
  let connected = false;
  /** A JetStream request passed its deadline and none has answered since. */
  let stalled = false;
  let recovering: Promise<void> | undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let sweeper: ReturnType<typeof setInterval> | undefined;
  /** Topic → its fan-out subscription and ordering, while this node has subscribers. */
  const topics = new Map<string, Carried>();

  function unavailable(what: string, reason: string): SwitchboardError {
    return new SwitchboardError(ErrorCode.UNAVAILABLE, `The message engine is unavailable (${what})`, { reason });
  }

  /**
   * Runs a NATS operation. Nothing is sent while the link is down (`UNAVAILABLE`: certainly not
   * done); a request past its deadline becomes `late` (a publish may still be stored).
   */
  async function run<T>(what: string, op: () => Promise<T>, late: 'UNAVAILABLE' | 'OUTCOME_UNKNOWN' = ErrorCode.UNAVAILABLE): Promise<T> {
    if (!link || !connected) throw unavailable(what, closed ? 'the engine is closed' : 'not connected to NATS');
    try {
      const out = await op();
      stalled = false;
      return out;
    } catch (err) {
      if (err instanceof SwitchboardError) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      if (err instanceof Error && err.name === 'TimeoutError') {
        stalled = true;
        if (late === ErrorCode.OUTCOME_UNKNOWN) {
          throw new SwitchboardError(ErrorCode.OUTCOME_UNKNOWN, `The message engine did not confirm in time (${what}); it may still be delivered`, { reason });
        }
      }
      throw unavailable(what, reason);
    }
  }

  function need(): Link {
    if (!link) throw unavailable('attach', closed ? 'the engine is closed' : 'the engine is not attached to a server');
    return link;
  }

  async function publish(topic: string, event: EngineEvent, h?: HistoryOptions): Promise<StreamPosition | undefined> {
    const payload = encodeEvent(event);
    if (h && event.kind === 'msg') {
      const l = need();
      const pos = await run('publish', () => l.history.append(topic, payload, h), ErrorCode.OUTCOME_UNKNOWN);
      // Stored: fanned out now. Should this node die before this line, the receivers read the
      // message from the stream when the next one arrives (ordering.ts).
      l.nc.publish(names.fanout(topic), fanoutFrame(payload, pos, h));
      return pos;
    }
    const l = need();
    if (!connected) throw unavailable('publish', 'not connected to NATS');
    // Core NATS buffers what is published while the link is down: refused above instead.
    l.nc.publish(names.fanout(topic), fanoutFrame(payload));
    return undefined;
  }

  /** Reads every subscribed topic's top again and lets the node re-read what it missed. */
  async function recover(): Promise<void> {
    const l = link;
    if (!l || closed) return;
    try {
      await run('resync', () => l.nc.flush());
      await Promise.all([...topics].map(async ([topic, t]) => {
        const top = await run('resync', () => l.history.top(topic));
        t.recent.reset(top?.epoch, top?.offset ?? 0);
        t.order.baseline(top?.epoch, top?.offset ?? 0);
      }));
      await node?.resync();
      await l.presence.restore();
    } catch (err) {
      onError(err, 'resync after reconnect');
      retry = setTimeout(() => void (recovering ??= recover().finally(() => (recovering = undefined))), 1_000);
      retry.unref?.();
    }
  }

  async function watchStatus(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (closed) return;
      if (s.type === 'disconnect') {
        if (!connected) continue;
        connected = false;
        logger.warn({ server: s.server }, 'nats engine: lost the link to NATS; operations fail with UNAVAILABLE until it is back');
        // From here the node holds what arrives and moves no position until the resync.
        node?.suspend();
      } else if (s.type === 'reconnect') {
        connected = true;
        logger.info({ server: s.server }, 'nats engine: connected to NATS again');
        recovering ??= recover().finally(() => (recovering = undefined));
      } else if (s.type === 'slowConsumer') {
        // The client dropped messages of a subscription: the positioned ones are read back from
        // the stream by the ordering; say so, as events without history are lost.
        logger.warn({ subject: s.sub.getSubject() }, 'nats engine: this node fell behind and NATS dropped messages');
      }
    }
  }

  async function openBucket(kvm: Kvm, name: string, ttl?: number): Promise<KV> {
    try {
      return await kvm.create(name, { history: 1, ...(ttl ? { ttl } : {}) });
    } catch {
      return kvm.open(name); // it exists with other settings (another version's): use it as it is
    }
  }

  async function attach(n: EngineNode): Promise<void> {
    if (node || link) throw new Error('this nats engine is already attached to a server');
    if (closed) throw new Error('this nats engine is closed');
    if (n.logger && !o.logger) logger = n.logger;
    let nc: NatsConnection;
    try {
      nc = o.connection ?? (await connect({ servers: o.url.split(','), name: `switchboard ${nodeId}`, maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: o.commandTimeoutMs }));
    } catch (err) {
      throw unavailable('connect', `${err instanceof Error ? err.message : String(err)} (${o.url})`);
    }
    const fail = async (err: SwitchboardError) => {
      if (!o.connection) await nc.close().catch(() => {});
      throw err;
    };
    let jsm: JetStreamManager;
    try {
      jsm = await jetstreamManager(nc, { timeout: o.commandTimeoutMs });
    } catch (err) {
      return fail(
        unavailable(
          'connect',
          `JetStream is not enabled on the NATS server at ${o.url} (${err instanceof Error ? err.message : String(err)}): ` +
            'the NATS engine keeps history, presence and call records in JetStream; start nats-server with -js, or give its configuration a jetstream block',
        ),
      );
    }
    const js = jetstream(nc, { timeout: o.commandTimeoutMs });
    let state: KV;
    let callKv: KV;
    try {
      const kvm = new Kvm(js);
      state = await openBucket(kvm, names.stateBucket);
      callKv = await openBucket(kvm, names.callBucket, o.callRecordMaxAgeMs);
    } catch (err) {
      return fail(unavailable('connect', `could not open the KV buckets ${names.stateBucket} and ${names.callBucket}: ${err instanceof Error ? err.message : String(err)}`));
    }
    connected = !nc.isClosed();
    const control = nc.subscribe(names.control, {
      callback: (err, m) => {
        if (err) return onError(err, 'control');
        const c = decodeValue(view(m.data)) as ControlMessage | undefined;
        // Shape-checked before it reaches the server (a stray publisher, another version).
        const t = c && typeof c === 'object' ? (c as { target?: unknown }).target : undefined;
        const targetOk = !!t && typeof t === 'object' && (typeof (t as { clientId?: unknown }).clientId === 'string' || typeof (t as { member?: unknown }).member === 'string');
        if (!c || typeof c !== 'object' || typeof c.op !== 'string' || !targetOk) return onError(new Error('undecodable server-control message'), 'control');
        node?.control?.(c);
      },
    });
    // Node-to-node delivery (Engine.relay): a request on this node's subject, answered once the
    // payload is handed over, so the sender learns that a live node of that id took it.
    const inbox = nc.subscribe(names.relay(nodeId), {
      callback: (err, m) => {
        if (err) return onError(err, 'relay');
        node?.relayed?.(view(m.data));
        m.respond();
      },
    });
    const history = new HistoryStreams({ nc, js, jsm, names, timeoutMs: o.commandTimeoutMs });
    const presence = new NatsPresence({
      kv: state,
      names,
      nodeId,
      nodeTtlMs: o.nodeTtlMs,
      announce: (topic, event) => publish(topic, event).then(() => undefined),
      run,
      onError,
    });
    link = { nc, js, jsm, history, presence, calls: new CallRecords(callKv, names), grants: new Grants(state, names), control, inbox };
    try {
      await run('attach', () => nc.flush());
      await presence.start();
    } catch (err) {
      link = undefined;
      control.unsubscribe();
      inbox.unsubscribe();
      return fail(err instanceof SwitchboardError ? err : unavailable('attach', String(err)));
    }
    node = n;
    void watchStatus(nc).catch((err: unknown) => onError(err, 'watching the NATS connection'));
    // Idle topics' streams go after historyMetaTtlMs; any node may sweep, the check is cheap.
    sweeper = setInterval(() => {
      if (connected) void history.sweep(o.historyMetaTtlMs, (t) => topics.has(t)).catch((err: unknown) => onError(err, 'sweeping idle history streams'));
    }, Math.min(3_600_000, Math.max(60_000, Math.floor(o.historyMetaTtlMs / 4))));
    sweeper.unref?.();
  }

  return {
    nodeId,
    attach,
    publish,
    async history(topic, q) {
      const l = need();
      // What this node delivered last answers most reads (a subscriber back after a cut) at once.
      const t = connected ? topics.get(topic) : undefined;
      const local = t?.recent.answer(q, Date.now());
      if (local) return local;
      return run('history', () => l.history.read(topic, q));
    },
    async subscribe(topic) {
      const l = need();
      if (topics.has(topic)) return;
      const recent = new RecentMessages();
      const carried: Carried = { sub: undefined as unknown as Subscription, order: undefined as unknown as TopicOrder, recent };
      const order = new TopicOrder({
        deliver: (event) => {
          if (event.kind === 'msg' && event.meta.offset !== undefined) {
            recent.push({ data: event.data, meta: event.meta as StoredMessage['meta'], ...(event.skip ? { skip: event.skip } : {}) }, carried.limits, Date.now());
          }
          node?.deliver(topic, event);
        },
        read: (epoch, from, to) => run('history', () => l.history.rangeOf(epoch, from, to)),
        waitMs: o.reorderWaitMs,
        onError: (err) => onError(err, 'reading missed messages from the stream'),
      });
      if (!connected) throw unavailable('subscribe', 'not connected to NATS');
      const sub = l.nc.subscribe(names.fanout(topic), {
        callback: (err, m) => {
          if (err) return onError(err, 'deliver');
          const parts = splitFanout(m.data);
          const event = parts && decodeEvent(parts.payload, parts.epoch, parts.offset);
          if (!event) return onError(new Error('undecodable message on a topic subject'), 'deliver');
          if (parts.limits) carried.limits = parts.limits;
          order.accept(event);
        },
      });
      carried.sub = sub;
      carried.order = order;
      topics.set(topic, carried);
      try {
        // The subscription is in effect before the stream's top is read: nothing stored after
        // the read can be missed.
        await run('subscribe', () => l.nc.flush());
        const top = await run('subscribe', () => l.history.top(topic));
        recent.reset(top?.epoch, top?.offset ?? 0);
        order.baseline(top?.epoch, top?.offset ?? 0);
      } catch (err) {
        topics.delete(topic);
        sub.unsubscribe();
        order.close();
        throw err;
      }
    },
    unsubscribe(topic) {
      const t = topics.get(topic);
      if (!t) return;
      topics.delete(topic);
      t.order.close();
      if (!link?.nc.isClosed()) t.sub.unsubscribe();
    },
    async relay(to, payload) {
      const l = need();
      if (!connected) throw unavailable('relay', 'not connected to NATS');
      try {
        await l.nc.request(names.relay(to), payload, { timeout: o.commandTimeoutMs });
        return true;
      } catch (err) {
        // No responders: no live node of that id, so the payload was not taken. Anything else (no
        // answer in time, a dropped link) may be passing: UNAVAILABLE, which the SSE fallback
        // answers 503 so the client retries the same POST (its `seq` drops a repeat).
        if (noResponders(err)) return false;
        throw unavailable('relay', `node ${to} did not confirm: ${err instanceof Error ? err.message : String(err)}`);
      }
    },
    async control(message) {
      const l = need();
      if (!connected) throw unavailable('control', 'not connected to NATS');
      l.nc.publish(names.control, encodeValue(message));
      // Resolves once the server has it (a round trip after the publish on the same connection).
      await run('control', () => l.nc.flush());
    },
    grantAdd: (grant, topic, member, ttlMs) => run('grant', () => need().grants.add(grant, topic, member, ttlMs)),
    grantFind: (grant, topic) => run('grant', () => need().grants.find(grant, topic)),
    grantRemove: (grant, topic) => run('grant', () => need().grants.remove(grant, topic)),
    grantHold: (grant, topic, clientId, ttlMs) => run('grant', () => need().grants.hold(grant, topic, clientId, ttlMs)),
    grantRevoke: (topic, target) => run('grant', () => need().grants.revoke(topic, target)),
    presenceAdd: (entry) => run('presence', () => need().presence.add(entry)),
    async presenceRemove(entry) {
      const l = need();
      l.presence.leaving(entry);
      return run('presence', () => l.presence.remove(entry));
    },
    presenceList: (topic) => run('presence', () => need().presence.list(topic)),
    claimCall: (key, fingerprint, leaseMs): Promise<CallClaim> => run('call', () => need().calls.claim(key, fingerprint, leaseMs)),
    renewCall: (key, fingerprint, leaseMs) => run('call', () => need().calls.renew(key, fingerprint, leaseMs)),
    finishCall: (key, fingerprint, outcome, ttlMs) => run('call', () => need().calls.finish(key, fingerprint, outcome, ttlMs)),
    health() {
      if (!link) return { healthy: false, detail: closed ? 'nats engine closed' : 'nats engine not attached' };
      if (link.nc.isClosed()) return { healthy: false, detail: 'nats connection closed' };
      if (!connected) return { healthy: false, detail: 'nats disconnected, reconnecting' };
      if (stalled) return { healthy: false, detail: `jetstream did not answer within ${o.commandTimeoutMs} ms` };
      return { healthy: true };
    },
    async close() {
      if (closed) return;
      closed = true;
      const l = link;
      node = undefined;
      if (retry) clearTimeout(retry);
      if (sweeper) clearInterval(sweeper);
      for (const t of topics.values()) {
        t.order.close();
        if (o.connection) t.sub.unsubscribe(); // a connection of the app's, which stays open
      }
      topics.clear();
      if (!l) return;
      // Leaving the registry needs NATS; a NATS that is down must not hold close() (the entries
      // then lapse with the node TTL, as for a node that died).
      const leave = l.presence.stop().catch((err: unknown) => onError(err, 'leaving the node registry'));
      await Promise.race([leave, new Promise((r) => setTimeout(r, 2_000).unref?.())]);
      link = undefined;
      connected = false;
      if (o.connection) {
        l.control.unsubscribe();
        l.inbox.unsubscribe();
      } else {
        await l.nc.close().catch(() => {});
      }
    },
  };
}

/** Whether a NATS request failed because nothing subscribes to its subject (the client's no-responders answer). */
function noResponders(err: unknown): boolean {
  const e = err as { isNoResponders?: () => boolean; name?: string; cause?: { name?: string } } | undefined;
  return e?.isNoResponders?.() === true || e?.name === 'NoRespondersError' || e?.cause?.name === 'NoRespondersError';
}
