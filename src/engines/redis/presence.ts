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
import type { Scripts } from './scripts.js';

export interface PresenceStoreDeps {
  redis: Redis;
  scripts: Scripts;
  prefix: string;
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
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(deps: PresenceStoreDeps) {
    this.#d = deps;
  }

  #keys(topic: string, nodeId = this.#d.nodeId): string[] {
    const p = this.#d.prefix;
    return [`${p}pc:${topic}`, `${p}pm:${topic}`, `${p}pi:${topic}`, `${p}np:${nodeId}`];
  }

  async add({ topic, member, clientId }: PresenceEntry): Promise<boolean> {
    this.#mine.set(`${topic}\u0000${clientId}`, { topic, member, clientId });
    const joined = await this.#d.scripts.sbPresenceAdd(...this.#keys(topic), clientId, member.id, JSON.stringify(member), JSON.stringify([topic, clientId]));
    return joined === 1;
  }

  async remove({ topic, clientId }: PresenceEntry, nodeId = this.#d.nodeId): Promise<Member | undefined> {
    if (nodeId === this.#d.nodeId) this.#mine.delete(`${topic}\u0000${clientId}`);
    const left = await this.#d.scripts.sbPresenceRemove(...this.#keys(topic, nodeId), clientId, JSON.stringify([topic, clientId]));
    return left ? (JSON.parse(left) as Member) : undefined;
  }

  async list(topic: string): Promise<Member[]> {
    const all = await this.#d.redis.hvals(`${this.#d.prefix}pi:${topic}`);
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
    const nodes = `${this.#d.prefix}nodes`;
    const dead = await this.#d.scripts.sbHeartbeat(nodes, this.#d.nodeId, this.#d.nodeTtlMs);
    for (const nodeId of dead) {
      if (nodeId === this.#d.nodeId) continue;
      const entries = await this.#d.redis.smembers(`${this.#d.prefix}np:${nodeId}`);
      for (const e of entries) {
        const [topic, clientId] = JSON.parse(e) as [string, string];
        const member = await this.remove({ topic, clientId, member: { id: '' } }, nodeId);
        if (member) await this.#d.announce(topic, { kind: 'leave', member });
      }
      await this.#d.redis.del(`${this.#d.prefix}np:${nodeId}`);
      await this.#d.redis.zrem(nodes, nodeId);
    }
  }

  /** After Redis came back: re-adds this node's entries (idempotent) and announces joins it lost. */
  async restore(): Promise<void> {
    await this.heartbeat();
    for (const entry of [...this.#mine.values()]) {
      if (await this.add(entry)) await this.#d.announce(entry.topic, { kind: 'join', member: entry.member });
    }
  }

  /** Leaves the registry: stops the heartbeat and removes what this node added. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    for (const entry of [...this.#mine.values()]) {
      const member = await this.remove(entry);
      if (member) await this.#d.announce(entry.topic, { kind: 'leave', member });
    }
    await this.#d.redis.del(`${this.#d.prefix}np:${this.#d.nodeId}`);
    await this.#d.redis.zrem(`${this.#d.prefix}nodes`, this.#d.nodeId);
  }
}
