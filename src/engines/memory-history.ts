/**
 * Topic history for the in-memory engine: per topic, the last `size` messages for `ttlMs` each,
 * with the positions the protocol promises (docs/protocol.md §2.7).
 */
import type { MessageMeta, StreamPosition } from '../protocol/frames.js';
import { newEpoch, type HistoryOptions, type HistoryQuery, type HistoryResult, type StoredMessage } from './engine.js';

interface Entry extends StoredMessage {
  expiresAt: number;
}

interface TopicStream {
  epoch: string;
  /** Offset of the last message published (0 before the first). */
  offset: number;
  /** Kept messages, oldest first, from `head` on (a moving start avoids shifting the array). */
  items: Entry[];
  head: number;
  /** When the stream was last published to or read, for dropping idle streams. */
  touchedAt: number;
}

/** The history of every topic one in-memory engine has seen. */
export class MemoryHistory {
  readonly #streams = new Map<string, TopicStream>();
  readonly #idleTtlMs: number;

  /** @param idleTtlMs how long an idle stream keeps its epoch and offset after its last message expired */
  constructor(idleTtlMs: number) {
    this.#idleTtlMs = idleTtlMs;
  }

  #stream(topic: string, now: number): TopicStream {
    let s = this.#streams.get(topic);
    if (!s) this.#streams.set(topic, (s = { epoch: newEpoch(), offset: 0, items: [], head: 0, touchedAt: now }));
    s.touchedAt = now;
    return s;
  }

  /** Gives a message its position and keeps it. */
  append(topic: string, data: unknown, meta: MessageMeta, opts: HistoryOptions, now: number, skip?: string): StoredMessage {
    const s = this.#stream(topic, now);
    s.offset++;
    const entry: Entry = { data, meta: { ...meta, epoch: s.epoch, offset: s.offset }, expiresAt: now + opts.ttlMs, ...(skip ? { skip } : {}) };
    s.items.push(entry);
    const excess = s.items.length - s.head - opts.size;
    if (excess > 0) s.head += excess;
    trim(s, now);
    return { data: entry.data, meta: entry.meta };
  }

  /** Answers a subscriber's query; creates the stream so its position stays comparable later. */
  read(topic: string, query: HistoryQuery, now: number): HistoryResult {
    const s = this.#stream(topic, now);
    trim(s, now);
    const top: StreamPosition = { epoch: s.epoch, offset: s.offset };
    const count = s.items.length - s.head;
    const first = count > 0 ? (s.items[s.head] as Entry).meta.offset : s.offset + 1;
    const slice = (fromOffset: number) =>
      s.items.slice(s.head + (fromOffset - first)).map(({ data, meta, skip }) => (skip ? { data, meta, skip } : { data, meta }));
    const last = (n: number) => (n > 0 ? slice(Math.max(first, s.offset - n + 1)) : []);
    const { since, limit } = query;
    if (since) {
      if (since.epoch !== s.epoch) return { top, messages: limit ? last(limit) : [], recovered: false, reason: 'epoch' };
      if (since.offset > s.offset || first > since.offset + 1) {
        return { top, messages: limit ? last(limit) : [], recovered: false, reason: 'window' };
      }
      return { top, messages: since.offset === s.offset ? [] : slice(since.offset + 1), recovered: true };
    }
    return { top, messages: limit ? last(limit) : [] };
  }

  /** Drops expired messages, and streams without messages or subscribers idle for longer than the idle TTL. */
  sweep(now: number, inUse: (topic: string) => boolean): void {
    for (const [topic, s] of this.#streams) {
      trim(s, now);
      if (s.items.length === s.head && now - s.touchedAt > this.#idleTtlMs && !inUse(topic)) this.#streams.delete(topic);
    }
  }

  clear(): void {
    this.#streams.clear();
  }
}

/** Drops expired messages from the start (they are in publish order) and compacts the array. */
function trim(s: TopicStream, now: number): void {
  while (s.head < s.items.length && (s.items[s.head] as Entry).expiresAt <= now) s.head++;
  if (s.head === s.items.length) {
    s.items = [];
    s.head = 0;
  } else if (s.head > 1_024 && s.head * 2 > s.items.length) {
    s.items = s.items.slice(s.head);
    s.head = 0;
  }
}
