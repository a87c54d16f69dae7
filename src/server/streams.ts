/**
 * Streams with credit-based flow control (docs/protocol.md §2.3): server-to-client streams pull
 * the handler's iterable only while the consumer has granted credit, so a slow consumer slows the
 * generator instead of growing a buffer; uploads grant credit as the handler consumes. Cancellation
 * and disconnection abort the handler's signal and close its iterable (its `finally` runs).
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { CloseCode } from '../protocol/close-codes.js';
import { ReceiveWindow, SendWindow } from '../protocol/credit-window.js';
import { exceedsDepth, MAX_DEPTH } from '../protocol/depth.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { frameToError } from '../protocol/error-frame.js';
import { SwitchboardError } from '../protocol/errors.js';
import type { CreditFrame, ErrFrame, ItemFrame, StreamFrame, UploadFrame } from '../protocol/frames.js';
import type { Connection } from './connection.js';
import { outcomeOf, type Observer } from './observe.js';
import type { BatchOptions } from './options.js';
import type { StreamContext } from './types.js';
import { validate } from './validation.js';

/** Items a stream producer pulls before it lets other work run (setImmediate). */
const YIELD_EVERY = 256;

/** A registered server-to-client stream. */
export interface StreamEntry<Identity> {
  handler: (input: unknown, ctx: StreamContext<Identity>) => AsyncIterable<unknown> | Iterable<unknown>;
  input?: StandardSchemaV1 | undefined;
  batch?: BatchOptions | undefined;
}

/** A registered client-to-server stream. */
export interface UploadEntry<Identity> {
  handler: (input: unknown, items: AsyncIterable<unknown>, ctx: StreamContext<Identity>) => unknown;
  input?: StandardSchemaV1 | undefined;
  /** Items granted ahead of the handler. */
  highWaterMark: number;
}

interface Live {
  /** Consumer-side events: credit (streams) or items/end (uploads). */
  credit(n: number): void;
  items(items: unknown[]): void;
  end(): void;
  cancel(reason: 'cancel' | 'disconnect'): void;
  /** A malformed flow-control frame for this id: the stream ends with `err` (docs/protocol.md §2.3). */
  fault(err: SwitchboardError): void;
}

type Reply = (conn: Connection<never>, id: number, value: unknown) => void;
type Fail = (conn: Connection<never>, id: number, err: unknown, what: string) => void;

/**
 * Per-connection table of live streams, and the frame handlers that drive them. `obs`: the
 * server's observer, told when each stream or upload starts and ends (docs/observability.md).
 */
export function createStreams<Identity>(reply: Reply, fail: Fail, obs?: Observer) {
  const live = new WeakMap<Connection<Identity>, Map<number, Live>>();
  const table = (conn: Connection<Identity>) => {
    let t = live.get(conn);
    if (!t) live.set(conn, (t = new Map()));
    return t;
  };

  function contextFor(conn: Connection<Identity>, abort: AbortController): StreamContext<Identity> {
    return {
      clientId: conn.clientId,
      get identity() {
        return conn.identity;
      },
      signal: abort.signal,
    };
  }

  /** Server-to-client: runs the handler's iterable within the consumer's credit. */
  function openStream(conn: Connection<Identity>, f: StreamFrame, entry: StreamEntry<Identity>): void {
    const streams = table(conn);
    if (streams.has(f.id)) return fail(conn as never, f.id, new SwitchboardError(ErrorCode.BAD_REQUEST, 'Stream id in use'), `stream ${f.name}`);
    const abort = new AbortController();
    const flow = new SendWindow(f.credit);
    let stopped = false;
    let wake: (() => void) | undefined;
    let iterator: AsyncIterator<unknown> | Iterator<unknown> | undefined;
    let batch: unknown[] = [];
    let timer: ReturnType<typeof setTimeout> | undefined;

    /** Ends the stream with an error: aborts the handler, closes its iterable, answers `err`. */
    const failStream = (err: unknown) => {
      if (stopped) return;
      stopped = true;
      streams.delete(f.id);
      obs?.streamEnded(mark, 'stream', f.name, outcomeOf(err));
      if (timer) clearTimeout(timer);
      abort.abort(err);
      // The send loop may be waiting for credit: let it see `stopped` and finish.
      wake?.();
      void Promise.resolve(iterator?.return?.()).catch(() => {});
      fail(conn as never, f.id, err, `stream ${f.name}`);
    };
    const send = (items: unknown[]) => {
      try {
        conn.send({ t: 'item', id: f.id, items });
      } catch (err) {
        // An item the codec cannot encode (a BigInt, an echoed 200k-deep array). In the batch
        // timer's callback a throw would be an uncaughtException: the whole process would die.
        failStream(err);
      }
    };
    const flush = () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (batch.length === 0 || stopped) return;
      const items = batch;
      batch = [];
      send(items);
    };
    const state: Live = {
      credit(n) {
        flow.grant(n);
        wake?.();
      },
      items() {},
      end() {},
      fault: (err) => failStream(err),
      cancel(reason) {
        if (stopped) return;
        stopped = true;
        streams.delete(f.id);
        obs?.streamEnded(mark, 'stream', f.name, reason === 'cancel' ? ErrorCode.ABORTED : ErrorCode.DISCONNECTED);
        abort.abort(new SwitchboardError(reason === 'cancel' ? ErrorCode.ABORTED : ErrorCode.DISCONNECTED, `Stream ${reason === 'cancel' ? 'cancelled' : 'disconnected'}`));
        if (timer) clearTimeout(timer);
        wake?.();
        // A generator suspended at `yield` (waiting for credit) runs its finally now; one busy in
        // an await sees ctx.signal and returns when it next yields.
        void Promise.resolve(iterator?.return?.()).catch(() => {});
      },
    };
    streams.set(f.id, state);
    const mark = obs?.streamStarted('stream', f.name, conn.clientId, f.tc);

    (async () => {
      const input = entry.input ? await validate(entry.input, f.input, 'input') : f.input;
      if (stopped) return;
      const iterable = entry.handler(input, contextFor(conn, abort));
      const it = (iterable as AsyncIterable<unknown>)[Symbol.asyncIterator]?.() ?? (iterable as Iterable<unknown>)[Symbol.iterator]?.();
      if (!it) throw new TypeError(`stream handler "${f.name}" must return an iterable`);
      iterator = it;
      if (stopped) return void (await it.return?.());
      let sinceTurn = 0;
      while (!stopped) {
        // The socket may be gone before its 'close' event could run (e.g. closed as a slow
        // consumer while this loop drained a synchronous generator in microtasks).
        if (!conn.open) {
          state.cancel('disconnect');
          break;
        }
        // A generator that never waits on I/O would otherwise hold the event loop for as long as
        // the credit lasts (up to 2^31-1 items): give other connections a turn regularly.
        if (++sinceTurn >= YIELD_EVERY) {
          sinceTurn = 0;
          await new Promise<void>((resolve) => setImmediate(resolve));
          continue;
        }
        if (flow.available === 0) {
          flush();
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          continue;
        }
        const r = await it.next();
        if (stopped) break;
        if (r.done) break;
        // Handler output past the depth limit: a server bug (INTERNAL, logged), refused before
        // it is encoded so that no codec sees it (docs/protocol.md §2.6).
        if (exceedsDepth(r.value)) throw new Error(`stream "${f.name}" yielded an item nested deeper than ${MAX_DEPTH} levels`);
        flow.take();
        if (!entry.batch) {
          send([r.value]);
          continue;
        }
        batch.push(r.value);
        if (batch.length >= entry.batch.maxItems || flow.available === 0) flush();
        else timer ??= setTimeout(flush, entry.batch.maxDelayMs);
      }
      flush();
      if (!stopped) {
        stopped = true;
        streams.delete(f.id);
        obs?.streamEnded(mark, 'stream', f.name, 'ok');
        conn.send({ t: 'end', id: f.id });
      }
    })().catch(failStream);
  }

  /** Client-to-server: grants credit as the handler consumes, resolves with its result. */
  function openUpload(conn: Connection<Identity>, f: UploadFrame, entry: UploadEntry<Identity>): void {
    const streams = table(conn);
    if (streams.has(f.id)) return fail(conn as never, f.id, new SwitchboardError(ErrorCode.BAD_REQUEST, 'Stream id in use'), `upload ${f.name}`);
    const abort = new AbortController();
    const queue: unknown[] = [];
    const flow = new ReceiveWindow(entry.highWaterMark);
    let ended = false;
    let failure: SwitchboardError | undefined;
    let done = false;
    let wake: (() => void) | undefined;
    const grant = (n: number) => conn.send({ t: 'credit', id: f.id, n } satisfies CreditFrame);
    const finish = (outcome: string) => {
      done = true;
      streams.delete(f.id);
      obs?.streamEnded(mark, 'upload', f.name, outcome);
    };
    const state: Live = {
      credit() {},
      items(items) {
        if (done || ended) return; // after `end`: ignored (docs/protocol.md §2.3)
        if (!flow.receive(items.length)) {
          // More than granted: the peer ignores flow control; that is abuse, not a slow link.
          conn.close(CloseCode.POLICY_VIOLATION, 'upload exceeded its credit');
          return;
        }
        for (const item of items) queue.push(item);
        wake?.();
      },
      end() {
        ended = true;
        wake?.();
      },
      cancel(reason) {
        if (done) return;
        failure = new SwitchboardError(reason === 'cancel' ? ErrorCode.ABORTED : ErrorCode.DISCONNECTED, `Upload ${reason === 'cancel' ? 'cancelled' : 'disconnected'}`);
        abort.abort(failure);
        finish(failure.code);
        wake?.();
      },
      fault(err) {
        if (done) return;
        // Like a cancel, but the client is told why: the upload's answer is this `err`.
        failure = err;
        abort.abort(failure);
        finish(outcomeOf(err));
        wake?.();
        fail(conn as never, f.id, err, `upload ${f.name}`);
      },
    };
    streams.set(f.id, state);
    const mark = obs?.streamStarted('upload', f.name, conn.clientId, f.tc);

    const items: AsyncIterable<unknown> = {
      [Symbol.asyncIterator]: () => ({
        async next(): Promise<IteratorResult<unknown>> {
          for (;;) {
            if (failure) throw failure;
            if (queue.length > 0) {
              const value = queue.shift();
              // Re-grant in halves so the sender never idles and never exceeds highWaterMark ahead.
              const n = flow.consume();
              if (n > 0 && !ended) grant(n);
              return { value, done: false };
            }
            if (ended || done) return { value: undefined, done: true };
            await new Promise<void>((resolve) => (wake = resolve));
            wake = undefined;
          }
        },
        async return(): Promise<IteratorResult<unknown>> {
          return { value: undefined, done: true };
        },
      }),
    };

    (async () => {
      const input = entry.input ? await validate(entry.input, f.input, 'input') : f.input;
      if (done) return undefined;
      grant(flow.open());
      return entry.handler(input, items, contextFor(conn, abort));
    })().then(
      (result) => {
        if (done) return;
        finish('ok');
        reply(conn as never, f.id, result);
      },
      (err: unknown) => {
        if (done && failure) return;
        finish(outcomeOf(err));
        fail(conn as never, f.id, err, `upload ${f.name}`);
      },
    );
  }

  return {
    openStream,
    openUpload,
    /** Live streams and uploads of a connection (bounded by `limits.maxPendingCalls`). */
    count: (conn: Connection<Identity>) => live.get(conn)?.size ?? 0,
    /** Routes a flow-control frame; returns false when the id is not a live stream. */
    route(conn: Connection<Identity>, f: CreditFrame | ItemFrame | { t: 'end' | 'cancel'; id: number }): boolean {
      const s = live.get(conn)?.get(f.id);
      if (!s) return false;
      if (f.t === 'credit') s.credit(f.n);
      else if (f.t === 'item') s.items(f.items);
      else if (f.t === 'end') s.end();
      else s.cancel('cancel');
      return true;
    },
    /**
     * A malformed `credit` or `item` (`refusal` is its answer) ends the live stream or upload of its
     * id with that `err`; returns false when none is live under that id.
     */
    fault(conn: Connection<Identity>, refusal: ErrFrame): boolean {
      const s = live.get(conn)?.get(refusal.id);
      if (s) s.fault(frameToError(refusal));
      return s !== undefined;
    },
    /** The connection closed: every stream ends. */
    closeAll(conn: Connection<Identity>): void {
      const t = live.get(conn);
      if (!t) return;
      for (const s of [...t.values()]) s.cancel('disconnect');
      live.delete(conn);
    },
  };
}

/** The stream table the dispatcher uses. */
export type Streams<Identity> = ReturnType<typeof createStreams<Identity>>;
