/**
 * Presence across nodes for the Redis engine. Per topic: which connection is which member, how
 * many connections each member has, and each member's public info. Each node registers in a
 * sorted set with a heartbeat deadline and lists the presence entries it added; when a node's
 * deadline lapses (it died), any live node removes those entries and announces the leaves, so no
 * ghost stays longer than the node TTL. A node that was cut off from Redis re-adds its entries
 * when it comes back.
 */
import type { Member } from '../../protocol/frames.js';
import type { EngineEvent, PresenceEntry } from '../engine.js';
import type { RedisKeys } from './keys.js';
import type { RedisClient } from './options.js';
import type { Scripts } from './scripts.js';

/** What {@link PresenceStore} needs from the engine. */
export interface PresenceStoreDeps {
  redis: RedisClient;
  scripts: Scripts;
  keys: RedisKeys;
  nodeId: string;
  nodeTtlMs: number;
  /** Publishes a `leave` for a member whose node died. */
  announce(topic: string, event: EngineEvent): Promise<void>;
  /** Runs Redis commands with the engine's deadline (for what the store does on its own). */
  run<T>(what: string, op: () => Promise<T>): Promise<T>;
  /** Whether Redis answers in time: a heartbeat that cannot be answered is not sent. */
  live(): boolean;
  onError(err: unknown, what: string): void;
}

/**
 * This node's presence entries in Redis, the node registry, and the cleanup after dead nodes.
 * `add`, `remove` and `list` send their commands as they are (the engine wraps them with its
 * deadline); what the store does on its own (heartbeat, restore, stop) runs with the deadline here.
 */
export class PresenceStore {
  readonly #d: PresenceStoreDeps;
  /** What this node added, to re-add after Redis forgot it (restart, or our entries were cleaned up). */
  readonly #mine = new Map<string, PresenceEntry>();
  /** Removals Redis did not take (it was unreachable): retried by {@link restore}, or a ghost would stay. */
  readonly #pending = new Map<string, PresenceEntry>();
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Whether the first heartbeat registered this node. */
  #registered = false;
  #restoring: Promise<void> | undefined;

  constructor(deps: PresenceStoreDeps) {
    this.#d = deps;
  }


  /** Adds a connection; `true` when its member was not present before. */
  async add({ topic, member, clientId }: PresenceEntry): Promise<boolean> {
    const key = `${topic}\u0000${clientId}`;
    this.#pending.delete(key);
    this.#mine.set(key, { topic, member, clientId });
    // The node's entry first (another slot on a cluster): should this node die before the
    // script, the cleanup after it finds an entry without presence, never presence without an entry.
    await this.#d.redis.sadd(this.#d.keys.nodeEntries(this.#d.nodeId), JSON.stringify([topic, clientId]));
    const joined = await this.#d.scripts.sbPresenceAdd(...this.#d.keys.presence(topic), clientId, member.id, JSON.stringify(member));
    return joined === 1;
  }

  /**
   * Records that one of this node's connections left, before its removal is attempted: should the
   * removal not reach Redis (refused while Redis is stalled, or failed), restore() makes it later,
   * and the entry is never re-added.
   */
  leaving(entry: PresenceEntry): void {
    const key = `${entry.topic}\u0000${entry.clientId}`;
    this.#mine.delete(key);
    this.#pending.set(key, entry);
  }

  /** Removes a connection (of this node, or of a dead one); the member when it was its last connection. */
  async remove(entry: PresenceEntry, nodeId = this.#d.nodeId): Promise<Member | undefined> {
    const { topic, clientId } = entry;
    const key = `${topic}\u0000${clientId}`;
    const own = nodeId === this.#d.nodeId;
    if (own) this.#mine.delete(key);
    try {
      const left = await this.#d.scripts.sbPresenceRemove(...this.#d.keys.presence(topic), clientId);
      // After the removal: a node dying in between leaves an entry whose cleanup finds nothing.
      await this.#d.redis.srem(this.#d.keys.nodeEntries(nodeId), JSON.stringify([topic, clientId]));
      if (own) this.#pending.delete(key);
      return left ? (JSON.parse(left) as Member) : undefined;
    } catch (err) {
      if (own) this.#pending.set(key, entry);
      throw err;
    }
  }

  /** The members present on `topic`. */
  async list(topic: string): Promise<Member[]> {
    const all = await this.#d.redis.hvals(this.#d.keys.presence(topic)[2]);
    return all.map((m) => JSON.parse(m) as Member);
  }

  /** Starts the heartbeat: every third of the TTL, and once now. */
  start(): void {
    const beat = () => {
      // While Redis is stalled a heartbeat would only fail; the node keeps its place until the
      // TTL lapses, like a node whose heartbeat Redis could not answer.
      if (!this.#d.live()) return;
      void this.heartbeat().catch((err: unknown) => this.#d.onError(err, 'presence heartbeat'));
    };
    this.#timer = setInterval(beat, Math.max(50, Math.floor(this.#d.nodeTtlMs / 3)));
    this.#timer.unref?.();
    beat();
  }

  /** Renews this node's deadline and cleans up after nodes whose deadline lapsed. */
  async heartbeat(): Promise<void> {
    const { nodes } = this.#d.keys;
    const { run } = this.#d;
    const [added, dead] = await run('presence heartbeat', () => this.#d.scripts.sbHeartbeat(nodes, this.#d.nodeId, this.#d.nodeTtlMs));
    if (added === 1 && this.#registered) {
      // Other nodes took this node for dead (a stall longer than the TTL) and removed its
      // entries: its members are still connected here, so they come back.
      void this.restore().catch((err: unknown) => this.#d.onError(err, 'presence restore'));
    }
    this.#registered = true;
    for (const nodeId of dead) {
      if (nodeId === this.#d.nodeId) continue;
      const entries = await run('presence cleanup', () => this.#d.redis.smembers(this.#d.keys.nodeEntries(nodeId)));
      for (const e of entries) {
        const [topic, clientId] = JSON.parse(e) as [string, string];
        const member = await run('presence cleanup', () => this.remove({ topic, clientId, member: { id: '' } }, nodeId));
        if (member) await this.#d.announce(topic, { kind: 'leave', member });
      }
      await run('presence cleanup', () => this.#d.redis.del(this.#d.keys.nodeEntries(nodeId)));
      await run('presence cleanup', () => this.#d.redis.zrem(nodes, nodeId));
    }
  }

  /**
   * After Redis came back (or this node was taken for dead): removals Redis missed are made and
   * announced, then this node's entries are re-added (idempotent) and lost joins announced.
   */
  restore(): Promise<void> {
    this.#restoring ??= (async () => {
      try {
        for (const [key, entry] of [...this.#pending]) {
          if (!this.#pending.has(key)) continue;
          const member = await this.#d.run('presence restore', () => this.remove(entry));
          if (member) await this.#d.announce(entry.topic, { kind: 'leave', member });
        }
        for (const [key, entry] of [...this.#mine]) {
          // Left meanwhile: re-adding it would make a ghost. (An add and a removal issued after
          // this check reach Redis in order on one connection, so the removal wins.)
          if (!this.#mine.has(key)) continue;
          if (await this.#d.run('presence restore', () => this.add(entry))) await this.#d.announce(entry.topic, { kind: 'join', member: entry.member });
        }
      } finally {
        this.#restoring = undefined;
      }
    })();
    return this.#restoring;
  }

  /** Leaves the registry: stops the heartbeat and removes what this node added. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    const { run } = this.#d;
    for (const entry of [...this.#mine.values()]) {
      const member = await run('leaving the node registry', () => this.remove(entry));
      if (member) await this.#d.announce(entry.topic, { kind: 'leave', member });
    }
    await run('leaving the node registry', () => this.#d.redis.del(this.#d.keys.nodeEntries(this.#d.nodeId)));
    await run('leaving the node registry', () => this.#d.redis.zrem(this.#d.keys.nodes, this.#d.nodeId));
  }
}
