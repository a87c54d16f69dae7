/**
 * The Redis engine's pub/sub side: what receives the topics' and the control channel's messages.
 * On one Redis it is one duplicated connection with classic pub/sub (`SUBSCRIBE`); on a cluster,
 * one connection per shard with sharded pub/sub (sharded-subscriber.ts). The engine sees one
 * interface: messages, a loss (messages may have been missed from here on) and a return (every
 * channel is subscribed again), after which it re-reads history (docs/scaling.md).
 */
import type { Redis } from 'ioredis';

/** A connection the liveness probe pings (liveness.ts). */
export interface Pingable {
  readonly status: string;
  ping(): Promise<unknown>;
}

/** What a subscriber reports to the engine. */
export interface SubscriberEvents {
  /** A message on a subscribed channel. */
  onMessage(channel: string, message: Buffer): void;
  /** Messages may be missed from now on (a connection dropped, a channel's shard changed). */
  onLost(): void;
  /** A connection is ready again; for a loss, every channel is subscribed again once {@link Subscriber.settle} resolves. */
  onReady(): void;
  onError(err: unknown, what: string): void;
}

/** The engine's subscriptions, on one Redis or on a cluster. */
export interface Subscriber {
  /** `'ready'` while every connection it needs is. */
  readonly status: string;
  /** Its connections, for the liveness probe. */
  connections(): readonly Pingable[];
  /** Connects what must be connected before the first subscription. */
  connect(): Promise<void>;
  subscribe(channel: string): Promise<void>;
  unsubscribe(...channels: string[]): Promise<void>;
  /**
   * Resolves once every wanted channel is subscribed where it is published and the connections
   * answered a PING sent after those subscriptions: from then on nothing published is missed.
   */
  settle(): Promise<void>;
  disconnect(): void;
}

/** Classic pub/sub on one duplicated connection, which ioredis re-subscribes after a reconnect. */
export class PlainSubscriber implements Subscriber {
  readonly #conn: Redis;
  readonly #connect: (c: Redis) => Promise<void>;

  constructor(redis: Redis, options: import('ioredis').RedisOptions, events: SubscriberEvents, connect: (c: Redis) => Promise<void>) {
    this.#conn = redis.duplicate(options);
    this.#connect = connect;
    this.#conn.on('messageBuffer', (ch: Buffer, message: Buffer) => events.onMessage(ch.toString('utf8'), message));
    this.#conn.on('close', () => events.onLost());
    this.#conn.on('ready', () => events.onReady());
    this.#conn.on('error', (err: unknown) => events.onError(err, 'redis subscriber connection'));
  }

  get status(): string {
    return this.#conn.status;
  }

  connections(): readonly Pingable[] {
    return [this.#conn];
  }

  connect(): Promise<void> {
    return this.#connect(this.#conn);
  }

  async subscribe(channel: string): Promise<void> {
    await this.#conn.subscribe(channel);
  }

  async unsubscribe(...channels: string[]): Promise<void> {
    await this.#conn.unsubscribe(...channels);
  }

  async settle(): Promise<void> {
    // ioredis re-subscribed the channels it knew on reconnect; a PING answered after them proves
    // they are in effect.
    await this.#conn.ping();
  }

  disconnect(): void {
    this.#conn.disconnect();
  }
}
