/**
 * The client side of streams (docs/protocol.md §2.3): `client.stream` yields a server's items as an
 * async iterable, granting credit as the consumer reads so the producer never runs more than
 * `highWaterMark` items ahead; `client.upload` sends an iterable's items within the server's credit.
 */
import { ReceiveWindow, SendWindow } from '../protocol/credit-window.js';
import * as ErrorCode from '../protocol/error-code-values.js';
import { frameToError } from '../protocol/error-frame.js';
import { SwitchboardError } from '../protocol/errors.js';
import type { CreditFrame, EndFrame, ErrFrame, ItemFrame } from '../protocol/frames.js';
import type { Connection } from './connection.js';
import { aborted, type RequestTable, type Transmit } from './requests.js';

export interface StreamOptions {
  /** Cancels the stream; the iterator then rejects with `ABORTED`. */
  signal?: AbortSignal;
  /** Items the server may send ahead of the consumer (the credit window). @default 64 */
  highWaterMark?: number;
  /** How long to wait for the connection to open before the stream starts, in ms. @default the client's `timeoutMs` */
  timeoutMs?: number;
}

export interface UploadOptions<Input = unknown> {
  /** Parameters for the server's handler. */
  input?: Input;
  /** Cancels the upload; it rejects with `ABORTED` and the handler's items throw. */
  signal?: AbortSignal;
  /** Deadline for the whole upload, in ms. @default none */
  timeoutMs?: number;
}

/** What `client.stream` returns: an async iterable (for `for await`) that can also be cancelled. */
export interface StreamReader<T> extends AsyncIterableIterator<T> {
  /** Stops the stream: the server's handler is aborted; the iterator ends. */
  cancel(): void;
}

/** What the stream machinery uses of the connection. */
export type StreamConnection = Pick<Connection, 'state' | 'transmit' | 'whenOpen' | 'ended'>;

/** A live stream (`item`, `end`, `fail`) or upload (`credit`): what its server frames do, by frame kind. */
interface Live {
  item?(f: ItemFrame): void;
  end?(): void;
  /** Streams only: uploads settle through the request table (their `ok`/`err`). */
  fail?(err: SwitchboardError): void;
  credit?(f: CreditFrame): void;
}


/** Creates the stream table of one client; streams wait for the connection up to `defaultTimeoutMs` by default. */
export function createClientStreams(requests: RequestTable, connection: StreamConnection, defaultTimeoutMs: number) {
  const isOpen = () => connection.state === 'open';
  const live = new Map<number, Live>();
  /** Sends a frame if the connection is open; flow-control frames for a dead connection are moot. */
  const sendIfOpen = (frame: Parameters<Transmit>[0] | { t: string; id: number; [k: string]: unknown }) =>
    isOpen() ? connection.transmit(frame as Parameters<Transmit>[0]) : undefined;

  function stream<T>(name: string, input: unknown, opts: StreamOptions = {}): StreamReader<T> {
    const flow = new ReceiveWindow(opts.highWaterMark ?? 64); // throws the TypeError for a bad highWaterMark
    const queue: T[] = [];
    let id: number | undefined;
    let finished = false; // no more items will arrive
    let failure: SwitchboardError | undefined;
    let waiter: { resolve(r: IteratorResult<T>): void; reject(e: unknown): void } | undefined;

    /**
     * Ends the stream once: with `err` the iterator rejects (after the items that did arrive), else
     * it ends. `cancelled` (by the app): the server is told, and what is buffered is dropped — an
     * abort rejects with ABORTED now, not after up to highWaterMark more items.
     */
    const finish = (err?: SwitchboardError, cancelled?: boolean) => {
      if (finished) return;
      if (cancelled) {
        if (id !== undefined) sendIfOpen({ t: 'cancel', id });
        queue.length = 0;
      }
      finished = true;
      failure = err;
      if (id !== undefined) live.delete(id);
      opts.signal?.removeEventListener('abort', onAbort);
      // A waiter exists only while the queue is empty: nothing more will come.
      if (err) waiter?.reject(err);
      else waiter?.resolve({ value: undefined, done: true });
      waiter = undefined;
    };
    const cancel = () => finish(undefined, true);
    const onAbort = () => finish(aborted(), true);
    /** Hands an item to the consumer and re-grants credit in halves of the window. */
    const take = (value: T): IteratorResult<T> => {
      const n = flow.consume();
      if (n > 0 && !finished && id !== undefined) sendIfOpen({ t: 'credit', id, n });
      return { value, done: false };
    };

    if (opts.signal?.aborted) finish(aborted());
    else {
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      connection
        .whenOpen(opts.timeoutMs ?? defaultTimeoutMs, opts.signal)
        .then(() => {
          if (finished) return;
          // close() in the same tick: whenOpen resolved before the client stopped.
          if (!isOpen()) return finish(connection.ended());
          id = requests.reserveId();
          live.set(id, {
            item(f) {
              for (const item of f.items as T[]) {
                if (waiter) {
                  const w = waiter;
                  waiter = undefined;
                  w.resolve(take(item));
                } else queue.push(item);
              }
            },
            end: () => finish(),
            fail: finish,
          });
          const err = connection.transmit({ t: 'stream', id, name, credit: flow.open(), ...(input === undefined ? {} : { input }) } as never);
          if (err) finish(err);
        })
        .catch((err: unknown) => finish(err instanceof SwitchboardError ? err : new SwitchboardError(ErrorCode.INTERNAL, String(err))));
    }

    const reader: StreamReader<T> = {
      next() {
        if (queue.length > 0) return Promise.resolve(take(queue.shift() as T));
        if (failure) return Promise.reject(failure);
        if (finished) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => (waiter = { resolve, reject }));
      },
      return() {
        cancel();
        return Promise.resolve({ value: undefined, done: true });
      },
      cancel,
      [Symbol.asyncIterator]() {
        return reader;
      },
    };
    return reader;
  }

  async function upload<Item, Output>(
    name: string,
    items: AsyncIterable<Item> | Iterable<Item>,
    opts: UploadOptions = {},
  ): Promise<Output> {
    await connection.whenOpen(opts.timeoutMs ?? defaultTimeoutMs, opts.signal);
    const id = requests.reserveId();
    // The server grants first; a malformed grant from it is ignored.
    const flow = new SendWindow();
    let finished = false;
    let wake: (() => void) | undefined;
    live.set(id, { credit: (f) => (flow.grant(f.n), wake?.()) });
    const cancel = () => sendIfOpen({ t: 'cancel', id });
    const finish = (tellServer: boolean) => {
      if (tellServer) cancel();
      finished = true;
      live.delete(id);
      opts.signal?.removeEventListener('abort', cancel);
      wake?.();
    };
    opts.signal?.addEventListener('abort', cancel, { once: true });
    const done = requests
      .request(
        { t: 'upload', name, ...(opts.input === undefined ? {} : { input: opts.input }) },
        { timeoutMs: opts.timeoutMs ?? Infinity, signal: opts.signal, id, direct: true },
        isOpen() ? connection.transmit : undefined,
      )
      .then(
        (output) => (finish(false), output),
        (err: SwitchboardError) => {
          // The server answers ok/err itself; a TIMEOUT (or a local failure) leaves its handler
          // running and holding a maxPendingCalls slot unless it is told to stop.
          finish(err.code === ErrorCode.TIMEOUT || err.code === ErrorCode.ABORTED);
          throw err;
        },
      );
    done.catch(() => {});
    const pump = (async () => {
      for await (const item of items) {
        while (flow.available === 0 && !finished) await new Promise<void>((r) => (wake = r));
        if (finished) return; // `for await` closes the iterable
        const err = connection.transmit({ t: 'item', id, items: [item] } as never);
        if (err) throw err;
        flow.take();
      }
      if (!finished) sendIfOpen({ t: 'end', id });
    })();
    return new Promise<Output>((resolve, reject) => {
      done.then((v) => resolve(v as Output), reject);
      pump.catch((err: unknown) => {
        // The iterable threw or an item could not be sent: stop the server side too.
        finish(!finished);
        reject(err);
        // The server answers nothing for a cancelled upload (§2.3): settle its request here, or
        // its timer and signal listeners would outlive the upload until the connection closes.
        requests.settle(id, aborted());
      });
    });
  }

  return {
    stream,
    upload,
    /**
     * Routes a server frame of a stream or upload (`item`, `end`, `credit`); frames for an id that
     * is not live are ignored. An `err` frame for a live stream fails it; for any other id, `false`.
     */
    frame(f: ItemFrame | EndFrame | CreditFrame | ErrFrame): boolean {
      const s = live.get(f.id);
      if (f.t !== 'err') {
        (s?.[f.t] as ((f: never) => void) | undefined)?.(f as never);
        return true;
      }
      s?.fail?.(frameToError(f));
      return !!s?.fail;
    },
    /** The connection dropped or the client closed: every stream fails with `err`. */
    failAll(err: SwitchboardError): void {
      for (const s of [...live.values()]) s.fail?.(err);
    },
  };
}

/** The client's stream table. */
export type ClientStreams = ReturnType<typeof createClientStreams>;
