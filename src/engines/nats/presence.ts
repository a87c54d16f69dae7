/**
 * Presence across nodes for the NATS engine, on a JetStream KV bucket. Per topic one document
 * `p.<topic>`: connection → [member id, node id], and member id → member; every change is a
 * compare-and-set on it (kv-doc.ts), so "first connection of a member" and "last one" are decided
 * once across nodes. Each node registers as `n.<node id>` with the topics where it has entries and
 * rewrites it every third of `nodeTtlMs` (its heartbeat); a node whose entry was not rewritten for
 * `nodeTtlMs` (by the entry's JetStream timestamp) is dead, and any live node removes its entries
 * and announces the leaves, as on Redis (src/engines/redis/presence.ts).
 */
import type { KV } from '@nats-io/kv';
import type { Member } from '../../protocol/frames.js';
import type { EngineEvent, PresenceEntry } from '../engine.js';
import { casConflict, mutate, readDoc } from './kv-doc.js';
import type { NatsNames } from './names.js';

/** A topic's presence document. */
interface PresenceDoc {
  /** connection → [member id, node id] */
  c: Record<string, [string, string]>;
  /** member id → member */
  m: Record<string, Member>;
}

/** A node's registry entry. */
interface NodeDoc {
  ttl: number;
  /** Topics where the node has (or had) presence entries. */
  topics: string[];
}

/** What {@link NatsPresence} needs from the engine. */
export interface NatsPresenceDeps {
  kv: KV;
  names: NatsNames;
  nodeId: string;
  nodeTtlMs: number;
  /** Publishes a `join` or `leave` on a topic. */
  announce(topic: string, event: EngineEvent): Promise<void>;
  /** Runs KV operations with the engine's error mapping. */
  run<T>(what: string, op: () => Promise<T>): Promise<T>;
  onError(err: unknown, what: string): void;
}

const own = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

export class NatsPresence {
  readonly #d: NatsPresenceDeps;
  /** What this node added, to re-add after it was taken for dead. */
  readonly #mine = new Map<string, PresenceEntry>();
  /** Removals that did not reach NATS: retried by {@link restore}. */
  readonly #pending = new Map<string, PresenceEntry>();
  /** Topics listed in this node's registry entry. */
  readonly #topics = new Set<string>();
  #revision = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #beating: Promise<void> | undefined;

  constructor(deps: NatsPresenceDeps) {
    this.#d = deps;
  }

  /** Writes this node's registry entry; `true` when it had to be created (first, or taken for dead). */
  async #register(): Promise<boolean> {
    const { kv, names, nodeId, nodeTtlMs } = this.#d;
    const doc = JSON.stringify({ ttl: nodeTtlMs, topics: [...this.#topics] } satisfies NodeDoc);
    if (this.#revision) {
      try {
        this.#revision = await kv.update(names.node(nodeId), doc, this.#revision);
        return false;
      } catch (err) {
        if (!casConflict(err)) throw err;
      }
    }
    // First beat, or another node removed the entry (took this node for dead): create it again.
    const e = await kv.get(names.node(nodeId));
    if (e && e.operation === 'PUT') this.#revision = await kv.update(names.node(nodeId), doc, e.revision);
    else this.#revision = await kv.create(names.node(nodeId), doc);
    return true;
  }

  /** Adds a connection; `true` when its member was not present before. */
  async add(entry: PresenceEntry): Promise<boolean> {
    const { topic, member, clientId } = entry;
    const key = `${topic}\u0000${clientId}`;
    this.#pending.delete(key);
    this.#mine.set(key, entry);
    if (!this.#topics.has(topic)) {
      // Listed before the entry is written, so a cleanup after this node's death finds it.
      this.#topics.add(topic);
      await this.#register();
    }
    let joined = false;
    await mutate<PresenceDoc>(this.#d.kv, this.#d.names.presence(topic), (cur) => {
      const doc = cur ?? { c: {}, m: {} };
      if (own(doc.c, clientId)) return (joined = false), null;
      joined = !own(doc.m, member.id);
      doc.c[clientId] = [member.id, this.#d.nodeId];
      if (joined) doc.m[member.id] = member;
      return doc;
    });
    return joined;
  }

  /** Records that a connection left before its removal is attempted (see the Redis engine's). */
  leaving(entry: PresenceEntry): void {
    const key = `${entry.topic}\u0000${entry.clientId}`;
    this.#mine.delete(key);
    this.#pending.set(key, entry);
  }

  /** Removes connections of `topic` (`which` picks them); the members that left with them. */
  async #removeWhere(topic: string, which: (clientId: string, entry: [string, string]) => boolean): Promise<Member[]> {
    let left: Member[] = [];
    await mutate<PresenceDoc>(this.#d.kv, this.#d.names.presence(topic), (cur) => {
      left = [];
      if (!cur) return null;
      const gone = Object.entries(cur.c).filter(([id, e]) => which(id, e));
      if (!gone.length) return null;
      for (const [id] of gone) delete cur.c[id];
      const still = new Set(Object.values(cur.c).map(([m]) => m));
      for (const [, [m]] of gone) {
        if (!still.has(m) && own(cur.m, m)) {
          left.push(cur.m[m]!);
          delete cur.m[m];
        }
      }
      return Object.keys(cur.c).length ? cur : undefined;
    });
    return left;
  }

  /** Removes one of this node's connections; `true` when it was its member's last on the topic. */
  async remove(entry: PresenceEntry): Promise<boolean> {
    const key = `${entry.topic}\u0000${entry.clientId}`;
    try {
      const left = await this.#removeWhere(entry.topic, (id) => id === entry.clientId);
      this.#pending.delete(key);
      return left.length > 0;
    } catch (err) {
      this.#pending.set(key, entry);
      throw err;
    }
  }

  async list(topic: string): Promise<Member[]> {
    const doc = readDoc<PresenceDoc>(await this.#d.kv.get(this.#d.names.presence(topic)));
    return doc ? Object.values(doc.m) : [];
  }

  /** Starts the heartbeat: every third of the TTL, and once now (awaited: the node is registered). */
  async start(): Promise<void> {
    await this.#d.run('presence heartbeat', () => this.#register());
    this.#timer = setInterval(() => {
      this.#beating ??= this.heartbeat()
        .catch((err: unknown) => this.#d.onError(err, 'presence heartbeat'))
        .finally(() => (this.#beating = undefined));
    }, Math.max(50, Math.floor(this.#d.nodeTtlMs / 3)));
    this.#timer.unref?.();
  }

  /** Renews this node's entry and cleans up after nodes whose entry lapsed. */
  async heartbeat(): Promise<void> {
    const { run, kv, names } = this.#d;
    if (await run('presence heartbeat', () => this.#register())) {
      // Taken for dead (a stall longer than the TTL): its members are still here, so they come back.
      void this.restore().catch((err: unknown) => this.#d.onError(err, 'presence restore'));
    }
    const keys: string[] = await run('presence heartbeat', async () => {
      const out: string[] = [];
      for await (const k of await kv.keys(names.nodesAll)) out.push(k);
      return out;
    });
    for (const key of keys) {
      const nodeId = key.slice(2);
      if (nodeId === this.#d.nodeId) continue;
      const e = await run('presence cleanup', () => kv.get(key));
      const doc = readDoc<NodeDoc>(e);
      if (!e || !doc || Date.now() - e.created.getTime() <= doc.ttl) continue;
      for (const topic of doc.topics) {
        const left = await run('presence cleanup', () => this.#removeWhere(topic, (_, [, n]) => n === nodeId));
        for (const member of left) await this.#d.announce(topic, { kind: 'leave', member });
      }
      // Only the entry that was read: a node that came back meanwhile has rewritten it.
      await run('presence cleanup', () => kv.delete(key, { previousSeq: e.revision })).catch((err: unknown) => {
        if (!casConflict(err)) throw err;
      });
    }
  }

  /** After NATS came back (or this node was taken for dead): missed removals, then this node's entries again. */
  async restore(): Promise<void> {
    for (const [key, entry] of [...this.#pending]) {
      if (!this.#pending.has(key)) continue;
      const left = await this.#d.run('presence restore', () => this.#removeWhere(entry.topic, (id) => id === entry.clientId));
      this.#pending.delete(key);
      for (const member of left) await this.#d.announce(entry.topic, { kind: 'leave', member });
    }
    for (const [key, entry] of [...this.#mine]) {
      if (!this.#mine.has(key)) continue;
      if (await this.#d.run('presence restore', () => this.add(entry))) await this.#d.announce(entry.topic, { kind: 'join', member: entry.member });
    }
  }

  /** Leaves the registry: stops the heartbeat and removes what this node added. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#beating;
    const { run, kv, names, nodeId } = this.#d;
    for (const topic of this.#topics) {
      const left = await run('leaving the node registry', () => this.#removeWhere(topic, (_, [, n]) => n === nodeId));
      for (const member of left) await this.#d.announce(topic, { kind: 'leave', member });
    }
    this.#mine.clear();
    await run('leaving the node registry', () => kv.delete(names.node(nodeId)));
  }
}
