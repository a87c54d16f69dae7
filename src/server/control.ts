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
  /** topic → the grant this connection's subscription to it was made or resumed with. */
  grants?: Map<string, string>;
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
    let grant: string | undefined;
    if (bypass && engine.grantAdd) {
      if ('member' in target) grant = memberGrant(target.member);
      else {
        grant = `c:${randomUUID()}`;
        // An anonymous connection's member id is its clientId, which a reconnect changes: its
        // grant is bound to no member (an unguessable bearer capability).
        await engine.grantAdd(grant, topic, e.info.member === conn.clientId ? '' : e.info.member, CLIENT_GRANT_TTL_MS);
      }
      (e.grants ??= new Map()).set(topic, grant);
    }
    const o = { presence: rule?.presence === true, history: deps.historyOf(topic) };
    await index.add(conn, topic, o, (output) => conn.send(grant ? { t: 'subscribed', topic, output, grant } : { t: 'subscribed', topic, output }));
  }

  async function unsubscribeLocal(e: Entry<Identity>, topic: string, reason: string): Promise<void> {
    const { conn } = e;
    if (!conn.topics.has(topic)) return;
    // remove() takes the connection out of the topic before its first await: the `unsubscribed`
    // frame is the last one of the topic this connection receives.
    const removed = index.remove(conn, topic, rules.find(topic)?.presence === true);
    conn.send({ t: 'unsubscribed', topic, code: ErrorCode.REVOKED, message: reason });
    const grant = e.grants?.get(topic);
    e.grants?.delete(topic);
    await removed;
    if (grant?.startsWith('c:')) await engine.grantRemove?.(grant, topic);
  }

  /** Applies a command to this node's connections (the engine calls it on every node). */
  function apply(m: ControlMessage): void {
    const found = targets(m.target);
    for (const e of found) {
      const what = `${m.op} ${e.conn.clientId}`;
      try {
        switch (m.op) {
          case 'event':
            e.conn.send(m.data === undefined ? { t: 'event', name: m.name } : { t: 'event', name: m.name, data: m.data });
            break;
          case 'kick':
            e.conn.close(m.reconnect ? CloseCode.MOVED : CloseCode.KICKED, m.reason);
            break;
          case 'subscribe':
            subscribeLocal(e, m.target, m.topic, m.bypassRules).catch((err: unknown) => logger.error({ err, what, topic: m.topic }, 'server-side subscription failed'));
            break;
          case 'unsubscribe':
            unsubscribeLocal(e, m.topic, m.reason).catch((err: unknown) => logger.error({ err, what, topic: m.topic }, 'server-side unsubscription failed'));
            break;
        }
      } catch (err) {
        // A payload the codec cannot encode (a BigInt, a cycle): this target misses it, no other.
        logger.error({ err, what }, 'server control command failed');
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
      if (e) (e.grants ??= new Map()).set(topic, grant);
      return true;
    },

    ...createControlCommands(engine, dispatch),
  };
}

/** The server-control API the server wires. */
export type Control<Identity> = ReturnType<typeof createControl<Identity>>;
