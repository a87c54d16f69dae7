/**
 * The store behind `useStream`: one `client.stream` per client, name and input, shared by the hooks
 * that ask for the same, with its newest items in a rolling window. A stream a lost connection
 * ended is opened again when the client is open again (streams are not resumed by the client:
 * docs/streams.md); one the server ended or refused stays ended.
 */
import { RingBuffer } from '../client/buffers.js';
import type { StreamReader } from '../client/streams.js';
import type { Client } from '../client/types.js';
import * as ErrorCode from '../protocol/error-code-values.js';
import { SwitchboardError } from '../protocol/errors.js';
import { ExternalStore } from './external-store.js';
import type { Resource } from './shared-resources.js';

/** A stream's state as the hooks see it. A new object whenever something in it changed. */
export interface StreamSnapshot<T = unknown> {
  /** The newest items, oldest first, at most the largest `window` asked for. */
  readonly items: readonly T[];
  /** The newest item. */
  readonly last: T | undefined;
  /** Items received since the hook's stream first opened (across re-openings). */
  readonly received: number;
  /** The server ended the stream (its handler returned). */
  readonly done: boolean;
  /** Why the stream ended, when it failed; a lost connection's `DISCONNECTED` shows until it is open again. */
  readonly error: SwitchboardError | undefined;
  /** How many times the stream was opened (1, then once more after each reconnect). */
  readonly opened: number;
}

/** Before there is a stream. */
export const IDLE_STREAM: StreamSnapshot<never> = Object.freeze({
  items: Object.freeze([]) as readonly never[],
  last: undefined,
  received: 0,
  done: false,
  error: undefined,
  opened: 0,
});

/** Options fixed when the shared stream opens. */
export interface StreamStoreOptions {
  highWaterMark: number | undefined;
  reopen: boolean;
}

/** One stream's store. */
export class StreamStore extends ExternalStore {
  #snapshot: StreamSnapshot = IDLE_STREAM;
  #ring: RingBuffer<unknown>;
  #stale = false;
  #reader: StreamReader<unknown> | undefined;
  #disposed = false;
  #offOpen: (() => void) | undefined;
  /** Notifications wait for the end of the task: a burst of items costs one render. */
  #notifyTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly client: Client,
    private readonly name: string,
    private readonly input: unknown,
    capacity: number,
    private readonly opts: StreamStoreOptions,
  ) {
    super();
    this.#ring = new RingBuffer(capacity);
    this.#open();
  }

  readonly getSnapshot = (): StreamSnapshot => {
    if (this.#stale) {
      this.#stale = false;
      this.#snapshot = { ...this.#snapshot, items: this.#ring.toArray() };
    }
    return this.#snapshot;
  };

  /** Keeps at least the newest `capacity` items from now on. */
  grow(capacity: number): void {
    if (capacity <= this.#ring.capacity) return;
    const ring = new RingBuffer<unknown>(capacity);
    for (const m of this.#ring) ring.push(m);
    this.#ring = ring;
    this.#stale = true;
  }

  #open(): void {
    const reader = this.client.stream(this.name as never, this.input as never, this.opts.highWaterMark === undefined ? {} : { highWaterMark: this.opts.highWaterMark });
    this.#reader = reader;
    this.#set({ opened: this.#snapshot.opened + 1, done: false, error: undefined });
    void this.#pump(reader);
  }

  async #pump(reader: StreamReader<unknown>): Promise<void> {
    try {
      for (;;) {
        const r = await reader.next();
        if (this.#disposed || reader !== this.#reader) return;
        if (r.done) return this.#set({ done: true });
        this.#ring.push(r.value);
        this.#stale = true;
        this.#snapshot = { ...this.#snapshot, last: r.value, received: this.#snapshot.received + 1 };
        this.#scheduleNotify();
      }
    } catch (e) {
      if (this.#disposed || reader !== this.#reader) return;
      const err = e instanceof SwitchboardError ? e : new SwitchboardError(ErrorCode.INTERNAL, String(e));
      this.#set({ error: err });
      // The connection went: the server aborted the handler (docs/protocol.md §2.3). Open it
      // again on the next open, unless the client stopped for good.
      // A stream that waited past its deadline for a connection that is not open yet: likewise.
      const lost = err.code === ErrorCode.DISCONNECTED || (err.code === ErrorCode.TIMEOUT && this.client.state !== 'open');
      if (this.opts.reopen && lost && this.client.state !== 'closed') {
        if (this.client.state === 'open') return this.#open();
        this.#offOpen = this.client.on('open', () => {
          this.#offOpen?.();
          this.#offOpen = undefined;
          if (!this.#disposed) this.#open();
        });
      }
    }
  }

  #scheduleNotify(): void {
    this.#notifyTimer ??= setTimeout(() => {
      this.#notifyTimer = undefined;
      this.notify();
    }, 0);
  }

  #set(patch: Partial<StreamSnapshot>): void {
    this.#snapshot = { ...this.#snapshot, ...patch };
    clearTimeout(this.#notifyTimer);
    this.#notifyTimer = undefined;
    this.notify();
  }

  dispose(): void {
    this.#disposed = true;
    clearTimeout(this.#notifyTimer);
    this.#offOpen?.();
    this.#reader?.cancel();
  }
}

/** The shared resource of a stream. */
export function streamResource(client: Client, name: string, input: unknown, capacity: number, opts: StreamStoreOptions): Resource<StreamStore> {
  const store = new StreamStore(client, name, input, capacity, opts);
  return { store, dispose: () => store.dispose() };
}
