/**
 * Outgoing requests (call, sub, unsub, pub, presence): ids, timeouts, cancellation, and the bounded
 * queue that holds requests made while the client is not open. Nothing is dropped silently: every
 * request settles exactly once, with its answer or a coded error.
 */
import * as ErrorCode from '../protocol/error-code-values.js';
import { SwitchboardError } from '../protocol/errors.js';
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
  /** Clears the deadline and the abort listener. */
  disarm(): void;
  /** Sent at least once (a keyed call re-queued after a disconnect). */
  everSent?: boolean;
}

/** The error of anything asked of a client after `client.close()`. */
export const clientClosed = (): SwitchboardError => new SwitchboardError(ErrorCode.CLOSED, 'Client closed');
/** The error of a request, stream, upload or wait whose `AbortSignal` fired: one text for all of them. */
export const aborted = (): SwitchboardError => new SwitchboardError(ErrorCode.ABORTED, 'Aborted');
/** The error of what was sent on (or needed) a connection that is gone: it may or may not have run. */
export const disconnected = (): SwitchboardError => new SwitchboardError(ErrorCode.DISCONNECTED, 'Connection lost before the answer arrived');

/** Sends an encoded frame; returns an error when it cannot be sent (too large). */
export type Transmit = (frame: RequestBody & { id: number }) => SwitchboardError | undefined;

/**
 * Arms what can end a pending operation early: a deadline (`Infinity`, or more than a timer holds —
 * it would fire at once — is none) and an abort signal. Returns the function that disarms both.
 */
export function arm(timeoutMs: number, onTimeout: () => void, signal: AbortSignal | undefined, onAbort: () => void): () => void {
  const timer = timeoutMs <= MAX_TIMER_MS ? setTimeout(onTimeout, timeoutMs) : undefined;
  signal?.addEventListener('abort', onAbort, { once: true });
  return () => {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  };
}

/** The request table of one client: ids, deadlines, cancellation and the offline queue. */
export interface RequestTable {
  /** Takes an id from the request id space (streams share it with requests). */
  reserveId(): number;
  /**
   * Starts a request. With `transmit` (the client is open) it goes out now; without, it waits in
   * the queue or rejects with `QUEUE_FULL`.
   */
  request(body: RequestBody, opts: RequestOptions, transmit: Transmit | undefined): Promise<unknown>;
  /** Sends every queued request, in order (called on open). */
  flush(transmit: Transmit): void;
  /**
   * Settles the request an answer is for — with `err`, or else with `output`; answers to unknown
   * ids (timed out) are ignored.
   */
  settle(id: number, err: SwitchboardError | undefined, output?: unknown): void;
  /**
   * The connection dropped: requests already sent may or may not have run, so they fail, except
   * calls with an idempotency key: the server runs those once however often they arrive, so they
   * go back to the front of the queue, in their original order, to be sent again on open (§2.8).
   */
  disconnected(): void;
  /**
   * The client is closed for good: everything still pending fails with `err`, or with `sentErr`
   * when it was sent before (a keyed call waiting to be re-sent may have run).
   */
  rejectAll(err: SwitchboardError, sentErr: SwitchboardError): void;
}

/** Creates the request table of one client; at most `maxQueue` requests wait while it is not open. */
export function createRequestTable(maxQueue: number, offlineCause?: () => SwitchboardError | undefined): RequestTable {
  return new Requests(maxQueue, offlineCause);
}

/**
 * A class with its map made on first use: an idle client of a load generator holds neither
 * closures nor an empty map for it (docs/performance.md, "Idle connections").
 */
class Requests implements RequestTable {
  #nextId = 1;
  #inFlight: Map<number, Entry> | undefined;
  readonly #queue: Entry[] = [];

  readonly #maxQueue: number;
  /** Why the client is not connected (the last failed attempt), for a request that timed out unsent. */
  readonly #offlineCause: (() => SwitchboardError | undefined) | undefined;

  constructor(maxQueue: number, offlineCause?: () => SwitchboardError | undefined) {
    this.#maxQueue = maxQueue;
    this.#offlineCause = offlineCause;
  }

  /** TIMEOUT; for a request still waiting for a connection, naming why there is none (docs/client.md). */
  #timeout(entry: Entry, timeoutMs: number): SwitchboardError {
    const cause = this.#queue.includes(entry) ? this.#offlineCause?.() : undefined;
    if (!cause) return new SwitchboardError(ErrorCode.TIMEOUT, `No answer within ${timeoutMs} ms`);
    return new SwitchboardError(ErrorCode.TIMEOUT, `No answer within ${timeoutMs} ms: not connected (${cause.code}: ${cause.message})`, { cause });
  }

  #fail(entry: Entry, err: SwitchboardError): void {
    entry.disarm();
    // In flight or queued (an id belongs to one entry): out of both. Requests wait in the queue only
    // while the client is not open, so the search is over an empty queue in the common case.
    this.#inFlight?.delete(entry.id);
    const i = this.#queue.indexOf(entry);
    if (i >= 0) this.#queue.splice(i, 1);
    entry.reject(err);
  }

  #send(entry: Entry, transmit: Transmit): void {
    const err = transmit({ ...entry.body, id: entry.id });
    if (err) return this.#fail(entry, err);
    entry.everSent = true;
    (this.#inFlight ??= new Map()).set(entry.id, entry);
  }

  reserveId(): number {
    return this.#nextId++;
  }

  request(body: RequestBody, opts: RequestOptions, transmit: Transmit | undefined): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (opts.signal?.aborted) return reject(aborted());
      if (!transmit && !opts.direct && this.#queue.length >= this.#maxQueue) {
        return reject(new SwitchboardError(ErrorCode.QUEUE_FULL, `Offline queue is full (${this.#maxQueue} requests)`));
      }
      const entry = { id: opts.id ?? this.#nextId++, body, resolve, reject } as Entry;
      entry.disarm = arm(
        opts.timeoutMs,
        () => this.#fail(entry, this.#timeout(entry, opts.timeoutMs)),
        opts.signal,
        () => this.#fail(entry, aborted()),
      );
      if (transmit) this.#send(entry, transmit);
      else if (opts.direct) this.#fail(entry, disconnected());
      else this.#queue.push(entry);
    });
  }

  flush(transmit: Transmit): void {
    for (const entry of this.#queue.splice(0)) this.#send(entry, transmit);
  }

  settle(id: number, err: SwitchboardError | undefined, output?: unknown): void {
    const entry = this.#inFlight?.get(id);
    if (!entry) return;
    if (err) return this.#fail(entry, err);
    entry.disarm();
    this.#inFlight!.delete(id);
    entry.resolve(output);
  }

  disconnected(): void {
    if (!this.#inFlight) return;
    const again: Entry[] = [];
    for (const entry of [...this.#inFlight.values()]) {
      if (entry.body.t === 'call' && entry.body.key !== undefined) {
        this.#inFlight.delete(entry.id);
        again.push(entry);
      } else {
        this.#fail(entry, disconnected());
      }
    }
    // Keyed calls were accepted already: they do not count against maxQueue a second time.
    this.#queue.unshift(...again);
  }

  rejectAll(err: SwitchboardError, sentErr: SwitchboardError): void {
    for (const entry of [...this.#queue, ...(this.#inFlight?.values() ?? [])]) this.#fail(entry, entry.everSent ? sentErr : err);
  }
}
