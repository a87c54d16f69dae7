/**
 * Presence across nodes for the Redis engine. Per topic: which connection is which member, how
 * many connections each member has, and each member's public info. Each node registers in a
 * sorted set with a heartbeat deadline and lists the presence entries it added; when a node's
 * deadline lapses (it died), any live node removes those entries and announces the leaves, so no
 * ghost stays longer than the node TTL. A node that was cut off from Redis re-adds its entries
 * when it comes back.
 */
import type { Redis } from 'ioredis';
import type { Member } from '../../protocol/frames.js';
import type { EngineEvent, PresenceEntry } from '../engine.js';
import type { RedisKeys } from './keys.js';
import type { Scripts } from './scripts.js';

export interface PresenceStoreDeps {
  redis: Redis;
  scripts: Scripts;
  keys: RedisKeys;
  nodeId: string;
  nodeTtlMs: number;
  /** Publishes a `leave` for a member whose node died. */
  announce(topic: string, event: EngineEvent): Promise<void>;
  onError(err: unknown, what: string): void;
}

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

  /** The keys of the presence scripts: the topic's three hashes and the node's entry set. */
  #keys(topic: string, nodeId = this.#d.nodeId): string[] {
    return [...this.#d.keys.presence(topic), this.#d.keys.nodeEntries(nodeId)];
  }

  async add({ topic, member, clientId }: PresenceEntry): Promise<boolean> {
    const key = `${topic}\u0000${clientId}`;
    this.#pending.delete(key);
    this.#mine.set(key, { topic, member, clientId });
    const joined = await this.#d.scripts.sbPresenceAdd(...this.#keys(topic), clientId, member.id, JSON.stringify(member), JSON.stringify([topic, clientId]));
    return joined === 1;
  }

  async remove(entry: PresenceEntry, nodeId = this.#d.nodeId): Promise<Member | undefined> {
    const { topic, clientId } = entry;
    const key = `${topic}\u0000${clientId}`;
    const own = nodeId === this.#d.nodeId;
    if (own) this.#mine.delete(key);
    try {
      const left = await this.#d.scripts.sbPresenceRemove(...this.#keys(topic, nodeId), clientId, JSON.stringify([topic, clientId]));
      if (own) this.#pending.delete(key);
      return left ? (JSON.parse(left) as Member) : undefined;
    } catch (err) {
      if (own) this.#pending.set(key, entry);
      throw err;
    }
  }

  async list(topic: string): Promise<Member[]> {
    const all = await this.#d.redis.hvals(this.#d.keys.presence(topic)[2]);
    return all.map((m) => JSON.parse(m) as Member);
  }

  /** Starts the heartbeat: every third of the TTL, and once now. */
  start(): void {
    const beat = () => void this.heartbeat().catch((err: unknown) => this.#d.onError(err, 'presence heartbeat'));
    this.#timer = setInterval(beat, Math.max(50, Math.floor(this.#d.nodeTtlMs / 3)));
    this.#timer.unref?.();
    beat();
  }

  /** Renews this node's deadline and cleans up after nodes whose deadline lapsed. */
  async heartbeat(): Promise<void> {
    const { nodes } = this.#d.keys;
    const [added, dead] = await this.#d.scripts.sbHeartbeat(nodes, this.#d.nodeId, this.#d.nodeTtlMs);
    if (added === 1 && this.#registered) {
      // Other nodes took this node for dead (a stall longer than the TTL) and removed its
      // entries: its members are still connected here, so they come back.
      void this.restore().catch((err: unknown) => this.#d.onError(err, 'presence restore'));
    }
    this.#registered = true;
    for (const nodeId of dead) {
      if (nodeId === this.#d.nodeId) continue;
      const entries = await this.#d.redis.smembers(this.#d.keys.nodeEntries(nodeId));
      for (const e of entries) {
        const [topic, clientId] = JSON.parse(e) as [string, string];
        const member = await this.remove({ topic, clientId, member: { id: '' } }, nodeId);
        if (member) await this.#d.announce(topic, { kind: 'leave', member });
      }
      await this.#d.redis.del(this.#d.keys.nodeEntries(nodeId));
      await this.#d.redis.zrem(nodes, nodeId);
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
          const member = await this.remove(entry);
          if (member) await this.#d.announce(entry.topic, { kind: 'leave', member });
        }
        for (const [key, entry] of [...this.#mine]) {
          // Left meanwhile: re-adding it would make a ghost. (An add and a removal issued after
          // this check reach Redis in order on one connection, so the removal wins.)
          if (!this.#mine.has(key)) continue;
          if (await this.add(entry)) await this.#d.announce(entry.topic, { kind: 'join', member: entry.member });
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
    for (const entry of [...this.#mine.values()]) {
      const member = await this.remove(entry);
      if (member) await this.#d.announce(entry.topic, { kind: 'leave', member });
    }
    await this.#d.redis.del(this.#d.keys.nodeEntries(this.#d.nodeId));
    await this.#d.redis.zrem(this.#d.keys.nodes, this.#d.nodeId);
  }
}
