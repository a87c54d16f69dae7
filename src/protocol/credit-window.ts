/**
 * Credit-based flow control (docs/protocol.md §2.3), written once for both ends. The consumer of a
 * stream grants `credit`, the producer sends at most that many items: a {@link SendWindow} is the
 * producer's count (the server for `stream`, the client for `upload`), a {@link ReceiveWindow} the
 * consumer's (the client for `stream`, the server for `upload`). Pure: the callers send the frames.
 */
import { isCredit, MAX_CREDIT } from './frames.js';

/** The producer's side: items it may still send. */
export class SendWindow {
  #credit: number;

  /** @param initial the credit the consumer granted when the stream opened (0 for an upload: the server grants first) */
  constructor(initial = 0) {
    this.#credit = isCredit(initial) ? initial : 0;
  }

  /** Items that may be sent now. */
  get available(): number {
    return this.#credit;
  }

  /**
   * Adds a grant. A malformed one (not an integer from 1 to 2^31−1) changes nothing and returns
   * false. The sum stops at 2^53−1: a peer granting forever cannot overflow it.
   */
  grant(n: unknown): boolean {
    if (!isCredit(n)) return false;
    this.#credit = Math.min(this.#credit + n, Number.MAX_SAFE_INTEGER);
    return true;
  }

  /** Takes credit for `count` items; false (and nothing taken) when that is more than granted. */
  take(count = 1): boolean {
    if (count > this.#credit) return false;
    this.#credit -= count;
    return true;
  }
}

/**
 * The consumer's side: grants `highWaterMark` items up front, then re-grants in halves of the
 * window as items are consumed, so the producer never idles and never runs more than
 * `highWaterMark` items ahead. It also tells when the producer sent more than it was granted.
 */
export class ReceiveWindow {
  readonly highWaterMark: number;
  /** Granted and not yet received. */
  #outstanding = 0;
  /** Consumed since the last re-grant. */
  #consumed = 0;

  /** @param highWaterMark items the producer may run ahead; more than one frame can grant (2^31−1) is granted as that */
  constructor(highWaterMark: number) {
    if (!Number.isSafeInteger(highWaterMark) || highWaterMark < 1) throw new TypeError('highWaterMark must be a positive integer');
    this.highWaterMark = Math.min(highWaterMark, MAX_CREDIT);
  }

  /** The first grant (the `credit` of `stream`, or the server's first `credit` for an upload). */
  open(): number {
    this.#outstanding = this.highWaterMark;
    return this.highWaterMark;
  }

  /** Items granted and not yet received. */
  get outstanding(): number {
    return this.#outstanding;
  }

  /**
   * Counts `count` items that arrived. False (and nothing counted) when they exceed what was
   * granted: the producer ignores flow control.
   */
  receive(count: number): boolean {
    if (count > this.#outstanding) return false;
    this.#outstanding -= count;
    return true;
  }

  /**
   * One item was handed to the application. Returns the credit to grant now: 0 until half the
   * window was consumed, then everything consumed since the last grant (which counts as granted).
   */
  consume(): number {
    if (++this.#consumed < Math.ceil(this.highWaterMark / 2)) return 0;
    const n = this.#consumed;
    this.#consumed = 0;
    this.#outstanding += n;
    return n;
  }
}
