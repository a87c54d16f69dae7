/**
 * Per-topic ordering of positioned events on the receiving node. A message with history is stored
 * first (JetStream gives it its offset) and fanned out after, on core NATS: two nodes publishing
 * on one topic may have their fan-out copies arrive out of offset order, and a node that dies
 * between storing and fanning out leaves a hole. The node must deliver offsets in order
 * (src/engines/engine.ts), so a copy that comes early is held until its predecessors arrive; after
 * `waitMs` the missing ones are read from the stream (where every stored message is) and delivered,
 * and what the stream no longer holds is skipped (the subscriber then sees a gap, never a
 * reordering). Pure bookkeeping: delivery and the stream read are given.
 */
import type { EngineEvent, StoredMessage } from '../engine.js';

type Msg = Extract<EngineEvent, { kind: 'msg' }>;

/** What one {@link TopicOrder} needs. */
export interface TopicOrderDeps {
  /** Delivers an event to the node, in order. */
  deliver(event: EngineEvent): void;
  /** Reads the stored messages of `epoch` with offsets `from`..`to` (fewer when some are gone). */
  read(epoch: string, from: number, to: number): Promise<StoredMessage[]>;
  /** How long an early event waits for its predecessors before they are read from the stream. */
  waitMs: number;
  onError(err: unknown): void;
}

/** Beyond this many held events the stream is read at once instead of waiting. */
const MAX_HELD = 10_000;

/** The ordering state of one topic on one node. */
export class TopicOrder {
  readonly #d: TopicOrderDeps;
  /** The epoch being delivered (`undefined` until the first positioned event or baseline). */
  #epoch: string | undefined;
  /** The next offset to deliver. */
  #next = 1;
  readonly #held = new Map<number, Msg>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #filling = false;
  #closed = false;
  /** Until the first {@link baseline}, positioned events are held (nothing is known to fill). */
  #based = false;

  constructor(deps: TopicOrderDeps) {
    this.#d = deps;
  }

  /**
   * Sets where delivery continues: after `last` of `epoch` (the stream's top, read after the
   * fan-out subscription took effect, when the node subscribed or reconnected), or from offset 1
   * of whatever epoch comes first when the topic has no stream yet. Held events at or before it
   * are dropped (stored before the read: the node's history read covers them); later ones go on.
   */
  baseline(epoch: string | undefined, last: number): void {
    this.#based = true;
    if (epoch !== undefined && this.#epoch !== undefined && epoch !== this.#epoch) this.#held.clear();
    this.#epoch = epoch ?? this.#epoch;
    this.#next = last + 1;
    for (const o of [...this.#held.keys()]) if (o < this.#next) this.#held.delete(o);
    this.#drain();
    if (this.#held.size) this.#arm();
  }

  /** Takes an event from the fan-out subject. */
  accept(event: EngineEvent): void {
    if (this.#closed) return;
    if (event.kind !== 'msg' || event.meta.offset === undefined || event.meta.epoch === undefined) {
      this.#d.deliver(event); // no position: nothing to order
      return;
    }
    const { epoch, offset } = event.meta;
    if (!this.#based) {
      if (this.#epoch !== undefined && epoch !== this.#epoch) this.#held.clear();
      this.#epoch = epoch;
      this.#held.set(offset, event);
      return;
    }
    if (this.#epoch === undefined) this.#epoch = epoch;
    else if (epoch !== this.#epoch) {
      // The topic's stream was replaced (its data was lost): what is held of the old epoch goes
      // first, in order, then the new epoch from its start.
      this.#flushHeld();
      this.#epoch = epoch;
      this.#next = 1;
    }
    if (offset < this.#next) return; // already delivered
    if (offset === this.#next) {
      this.#next++;
      this.#d.deliver(event);
      this.#drain();
      return;
    }
    this.#held.set(offset, event);
    if (this.#held.size > MAX_HELD) void this.#fill();
    else this.#arm();
  }

  /** Delivers held events that continue the sequence. */
  #drain(): void {
    for (let e = this.#held.get(this.#next); e; e = this.#held.get(this.#next)) {
      this.#held.delete(this.#next);
      this.#next++;
      this.#d.deliver(e);
    }
    if (this.#held.size === 0) this.#disarm();
  }

  /** Delivers everything held, in offset order, whatever is missing between. */
  #flushHeld(): void {
    for (const o of [...this.#held.keys()].sort((a, b) => a - b)) {
      const e = this.#held.get(o)!;
      this.#held.delete(o);
      if (o >= this.#next) {
        this.#next = o + 1;
        this.#d.deliver(e);
      }
    }
    this.#disarm();
  }

  #arm(): void {
    if (this.#timer || this.#filling) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#fill();
    }, this.#d.waitMs);
    this.#timer.unref?.();
  }

  #disarm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Reads the missing offsets before the first held event from the stream, then goes on. */
  async #fill(): Promise<void> {
    if (this.#filling || this.#closed || this.#held.size === 0) return;
    this.#filling = true;
    this.#disarm();
    const epoch = this.#epoch!;
    const first = Math.min(...this.#held.keys());
    let found: StoredMessage[] = [];
    try {
      found = await this.#d.read(epoch, this.#next, first - 1);
    } catch (err) {
      this.#d.onError(err);
    } finally {
      this.#filling = false;
    }
    if (this.#closed || epoch !== this.#epoch) return;
    for (const m of found) {
      if (m.meta.offset !== this.#next) continue; // only what continues the sequence, in order
      this.#next++;
      this.#d.deliver({ kind: 'msg', data: m.data, meta: m.meta, ...(m.skip ? { skip: m.skip } : {}) });
    }
    // What the stream does not hold any more is skipped: the first held event follows (a gap).
    const lowest = this.#held.size ? Math.min(...this.#held.keys()) : this.#next;
    if (lowest > this.#next) this.#next = lowest;
    this.#drain();
    if (this.#held.size) this.#arm();
  }

  close(): void {
    this.#closed = true;
    this.#held.clear();
    this.#disarm();
  }
}
