/**
 * The local side of pub/sub: which of this node's connections listen to which topic, presence
 * joins and leaves, and delivery of engine events with one encoding per codec per event.
 */
import type { Codec } from '../protocol/codec.js';
import type { Member, ServerFrame } from '../protocol/frames.js';
import type { Engine, EngineEvent } from '../engines/engine.js';
import type { Connection, Encoded } from './connection.js';

export class TopicIndex<Identity> {
  readonly #subs = new Map<string, Set<Connection<Identity>>>();
  readonly #engine: Engine;
  readonly #member: (conn: Connection<Identity>) => Member;
  readonly #volatile: (topic: string) => boolean;

  constructor(engine: Engine, member: (conn: Connection<Identity>) => Member, volatile: (topic: string) => boolean) {
    this.#engine = engine;
    this.#member = member;
    this.#volatile = volatile;
  }

  /** Whether the subscription being added survived the awaits (the connection is open and still wants it). */
  #stillWanted(conn: Connection<Identity>, topic: string): boolean {
    return conn.open && conn.topics.has(topic);
  }

  has(conn: Connection<Identity>, topic: string): boolean {
    return conn.topics.has(topic);
  }

  /**
   * Adds a subscriber. Returns the member list when `presence` is on. The connection is in the
   * index before this resolves, so it receives every event published after its `ok`.
   */
  async add(conn: Connection<Identity>, topic: string, presence: boolean): Promise<Member[] | undefined> {
    if (!conn.topics.has(topic)) {
      conn.topics.add(topic);
      let set = this.#subs.get(topic);
      if (!set) {
        this.#subs.set(topic, (set = new Set()));
        await this.#engine.subscribe(topic);
      }
      if (presence) {
        // Announce before adding the connection: the member list in its `ok` already names it, and
        // its own `join` must not overtake that `ok` (docs/protocol.md §2.4).
        const member = this.#member(conn);
        // The connection may have closed (and been cleaned up) during an async engine call.
        if (!this.#stillWanted(conn, topic)) return undefined;
        const joined = await this.#engine.presenceAdd({ topic, member, clientId: conn.clientId });
        if (!this.#stillWanted(conn, topic)) {
          // Its close cleanup already ran without this presence entry: take it back here.
          if (await this.#engine.presenceRemove({ topic, member, clientId: conn.clientId }) && !joined) {
            await this.#engine.publish(topic, { kind: 'leave', member });
          }
          return undefined;
        }
        if (joined) await this.#engine.publish(topic, { kind: 'join', member });
      }
      if (!this.#stillWanted(conn, topic)) return undefined;
      set.add(conn);
    }
    return presence ? this.#engine.presenceList(topic) : undefined;
  }

  /** Removes a subscriber; announces `leave` when it was its member's last connection. */
  async remove(conn: Connection<Identity>, topic: string, presence: boolean): Promise<void> {
    if (!conn.topics.delete(topic)) return;
    const set = this.#subs.get(topic);
    set?.delete(conn);
    if (set && set.size === 0) {
      this.#subs.delete(topic);
      await this.#engine.unsubscribe(topic);
    }
    if (presence) {
      const member = this.#member(conn);
      if (await this.#engine.presenceRemove({ topic, member, clientId: conn.clientId })) {
        await this.#engine.publish(topic, { kind: 'leave', member });
      }
    }
  }

  /** Hands an engine event to every local subscriber, encoding it once per codec. */
  deliver(topic: string, event: EngineEvent): void {
    const set = this.#subs.get(topic);
    if (!set || set.size === 0) return;
    let frame: ServerFrame;
    let skip: string | undefined;
    if (event.kind === 'msg') {
      const hasMeta = event.meta.from !== undefined;
      frame = hasMeta ? { t: 'msg', topic, data: event.data, meta: event.meta } : { t: 'msg', topic, data: event.data };
      skip = event.skip;
    } else {
      frame = { t: event.kind, topic, member: event.member };
    }
    // One encoding per codec in use, however many subscribers; a string is turned into bytes once
    // so ws does not convert it again for every socket.
    const encoded = new Map<Codec, { payload: Encoded | Buffer; binary: boolean }>();
    // Presence events are never dropped: a lost leave would leave a ghost member.
    const volatile = event.kind === 'msg' && this.#volatile(topic);
    for (const conn of set) {
      if (conn.clientId === skip) continue;
      let e = encoded.get(conn.codec);
      if (!e) {
        const out = conn.codec.encode(frame);
        e = typeof out === 'string' ? { payload: Buffer.from(out), binary: false } : { payload: out, binary: true };
        encoded.set(conn.codec, e);
      }
      conn.sendEncoded(e.payload, e.binary, volatile);
    }
  }

  /** Number of local subscribers of a topic. */
  count(topic: string): number {
    return this.#subs.get(topic)?.size ?? 0;
  }
}
