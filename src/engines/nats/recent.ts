/**
 * The recent messages of a topic this node carries: the contiguous run of the last ones it
 * delivered (at most the topic's `size`, each until its TTL), ending at the last one. A history
 * read that this run can answer — a subscriber coming back with `since` a moment after a cut, or a
 * first subscriber's `history: N` — is answered here instead of by a JetStream read: the answer's
 * top is the last message delivered, and what comes after it reaches the node (in order) after the
 * answer, as the node expects of any engine. Anything the run cannot answer goes to the stream.
 */
import type { StreamPosition } from '../../protocol/frames.js';
import type { HistoryQuery, HistoryResult, StoredMessage } from '../engine.js';

interface Item {
  m: StoredMessage;
  expiresAt: number;
}

export class RecentMessages {
  #epoch: string | undefined;
  /** Offset of the last message delivered (or of the baseline). */
  #top = 0;
  #items: Item[] = [];
  #head = 0;
  /** A message expires before an earlier one (their TTLs differ): then the stream answers reads. */
  #unordered = false;

  /** Delivery continues after `top` of `epoch`: what is kept stays only if it ends right there. */
  reset(epoch: string | undefined, top: number): void {
    if (epoch === this.#epoch && top === this.#top) return;
    this.#epoch = epoch;
    this.#top = top;
    this.#items = [];
    this.#head = 0;
    this.#unordered = false;
  }

  /** A message the node was given, with the size and TTL its topic has (`undefined`: not known). */
  push(m: StoredMessage, limits: { size: number; ttlMs: number } | undefined, now: number): void {
    const { epoch, offset } = m.meta;
    if (epoch !== this.#epoch || offset !== this.#top + 1 || !limits) {
      // Not a continuation (a skipped stretch, a new epoch), or limits unknown: start over after it.
      this.reset(epoch, offset);
      if (!limits) return;
    }
    this.#top = offset;
    const expiresAt = now + limits.ttlMs;
    const last = this.#items[this.#items.length - 1];
    if (last && this.#items.length > this.#head && expiresAt < last.expiresAt) this.#unordered = true;
    this.#items.push({ m, expiresAt });
    const excess = this.#items.length - this.#head - limits.size;
    if (excess > 0) this.#head += excess;
    if (this.#head > 1_024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }

  /**
   * The answer to `q` from the kept run, or `undefined` when only the stream can answer it. Costs
   * what it returns: a reader coming back after a cut is answered often.
   */
  answer(q: HistoryQuery, now: number): HistoryResult | undefined {
    if (this.#epoch === undefined || this.#unordered) return undefined;
    while (this.#head < this.#items.length && this.#items[this.#head]!.expiresAt <= now) this.#head++;
    const count = this.#items.length - this.#head;
    const top: StreamPosition = { epoch: this.#epoch, offset: this.#top };
    const first = count ? this.#items[this.#head]!.m.meta.offset : this.#top + 1;
    const from = (offset: number) => this.#items.slice(this.#head + (offset - first)).map((i) => i.m);
    const limit = q.limit ?? 0;
    if (!q.since) {
      if (limit === 0) return { top, messages: [] };
      return count >= limit || first === 1 ? { top, messages: from(Math.max(first, this.#top - limit + 1)) } : undefined;
    }
    const { since } = q;
    if (since.epoch !== this.#epoch || since.offset > this.#top) return undefined;
    if (since.offset === this.#top) return { top, messages: [], recovered: true };
    if (since.offset + 1 >= first) return { top, messages: from(since.offset + 1), recovered: true };
    return undefined;
  }
}
