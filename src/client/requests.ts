/**
 * Outgoing requests (call, sub, unsub, pub, presence): ids, timeouts, cancellation, and the bounded
 * queue that holds requests made while the client is not open. Nothing is dropped silently: every
 * request settles exactly once, with its answer or a coded error.
 */
import * as ErrorCode from '../protocol/error-code-values.js';
import { frameToError } from '../protocol/error-frame.js';
import { SwitchboardError } from '../protocol/errors.js';
import type { ErrFrame } from '../protocol/frames.js';
import { MAX_TIMER_MS } from '../shared/options.js';

/** A request frame without its id; the table assigns one. */
export type RequestBody = { t: 'call' | 'sub' | 'unsub' | 'pub' | 'presence' | 'auth' | 'upload' } & Record<string, unknown>;

export interface RequestOptions {
  /** Deadline counted from the request, in ms; `Infinity` for none. */
  timeoutMs: number;
  /** An id from {@link RequestTable.reserveId}, for requests whose id must be known up front (uploads). */
  id?: number;
  /** Cancels the request while queued or in flight. */
  signal?: AbortSignal | undefined;
  /** Skip the queue: requests the client re-sends itself on open (resubscribe) must not wait in it. */
  direct?: boolean;
}

interface Entry {
  id: number;
  body: RequestBody;
  resolve(v: unknown): void;
  reject(e: SwitchboardError): void;
  timer: ReturnType<typeof setTimeout> | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  sent: boolean;
  /** Sent at least once (a keyed call re-queued after a disconnect). */
  everSent?: boolean;
}

/** Sends an encoded frame; returns an error when it cannot be sent (too large). */
export type Transmit = (frame: RequestBody & { id: number }) => SwitchboardError | undefined;

export class RequestTable {
  #nextId = 1;
  readonly #inFlight = new Map<number, Entry>();
  readonly #queue: Entry[] = [];
  readonly #maxQueue: number;

  constructor(maxQueue: number) {
    this.#maxQueue = maxQueue;
  }

  /** Takes an id from the request id space (streams share it with requests). */
  reserveId(): number {
    return this.#nextId++;
  }

  /** Queued plus in-flight requests. */
  get size(): number {
    return this.#inFlight.size + this.#queue.length;
  }

  /**
   * Starts a request. With `transmit` (the client is open) it goes out now; without, it waits in
   * the queue or rejects with `QUEUE_FULL`.
   */
  request(body: RequestBody, opts: RequestOptions, transmit: Transmit | undefined): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) return reject(new SwitchboardError(ErrorCode.ABORTED, 'Request aborted'));
      if (!transmit && !opts.direct && this.#queue.length >= this.#maxQueue) {
        return reject(new SwitchboardError(ErrorCode.QUEUE_FULL, `Offline queue is full (${this.#maxQueue} requests)`));
      }
      const entry: Entry = {
        id: opts.id ?? this.#nextId++,
        body,
        resolve,
        reject,
        signal: opts.signal,
        onAbort: undefined,
        sent: false,
        timer: undefined,
      };
      // `Infinity`, or more than a timer holds (it would fire at once), is no deadline.
      if (opts.timeoutMs <= MAX_TIMER_MS) {
        entry.timer = setTimeout(
          () => this.#settleError(entry, new SwitchboardError(ErrorCode.TIMEOUT, `No answer within ${opts.timeoutMs} ms`)),
          opts.timeoutMs,
        );
      }
      if (opts.signal) {
        entry.onAbort = () => this.#settleError(entry, new SwitchboardError(ErrorCode.ABORTED, 'Request aborted'));
        opts.signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      if (transmit) this.#send(entry, transmit);
      else if (opts.direct) this.#settleError(entry, new SwitchboardError(ErrorCode.DISCONNECTED, 'Not connected'));
      else this.#queue.push(entry);
    });
  }

  /** Sends every queued request, in order (called on open). */
  flush(transmit: Transmit): void {
    for (const entry of this.#queue.splice(0)) this.#send(entry, transmit);
  }

  /** Settles the request a server answer is for; answers to unknown ids (timed out) are ignored. */
  answer(id: number, ok: boolean, frame: { output?: unknown } | ErrFrame): void {
    const entry = this.#inFlight.get(id);
    if (!entry) return;
    if (ok) {
      this.#cleanup(entry);
      entry.resolve((frame as { output?: unknown }).output);
    } else {
      this.#settleError(entry, frameToError(frame as ErrFrame));
    }
  }

  /**
   * The connection dropped: requests already sent may or may not have run, so they fail, except
   * calls with an idempotency key: the server runs those once however often they arrive, so they
   * go back to the front of the queue, in their original order, to be sent again on open (§2.8).
   */
  disconnected(): void {
    const again: Entry[] = [];
    for (const entry of [...this.#inFlight.values()]) {
      if (entry.body.t === 'call' && entry.body.key !== undefined) {
        this.#inFlight.delete(entry.id);
        entry.sent = false;
        again.push(entry);
      } else {
        this.#settleError(entry, new SwitchboardError(ErrorCode.DISCONNECTED, 'Connection lost before the answer arrived'));
      }
    }
    // Keyed calls were accepted already: they do not count against maxQueue a second time.
    this.#queue.unshift(...again);
  }

  /**
   * The client is closed for good: everything still pending fails with `err`, or with `sentErr`
   * when it was sent before (a keyed call waiting to be re-sent may have run).
   */
  rejectAll(err: SwitchboardError, sentErr: SwitchboardError = err): void {
    for (const entry of [...this.#queue, ...this.#inFlight.values()]) this.#settleError(entry, entry.everSent ? sentErr : err);
  }

  #send(entry: Entry, transmit: Transmit): void {
    const err = transmit({ ...entry.body, id: entry.id });
    if (err) return this.#settleError(entry, err);
    entry.sent = true;
    entry.everSent = true;
    this.#inFlight.set(entry.id, entry);
  }

  #cleanup(entry: Entry): void {
    clearTimeout(entry.timer);
    if (entry.onAbort) entry.signal?.removeEventListener('abort', entry.onAbort);
    if (entry.sent) this.#inFlight.delete(entry.id);
    else {
      const i = this.#queue.indexOf(entry);
      if (i >= 0) this.#queue.splice(i, 1);
    }
  }

  #settleError(entry: Entry, err: SwitchboardError): void {
    this.#cleanup(entry);
    entry.reject(err);
  }
}
