/**
 * Server control (docs/server.md, "Server control"; docs/protocol.md §2.9): the connection hooks,
 * and the commands that address one connection or one member wherever it is connected — targeted
 * events, kicks, server-side subscriptions. A command goes through the engine to every node, and
 * each node applies it to its own matching connections; nothing is queued for absent targets.
 */
import { randomUUID } from 'node:crypto';
import type { ControlMessage, ControlTarget, Engine, HistoryOptions } from '../engines/engine.js';
import { CloseCode } from '../protocol/close-codes.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { Emitter, type Listeners } from '../shared/emitter.js';
import type { Logger } from '../shared/logger.js';
import type { Connection } from './connection.js';
import { createControlCommands, memberGrant } from '../engines/control-commands.js';
import type { ConnectInfo, ServerEvents, ServerHook } from './control-types.js';
import type { Members } from './members.js';
import type { TopicIndex } from './topic-index.js';
import type { TopicRules } from './topic-rules.js';

/** How long a grant made for one connection is kept for its reconnects (docs/protocol.md §2.9). */
export const CLIENT_GRANT_TTL_MS = 24 * 3_600_000;

const EVENTS = new Set(['connect', 'disconnect']);

/** What the control needs from the server. */
export interface ControlDeps<Identity> {
  engine: Engine;
  logger: Logger;
  members: Pick<Members<Identity>, 'id'>;
  rules: TopicRules<Identity>;
  index: TopicIndex<Identity>;
  historyOf(topic: string): HistoryOptions | false;
  maxSubscriptionsPerConnection: number;
}

/** A connection this node welcomed, as the control knows it. */
interface Entry<Identity> {
  conn: Connection<Identity>;
  info: ConnectInfo<Identity>;
  /** topic → the grant the client has for it: the one it re-subscribed with, or the last one sent to it. */
  grants?: Map<string, string>;
  /** The end of this connection's chain of commands in progress (see {@link serial}). */
  tail?: Promise<void>;
}

/** Creates the server-control part of one server. */
export function createControl<Identity>(deps: ControlDeps<Identity>) {
  const { engine, logger, members, rules, index } = deps;
  const byClient = new Map<string, Entry<Identity>>();
  const byMember = new Map<string, Set<Entry<Identity>>>();
  /** Remote addresses of accepted connections, until they are welcomed. */
  const addresses = new WeakMap<Connection<Identity>, string | undefined>();
  // A throwing hook is the application's bug: logged, and the connection goes on (docs/server.md).
  const hooks = new Emitter<Listeners<ServerEvents<Identity>>>((err, event) => logger.error({ err, event }, 'a connection hook threw'));
  let warnedLocal = false;

  function targets(t: ControlTarget): Entry<Identity>[] {
    if ('clientId' in t) {
      const e = byClient.get(t.clientId);
      return e ? [e] : [];
    }
    return [...(byMember.get(t.member) ?? [])];
  }

  /** Hands a command to every node; an engine without `control` serves this node only. */
  async function dispatch(message: ControlMessage): Promise<void> {
    if (engine.control) return engine.control(message);
    if (!warnedLocal) {
      warnedLocal = true;
      logger.warn({}, 'the engine has no control channel: server control reaches this node only');
    }
    apply(message);
  }

  /**
   * Runs the commands of one connection one after the other, in the order they arrived (docs/protocol.md
   * §2.9): a subscription still checking rules or reading history is not overtaken by the
   * unsubscription sent after it. A command finding nothing in progress runs at once.
   */
  function serial(e: Entry<Identity>, op: () => void | Promise<void>, fail: (err: unknown) => void): void {
    let started: Promise<void>;
    if (e.tail) started = e.tail.then(op);
    else {
      let r: void | Promise<void>;
      try {
        r = op();
      } catch (err) {
        return fail(err);
      }
      if (!(r instanceof Promise)) return;
      started = r;
    }
    const tail: Promise<void> = started.catch(fail).then(() => {
      if (e.tail === tail) e.tail = undefined;
    });
    e.tail = tail;
  }

  /** Records that this connection holds `grant`, so that revoking it by clientId deletes the grant. */
  async function hold(e: Entry<Identity>, topic: string, grant: string): Promise<void> {
    await engine.grantHold?.(grant, topic, e.conn.clientId, CLIENT_GRANT_TTL_MS);
  }

  /** A server-side subscription of one local connection (docs/protocol.md §2.9). */
  async function subscribeLocal(e: Entry<Identity>, target: ControlTarget, topic: string, bypass: boolean): Promise<void> {
    const { conn } = e;
    const rule = rules.find(topic);
    if (!bypass) {
      const perm = rule?.subscribe;
      const allowed = typeof perm === 'function' ? await perm(conn.ctx, topic) : perm === true;
      if (!allowed) return logger.info({ clientId: conn.clientId, topic }, 'server-side subscription refused by the topic rules');
    }
    if (!conn.open) return;
    if (!conn.topics.has(topic) && conn.topics.size >= deps.maxSubscriptionsPerConnection) {
      return logger.warn({ clientId: conn.clientId, topic }, 'server-side subscription over limits.maxSubscriptionsPerConnection');
    }
    if (bypass && engine.grantAdd) {
      const grants = (e.grants ??= new Map());
      const had = grants.get(topic);
      let grant: string;
      if ('member' in target) grant = memberGrant(target.member); // stored by the sender
      else {
        // One grant per connection and topic, the same across its reconnects: a connection that
        // re-subscribed with one (or was given one) gets it again, not one more (docs/protocol.md §2.9).
        grant = had?.startsWith('c:') ? had : `c:${randomUUID()}`;
      }
      // Set before the first await: a `sub` of the client arriving meanwhile sees it (see granted).
      grants.set(topic, grant);
      // An anonymous connection's member id is its clientId, which a reconnect changes: its
      // grant is bound to no member (an unguessable bearer capability).
      if (grant.startsWith('c:')) await engine.grantAdd(grant, topic, e.info.member === conn.clientId ? '' : e.info.member, CLIENT_GRANT_TTL_MS);
      if (grants.get(topic) === grant) await hold(e, topic, grant);
    }
    const o = { presence: rule?.presence === true, history: deps.historyOf(topic) };
    await index.add(conn, topic, o, (output) => {
      // The grant the client keeps: the one it re-subscribed with meanwhile, if it did.
      const grant = bypass ? e.grants?.get(topic) : undefined;
      conn.send(grant ? { t: 'subscribed', topic, output, grant } : { t: 'subscribed', topic, output });
    });
  }

  async function unsubscribeLocal(e: Entry<Identity>, topic: string, reason: string): Promise<void> {
    const { conn } = e;
    const grant = e.grants?.get(topic);
    e.grants?.delete(topic);
    // Every grant this connection holds for the topic, including one made for it by a command that
    // was still in progress when the sender revoked (docs/protocol.md §2.9, "Revocation").
    const revoked = engine.grantRevoke ? engine.grantRevoke(topic, { clientId: conn.clientId }) : grant?.startsWith('c:') ? engine.grantRemove?.(grant, topic) : undefined;
    if (conn.topics.has(topic)) {
      // remove() takes the connection out of the topic before its first await: the `unsubscribed`
      // frame is the last one of the topic this connection receives.
      const removed = index.remove(conn, topic, rules.find(topic)?.presence === true);
      conn.send({ t: 'unsubscribed', topic, code: ErrorCode.REVOKED, message: reason });
      await removed;
    }
    await revoked;
  }

  /** Applies a command to this node's connections (the engine calls it on every node). */
  function apply(m: ControlMessage): void {
    const found = targets(m.target);
    for (const e of found) {
      const what = `${m.op} ${e.conn.clientId}`;
      // A payload the codec cannot encode (a BigInt, a cycle): this target misses it, no other.
      const fail = (msg: string) => (err: unknown) => logger.error({ err, what, ...('topic' in m ? { topic: m.topic } : {}) }, msg);
      switch (m.op) {
        case 'event':
          serial(e, () => e.conn.send(m.data === undefined ? { t: 'event', name: m.name } : { t: 'event', name: m.name, data: m.data }), fail('server control command failed'));
          break;
        case 'kick':
          serial(e, () => e.conn.close(m.reconnect ? CloseCode.MOVED : CloseCode.KICKED, m.reason), fail('server control command failed'));
          break;
        case 'subscribe':
          serial(e, () => subscribeLocal(e, m.target, m.topic, m.bypassRules), fail('server-side subscription failed'));
          break;
        case 'unsubscribe':
          serial(e, () => unsubscribeLocal(e, m.topic, m.reason), fail('server-side unsubscription failed'));
          break;
      }
    }
  }

  return {
    apply,

    on<K extends keyof ServerEvents<Identity>>(event: K, hook: ServerHook<ServerEvents<Identity>[K]>): () => void {
      if (!EVENTS.has(event)) throw new TypeError(`unknown server event "${String(event)}" (connect, disconnect)`);
      if (typeof hook !== 'function') throw new TypeError(`the ${event} hook must be a function`);
      return hooks.on(event, ((info: ServerEvents<Identity>[K]) => {
        const threw = (err: unknown) => logger.error({ err, event, clientId: info.clientId }, 'a connection hook threw');
        let r: unknown;
        try {
          r = hook(info);
        } catch (err) {
          return threw(err);
        }
        if (r instanceof Promise) r.catch(threw);
      }) as never);
    },

    /** The connection passed the upgrade; it counts as connected once welcomed. */
    accepted(conn: Connection<Identity>, remoteAddress: string | undefined): void {
      addresses.set(conn, remoteAddress);
    },

    /** `welcome` was sent: the connection is addressable and the `connect` hook runs. */
    welcomed(conn: Connection<Identity>): void {
      let member: string;
      try {
        member = members.id(conn.identity, conn.clientId);
      } catch (err) {
        // The app's `presence.key` threw for this identity: the connection stays addressable by
        // its clientId, and the error is the app's to see (docs/server.md, "Server control").
        logger.error({ err, clientId: conn.clientId }, 'presence.key threw; the connection is addressed by its clientId');
        member = conn.clientId;
      }
      const info: ConnectInfo<Identity> = {
        clientId: conn.clientId,
        identity: conn.identity,
        member,
        remoteAddress: addresses.get(conn),
        codec: conn.codec.name === 'msgpack' ? 'msgpack' : 'json',
        transport: 'websocket',
      };
      const e: Entry<Identity> = { conn, info };
      byClient.set(conn.clientId, e);
      let set = byMember.get(member);
      if (!set) byMember.set(member, (set = new Set()));
      set.add(e);
      hooks.emit('connect', info);
    },

    /** The socket closed; `disconnect` runs for connections that were welcomed. */
    closed(conn: Connection<Identity>, code: number, reason: string, initiator: 'client' | 'server'): void {
      const e = byClient.get(conn.clientId);
      if (!e || e.conn !== conn) return;
      byClient.delete(conn.clientId);
      const set = byMember.get(e.info.member);
      if (set?.delete(e) && set.size === 0) byMember.delete(e.info.member);
      // Its grants stay revocable by its clientId for as long as a reconnect may use them.
      for (const [topic, grant] of e.grants ?? []) hold(e, topic, grant).catch((err: unknown) => logger.error({ err, clientId: conn.clientId, topic }, 'keeping a grant revocable failed'));
      hooks.emit('disconnect', { ...e.info, identity: conn.identity, code, reason, initiator });
    },

    /**
     * A `sub` carrying a grant (a re-subscription after a reconnect): whether the engine holds that
     * grant for the topic and this connection's member.
     */
    async granted(conn: Connection<Identity>, topic: string, grant: string): Promise<boolean> {
      const bound = await engine.grantFind?.(grant, topic);
      if (bound === undefined) return false;
      if (bound !== '' && bound !== members.id(conn.identity, conn.clientId)) return false;
      const e = byClient.get(conn.clientId);
      if (e?.conn !== conn) return true;
      const grants = (e.grants ??= new Map());
      const had = grants.get(topic);
      grants.set(topic, grant);
      await hold(e, topic, grant);
      // The server made this connection a grant of its own for the topic meanwhile (a connect hook
      // subscribing it again): the client keeps the one it presented, as it ignores a `subscribed`
      // frame's grant while its own `sub` with a grant is in flight (docs/protocol.md §2.9). The
      // other is deleted rather than left to pile up.
      if (had !== undefined && had !== grant && had.startsWith('c:')) await engine.grantRemove?.(had, topic);
      return true;
    },

    ...createControlCommands(engine, dispatch),
  };
}

/** The server-control API the server wires. */
export type Control<Identity> = ReturnType<typeof createControl<Identity>>;
