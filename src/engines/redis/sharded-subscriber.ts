/**
 * Sharded pub/sub on a Redis Cluster (Redis >= 7): a topic's channel carries the topic's hash tag,
 * so it lives on the shard that owns the topic's keys, and `SPUBLISH` there reaches only that
 * shard's subscribers instead of every node of the cluster. This keeps one connection per primary
 * that carries a subscribed channel (docs/scaling.md, "Redis Cluster").
 *
 * A shard's primary drops its sharded subscriptions when it stops owning their slot: a resharding
 * moved the slot, or a failover made it a replica (Redis sends an unrequested `SUNSUBSCRIBE`,
 * which ioredis reports as an error on the connection). Each of these, a connection closing, and a
 * slot map refresh that shows a channel owned by another shard count as a loss: the engine holds
 * live messages, this moves every channel to its owner, and the engine re-reads history from the
 * last message it delivered, so a subscriber misses nothing (the same path as a lost link on one
 * Redis).
 */
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { keySlot } from './slot.js';
import type { Pingable, Subscriber, SubscriberEvents } from './subscriber.js';

/** `SSUBSCRIBE` went to a node that does not own the channel's slot (a stale slot map). */
class Moved extends Error {
  constructor(channel: string) {
    super(`the shard of ${channel} moved`);
    this.name = 'Moved';
  }
}

/** How often subscribing one channel is tried while the slot map settles (a resharding, a failover). */
const ATTEMPTS = 5;

/** Sharded pub/sub over the primaries of a cluster. */
export class ShardedSubscriber implements Subscriber {
  readonly #cluster: Cluster;
  readonly #options: RedisOptions;
  readonly #events: SubscriberEvents;
  /** The channels the engine subscribed to. */
  readonly #want = new Set<string>();
  /** Channel → the node key (`host:port`) of the connection it is subscribed on. */
  readonly #at = new Map<string, string>();
  /** Node key → its connection, while open or opening. */
  readonly #conns = new Map<string, { conn: Redis; ready: Promise<Redis> }>();
  #lost = false;
  #closed = false;
  #repairing = false;
  #again = false;
  #retry: ReturnType<typeof setTimeout> | undefined;
  /** Failed repairs in a row: the first is reported, then every 20th (a shard down for a while). */
  #failures = 0;

  /** `options` are those of the per-shard connections: no reconnect of their own (this replaces them). */
  constructor(cluster: Cluster, options: RedisOptions, events: SubscriberEvents) {
    this.#cluster = cluster;
    this.#options = { ...options, retryStrategy: () => null, autoResubscribe: false, lazyConnect: true };
    this.#events = events;
    cluster.on('refresh', this.#onRefresh);
  }

  get status(): string {
    if (this.#lost) return 'reconnecting';
    return this.#cluster.status;
  }

  connections(): readonly Pingable[] {
    return [...this.#conns.values()].map((c) => c.conn);
  }

  /** Connections open with their first channel; the cluster client itself is the engine's. */
  async connect(): Promise<void> {}

  async subscribe(channel: string): Promise<void> {
    this.#want.add(channel);
    await this.#place(channel);
  }

  async unsubscribe(...channels: string[]): Promise<void> {
    for (const channel of channels) {
      this.#want.delete(channel);
      const key = this.#at.get(channel);
      const c = key === undefined ? undefined : this.#conns.get(key);
      if (c?.conn.status === 'ready') await c.conn.sunsubscribe(channel);
      this.#at.delete(channel);
    }
  }

  async settle(): Promise<void> {
    const missing = [...this.#want].filter((ch) => !this.#at.has(ch));
    if (missing.length) throw new Error(`not subscribed again yet: ${missing.slice(0, 3).join(', ')}`);
    await Promise.all(this.connections().map((c) => c.ping()));
  }

  disconnect(): void {
    this.#closed = true;
    this.#cluster.off('refresh', this.#onRefresh);
    if (this.#retry) clearTimeout(this.#retry);
    for (const [key, { conn }] of [...this.#conns]) this.#drop(key, conn);
  }

  /** The node key of the primary that owns `channel`'s slot, by the cluster client's slot map. */
  #owner(channel: string): string | undefined {
    return this.#cluster.slots[keySlot(channel)]?.[0];
  }

  /** Subscribes `channel` on its owner's connection; on a stale slot map, refreshes it and tries again. */
  async #place(channel: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const key = this.#owner(channel);
      try {
        if (key === undefined) throw new Moved(channel);
        if (this.#at.get(channel) === key && this.#conns.has(key)) return;
        const conn = await this.#conn(key);
        await ssubscribe(conn, channel);
        // The connection was replaced meanwhile (it dropped): subscribe on its successor.
        if (this.#conns.get(key)?.conn !== conn) throw new Moved(channel);
        const before = this.#at.get(channel);
        this.#at.set(channel, key);
        // Its shard changed: leave it where it was (a primary that lost the slot has dropped it already).
        if (before !== undefined && before !== key) void this.#conns.get(before)?.conn.sunsubscribe(channel).catch(() => {});
        // Unsubscribed meanwhile.
        if (!this.#want.has(channel)) await this.unsubscribe(channel);
        return;
      } catch (err) {
        if (!(err instanceof Moved) || attempt >= ATTEMPTS || this.#closed) throw err;
        await this.#refresh();
        await new Promise((r) => setTimeout(r, 50 * attempt));
      }
    }
  }

  /** The connection to primary `key`, opened when there is none. */
  #conn(key: string): Promise<Redis> {
    const had = this.#conns.get(key);
    if (had) return had.ready;
    const node = this.#cluster.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === key);
    if (!node) return Promise.reject(new Moved(key));
    const conn = node.duplicate(this.#options);
    const current = () => this.#conns.get(key)?.conn === conn;
    conn.on('smessageBuffer', (ch: Buffer, message: Buffer) => {
      if (current()) this.#events.onMessage(ch.toString('utf8'), message);
    });
    conn.on('close', () => this.#drop(key, conn));
    // Also how an unrequested SUNSUBSCRIBE (the slot left this primary) surfaces: the connection
    // is replaced and its channels subscribed again where they are now.
    conn.on('error', (err: unknown) => {
      // An established link that broke is reported; a connection that never opened is the repair's to report.
      if (current() && conn.status !== 'connecting') this.#events.onError(err, `redis shard subscriber ${key} (replaced)`);
      this.#drop(key, conn);
    });
    const ready = conn.connect().then(
      () => conn,
      (err: unknown) => {
        this.#drop(key, conn);
        throw err;
      },
    );
    this.#conns.set(key, { conn, ready });
    return ready;
  }

  /** Closes a connection; the channels it carried are lost until subscribed again. */
  #drop(key: string, conn: Redis): void {
    if (this.#conns.get(key)?.conn !== conn) return;
    this.#conns.delete(key);
    // Its listeners stay (ioredis's own settle a pending connect()); they ignore a replaced connection.
    conn.disconnect();
    let held = false;
    for (const [ch, k] of this.#at) {
      if (k !== key) continue;
      this.#at.delete(ch);
      held = true;
    }
    if (held) this.#trouble();
  }

  /** After the cluster client re-read the slot map: a channel whose slot moved must follow it. */
  readonly #onRefresh = (): void => {
    for (const [ch, key] of this.#at) if (this.#owner(ch) !== key) return this.#trouble();
  };

  #trouble(): void {
    if (this.#closed) return;
    if (!this.#lost) {
      this.#lost = true;
      this.#events.onLost();
    }
    void this.#repair();
  }

  /** Subscribes every wanted channel where it is owned now; retried until it works. */
  async #repair(): Promise<void> {
    if (this.#repairing) {
      this.#again = true;
      return;
    }
    this.#repairing = true;
    try {
      do {
        this.#again = false;
        await this.#refresh();
        for (const ch of [...this.#want]) if (!this.#at.has(ch) || this.#at.get(ch) !== this.#owner(ch)) await this.#place(ch);
      } while (this.#again && !this.#closed);
      if (this.#closed) return;
      this.#lost = false;
      this.#failures = 0;
      this.#events.onReady();
    } catch (err) {
      if (this.#closed) return;
      if (this.#failures++ % 20 === 0) this.#events.onError(err, 'subscribing again on the cluster shards (retried every 500 ms)');
      this.#retry = setTimeout(() => void this.#repair(), 500);
      this.#retry.unref?.();
    } finally {
      this.#repairing = false;
    }
  }

  /** Re-reads the slot map (resolves at once when a refresh is already under way). */
  #refresh(): Promise<void> {
    return new Promise((resolve) => this.#cluster.refreshSlotsCache(() => resolve()));
  }
}

/** `SSUBSCRIBE`, rejected with {@link Moved} when the node does not own the channel (ioredis then leaves the command unanswered). */
function ssubscribe(conn: Redis, channel: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const moved = () => reject(new Moved(channel));
    conn.once('moved', moved);
    conn.ssubscribe(channel).then(
      () => (conn.off('moved', moved), resolve()),
      (err: unknown) => (conn.off('moved', moved), reject(err)),
    );
  });
}
