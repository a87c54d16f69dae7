/**
 * Topic history on JetStream: one stream per topic with history, named `<prefix>-h-<epoch>` and
 * capturing the subject `<prefix>.h.<topic>` (docs/scaling.md, "NATS").
 *
 * - Offset = the stream's sequence. JetStream assigns it when it stores the message, atomically,
 *   whichever node publishes: no read-modify-write, and the first message of a stream is 1.
 * - Epoch = the rest of the stream's name. Every publish acknowledgement names the stream that
 *   stored the message, so a publish can never be given the epoch of a stream that was replaced.
 *   A topic whose stream is gone (deleted, or JetStream lost its data) gets a new stream, so a new
 *   epoch, and subscribers are told (`gap`, reason `epoch`).
 * - `size` = the stream's `max_msgs`; `ttlMs` = each message's own TTL (a header), applied on read,
 *   with the stream's `max_age` at the longest TTL seen so the server drops what is expired.
 * - A trimmed range is found by its offsets: a `since` read that does not get every offset after
 *   `since`, consecutively, answers `window` with nothing old (never partial, as on Redis).
 *
 * One stream per topic rather than one stream with per-subject limits: JetStream 2.9/2.10 has no
 * per-subject sequence, so one shared stream would need offsets kept elsewhere and a compare-and-set
 * per publish; per-topic streams also get each topic's own `size` natively.
 */
import { RequestError, type NatsConnection } from '@nats-io/transport-node';
import { DeliverPolicy, DiscardPolicy, JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream';
import type { StreamPosition } from '../../protocol/frames.js';
import { newEpoch, type HistoryOptions, type HistoryQuery, type HistoryResult, type StoredMessage } from '../engine.js';
import { decodeEvent } from '../redis/wire.js';
import type { NatsNames } from './names.js';
import { splitStored, storedFrame } from './wire.js';

/** A topic's stream, as this node knows it. */
interface TopicStream {
  name: string;
  epoch: string;
  /** The limits last set on it (`undefined` when it was made by a read, before any publish). */
  size?: number;
  maxAgeMs?: number;
  /** A limits update in flight, which publishes wait for. */
  updating?: Promise<void>;
}

/** What {@link HistoryStreams} needs. */
export interface HistoryDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  names: NatsNames;
  timeoutMs: number;
}

const ms2ns = (ms: number) => Math.ceil(ms) * 1_000_000;

/** Whether `err` says the stream does not exist. */
export function streamGone(err: unknown): boolean {
  return (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) || (err instanceof Error && err.name === 'StreamNotFoundError');
}

/** A publish to a subject no stream captures: nobody answers it. */
function noStream(err: unknown): boolean {
  return err instanceof RequestError && err.isNoResponders();
}

/** A JetStream publish acknowledgement, or its refusal. */
interface Ack {
  stream?: string;
  seq?: number;
  error?: { code: number; err_code: number; description: string };
}

export class HistoryStreams {
  readonly #d: HistoryDeps;
  readonly #streams = new Map<string, TopicStream>();
  /** Lookups in flight, shared by concurrent callers of one topic (they then publish in call order). */
  readonly #lookups = new Map<string, Promise<TopicStream>>();

  constructor(deps: HistoryDeps) {
    this.#d = deps;
  }

  /** The epoch a stream name carries. */
  epochOf(name: string): string {
    return name.slice(this.#d.names.streamPrefix.length);
  }

  /** The topic's stream: known, found by its subject, or created (with a new epoch). */
  #stream(topic: string, h?: HistoryOptions): Promise<TopicStream> {
    const known = this.#streams.get(topic);
    if (known) return Promise.resolve(known);
    let p = this.#lookups.get(topic);
    if (!p) {
      p = this.#findOrCreate(topic, h).finally(() => this.#lookups.delete(topic));
      this.#lookups.set(topic, p);
    }
    return p;
  }

  async #findOrCreate(topic: string, h?: HistoryOptions): Promise<TopicStream> {
    for (let attempt = 0; ; attempt++) {
      const found = await this.#find(topic);
      if (found) return found;
      const name = this.#d.names.streamPrefix + newEpoch();
      try {
        const si = await this.#d.jsm.streams.add({
          name,
          subjects: [this.#d.names.history(topic)],
          description: topic.slice(0, 4_000),
          // A stream made by a read has no count limit until the first publish sets the topic's
          // `size` (a publish from a node that still knows an older stream must not be trimmed).
          max_msgs: h?.size ?? -1,
          max_age: ms2ns(h?.ttlMs ?? 86_400_000),
          // No message ids are used; the window must not exceed max_age, which may shrink later.
          duplicate_window: ms2ns(Math.min(1_000, h?.ttlMs ?? 1_000)),
          discard: DiscardPolicy.Old,
        });
        return this.#remember(topic, si, h);
      } catch (err) {
        // Another node created the topic's stream meanwhile (the subjects overlap): use that one.
        if (attempt < 3 && err instanceof JetStreamApiError && err.code === 10065) continue;
        throw err;
      }
    }
  }

  async #find(topic: string): Promise<TopicStream | undefined> {
    let name: string;
    try {
      name = await this.#d.jsm.streams.find(this.#d.names.history(topic));
    } catch (err) {
      if (streamGone(err)) return undefined;
      throw err;
    }
    const s: TopicStream = { name, epoch: this.epochOf(name) };
    this.#streams.set(topic, s);
    return s;
  }

  #remember(topic: string, si: StreamInfo, h?: HistoryOptions): TopicStream {
    const s: TopicStream = { name: si.config.name, epoch: this.epochOf(si.config.name), ...(h ? { size: h.size, maxAgeMs: h.ttlMs } : {}) };
    this.#streams.set(topic, s);
    return s;
  }

  /** Forgets a topic's stream (it was deleted): the next use looks it up again. */
  forget(topic: string): void {
    this.#streams.delete(topic);
  }

  /**
   * Stores a message (its encoded event) in the topic's stream; resolves its position. A stream that
   * is gone is replaced once (a new epoch).
   */
  async append(topic: string, payload: Buffer, h: HistoryOptions): Promise<StreamPosition> {
    for (let attempt = 0; ; attempt++) {
      const s = await this.#stream(topic, h);
      await this.#limit(s, h);
      try {
        // A plain request rather than js.publish(): no headers to build, one JSON ack to read.
        const reply = await this.#d.nc.request(this.#d.names.history(topic), storedFrame(h.ttlMs, payload), { timeout: this.#d.timeoutMs });
        const ack = JSON.parse(new TextDecoder().decode(reply.data)) as Ack;
        if (ack.error || !ack.stream || !ack.seq) throw new Error(`JetStream refused the message: ${ack.error?.description ?? 'no acknowledgement'}`);
        if (ack.stream !== s.name) this.#streams.set(topic, { name: ack.stream, epoch: this.epochOf(ack.stream) });
        return { epoch: this.epochOf(ack.stream), offset: ack.seq };
      } catch (err) {
        // No stream captures the subject (deleted, or lost with JetStream's data): a new one, once.
        if (attempt === 0 && noStream(err)) {
          this.forget(topic);
          continue;
        }
        throw err;
      }
    }
  }

  /**
   * Sets the stream's limits to the topic's history options when they differ from what it has.
   * Concurrent publishes wait for the same update: none is stored before the limits are set.
   */
  #limit(s: TopicStream, h: HistoryOptions): Promise<void> {
    const maxAgeMs = Math.max(h.ttlMs, s.maxAgeMs ?? 0);
    if (s.size === h.size && s.maxAgeMs === maxAgeMs) return s.updating ?? Promise.resolve();
    s.size = h.size;
    s.maxAgeMs = maxAgeMs;
    const update = this.#d.jsm.streams
      .update(s.name, { max_msgs: h.size, max_age: ms2ns(maxAgeMs), duplicate_window: ms2ns(Math.min(1_000, maxAgeMs)) })
      .then(
        () => undefined,
        (err: unknown) => {
          s.size = undefined; // tried again at the next publish
          if (!streamGone(err)) throw err;
        },
      )
      .finally(() => {
        if (s.updating === update) s.updating = undefined;
      });
    s.updating = update;
    return update;
  }

  /** The topic's stream and its state; created when `create` (a read keeps a topic's epoch stable). */
  async #info(topic: string): Promise<{ s: TopicStream; si: StreamInfo }> {
    for (let attempt = 0; ; attempt++) {
      const s = await this.#stream(topic);
      try {
        return { s, si: await this.#d.jsm.streams.info(s.name) };
      } catch (err) {
        if (attempt === 0 && streamGone(err)) {
          this.forget(topic);
          continue;
        }
        throw err;
      }
    }
  }

  /** The topic's current epoch and last offset, without creating a stream: `undefined` when it has none. */
  async top(topic: string): Promise<StreamPosition | undefined> {
    this.forget(topic); // a baseline must see the stream as it is now
    const s = await this.#find(topic);
    if (!s) return undefined;
    try {
      const si = await this.#d.jsm.streams.info(s.name);
      return { epoch: s.epoch, offset: si.state.last_seq };
    } catch (err) {
      if (streamGone(err)) return undefined;
      throw err;
    }
  }

  /** Answers a history query (docs/protocol.md §2.7), as the Redis engine does. */
  async read(topic: string, q: HistoryQuery): Promise<HistoryResult> {
    const { s, si } = await this.#info(topic);
    const last = si.state.last_seq;
    const first = si.state.messages > 0 ? si.state.first_seq : last + 1;
    const top = { epoch: s.epoch, offset: last };
    const limit = q.limit ?? 0;
    const newest = async () => (limit > 0 && first <= last ? this.range(s.name, Math.max(first, last - limit + 1), last) : []);
    if (!q.since) return { top, messages: await newest() };
    const { since } = q;
    if (since.epoch === s.epoch && since.offset <= last) {
      if (since.offset === last) return { top, messages: [], recovered: true };
      if (first <= since.offset + 1) {
        const kept = await this.range(s.name, since.offset + 1, last);
        if (kept.length === last - since.offset && kept[0]!.meta.offset === since.offset + 1) return { top, messages: kept, recovered: true };
        return { top, messages: limit > 0 ? kept.slice(-limit) : [], recovered: false, reason: 'window' };
      }
    }
    return { top, messages: await newest(), recovered: false, reason: since.epoch !== s.epoch ? 'epoch' : 'window' };
  }

  /**
   * The stored messages of stream `name` with offsets `from`..`to`, oldest first, without those
   * whose TTL passed; fewer (never others) when some are gone. One ordered consumer reads them.
   */
  async range(name: string, from: number, to: number): Promise<StoredMessage[]> {
    if (from > to) return [];
    const epoch = this.epochOf(name);
    const out: StoredMessage[] = [];
    let consumer;
    try {
      consumer = await this.#d.js.consumers.get(name, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from });
    } catch (err) {
      if (streamGone(err)) return out;
      throw err;
    }
    const now = Date.now();
    try {
      const batch = await consumer.fetch({ max_messages: to - from + 1, expires: Math.max(1_000, this.#d.timeoutMs) });
      for await (const m of batch) {
        if (m.seq > to) break;
        const stored = splitStored(m.data);
        // The message's own TTL from when JetStream stored it (the server's clock against this node's).
        const alive = stored && m.info.timestampNanos / 1_000_000 + stored.ttlMs > now;
        const event = alive ? decodeEvent(stored.payload, epoch, m.seq) : undefined;
        if (event?.kind === 'msg') out.push({ data: event.data, meta: event.meta as StoredMessage['meta'], ...(event.skip ? { skip: event.skip } : {}) });
        if (m.seq >= to || m.info.pending === 0) break;
      }
    } finally {
      // The client keeps an ordered consumer on the server for minutes after its last use: gone now.
      void consumer.delete().catch(() => false);
    }
    return out;
  }

  /**
   * Deletes the history streams of this prefix that nobody published to for `idleMs` (by
   * JetStream's timestamps), except those of topics this node carries: an idle topic then starts a
   * new epoch, as an expired meta key does on Redis.
   */
  async sweep(idleMs: number, carried: (topic: string) => boolean): Promise<number> {
    let deleted = 0;
    for await (const si of this.#d.jsm.streams.list(this.#d.names.historyAll)) {
      const name = si.config.name;
      if (!name.startsWith(this.#d.names.streamPrefix)) continue;
      const topic = si.config.description ?? '';
      const last = si.state.last_seq > 0 ? Date.parse(si.state.last_ts) : Date.parse(si.created);
      if (!(Date.now() - last > idleMs) || carried(topic)) continue;
      if (await this.#d.jsm.streams.delete(name).catch(() => false)) deleted++;
      if (this.#streams.get(topic)?.name === name) this.forget(topic);
    }
    return deleted;
  }

  /** Reads offsets `from`..`to` of the topic's stream of `epoch` (for the ordering's gap fill). */
  async rangeOf(epoch: string, from: number, to: number): Promise<StoredMessage[]> {
    return this.range(this.#d.names.streamPrefix + epoch, from, to);
  }
}
