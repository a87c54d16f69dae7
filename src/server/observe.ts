/**
 * The server's one instrumentation seam (docs/observability.md): the hook functions the server
 * calls at each event, which metrics (`switchboard/metrics`) and tracing (`switchboard/otel`) plug
 * into. Off by default: the server then holds `undefined` and every call site is one property check
 * (`obs?.x()`), as with the development trace (trace.ts). Every argument is a primitive or an
 * object that exists anyway, so a hook allocates nothing unless its implementation does; the
 * hottest ones (bytes in and out) go through a {@link CodecMeter} taken once per codec.
 */
import type { HttpRoutes } from '../net/http-routes.js';
import type { RefusalCategory } from '../net/refusal.js';
import { CloseCode, RfcCloseCode } from '../protocol/close-codes.js';
import { exceedsDepth } from '../protocol/depth.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { SwitchboardError } from '../protocol/errors.js';
import type { EngineHealth, EngineObserver } from '../engines/engine.js';

/**
 * How a call, stream or upload ended: `ok`, a built-in error code (`INVALID_INPUT`, `TIMEOUT`…),
 * `APPLICATION_ERROR` for an application's own `ServerError` code (label values stay a fixed set).
 */
export type Outcome = string;

/** Whether a request was a stream (server to client) or an upload (client to server). */
export type StreamKind = 'stream' | 'upload';

/** Counts bytes of one codec's messages; taken once per codec (docs/observability.md). */
export interface CodecMeter {
  /** A message arrived: its size on the wire. */
  received(bytes: number): void;
  /** A message left (a reply, or one subscriber's copy of a publish): its size on the wire. */
  sent(bytes: number): void;
}

/** What an observer may read when it is asked (a scrape), rather than counting it per event. */
export interface ObservedServer {
  /** Open connections now. */
  connections(): number;
  /** The engine's health now. */
  engineHealth(): EngineHealth;
  /** The server's plain HTTP routes (docs/server.md, "HTTP routes"): where a `/metrics` endpoint goes. */
  readonly routes: HttpRoutes;
}

/**
 * The events the server reports (docs/observability.md). An implementation gets each one as it
 * happens; `callStarted` and `streamStarted` return a mark (a start time, a span) handed back to the
 * matching `…Ended`. Build one with {@link defineObserver}, which fills in what it leaves out.
 */
export interface Observer {
  /** Called once by `createServer`, before it listens. */
  bind(server: ObservedServer): void;
  /** The meter of one codec's messages (`json`, `msgpack`); asked once per codec and kept. */
  meter(codec: string): CodecMeter;
  /** A WebSocket was accepted (before authentication on the first message, if any). */
  connected(codec: string): void;
  /** A connection closed with `code` (the server's own code when it closed it). */
  disconnected(code: number): void;
  /** An upgrade request was refused with a plain HTTP answer (docs/security.md, "Refusal logs"). */
  refused(category: RefusalCategory): void;
  /**
   * A call of a registered command starts. `traceparent`: the W3C trace context the client sent
   * in the call frame (docs/protocol.md §2.1), if any.
   */
  callStarted(name: string, clientId: string, traceparent: string | undefined): unknown;
  /** The call answered: `mark` is what {@link callStarted} returned. */
  callEnded(mark: unknown, name: string, outcome: Outcome): void;
  /** A stream or upload of a registered name opened. */
  streamStarted(kind: StreamKind, name: string, clientId: string, traceparent: string | undefined): unknown;
  /** It ended (completed, failed, cancelled, disconnected). */
  streamEnded(mark: unknown, kind: StreamKind, name: string, outcome: Outcome): void;
  /** A message was published (by a client or by `server.publish`) and the engine took it. */
  published(): void;
  /** One engine event reached `count` local subscribers (each gets its copy). */
  delivered(count: number): void;
  /** A subscription replayed `count` messages from history. */
  replayed(count: number): void;
  /** A subscription asked to resume (`since`) and could not be: its subscriber sees a gap. */
  gap(): void;
  /** A request was refused with RATE_LIMITED. */
  rateLimited(): void;
  /** A connection was closed as a slow consumer (SLOW_CONSUMER). */
  slowConsumer(): void;
  /** Where the engine reports its own round trips (the Redis engine); absent when not wanted. */
  readonly engine?: EngineObserver;
}

const NO_METER: CodecMeter = { received() {}, sent() {} };

/** Every hook a no-op: what {@link defineObserver} fills in. */
const NOOP: Observer = {
  bind() {},
  meter: () => NO_METER,
  connected() {},
  disconnected() {},
  refused() {},
  callStarted: () => undefined,
  callEnded() {},
  streamStarted: () => undefined,
  streamEnded() {},
  published() {},
  delivered() {},
  replayed() {},
  gap() {},
  rateLimited() {},
  slowConsumer() {},
};

/**
 * An observer from the hooks it implements; the others do nothing.
 *
 * @example
 * createServer({ observe: defineObserver({ disconnected: (code) => counts.set(code, (counts.get(code) ?? 0) + 1) }) });
 */
export function defineObserver(hooks: Partial<Observer>): Observer {
  return { ...NOOP, ...hooks };
}

/**
 * One observer from the `observe` option: `undefined` when there is none (the server then calls
 * nothing), the observer itself when there is one, else one that calls each in turn. Two or more
 * observers make the marks of calls and streams arrays (one allocation per call): the price of
 * combining, paid only then.
 */
export function resolveObserver(given: Observer | readonly Observer[] | undefined): Observer | undefined {
  const list = given === undefined ? [] : Array.isArray(given) ? (given as readonly Observer[]) : [given as Observer];
  list.forEach((o, i) => {
    if (typeof o !== 'object' || o === null || typeof (o as Observer).callStarted !== 'function') {
      throw new TypeError(`observe${Array.isArray(given) ? `[${i}]` : ''} must be an observer (prometheus(), otel(), or defineObserver({...}))`);
    }
  });
  if (list.length === 0) return undefined;
  if (list.length === 1) return list[0];
  const engines = list.map((o) => o.engine).filter((e): e is EngineObserver => e !== undefined);
  return {
    bind: (s) => list.forEach((o) => o.bind(s)),
    meter(codec) {
      const ms = list.map((o) => o.meter(codec));
      return { received: (b) => ms.forEach((m) => m.received(b)), sent: (b) => ms.forEach((m) => m.sent(b)) };
    },
    connected: (c) => list.forEach((o) => o.connected(c)),
    disconnected: (c) => list.forEach((o) => o.disconnected(c)),
    refused: (c) => list.forEach((o) => o.refused(c)),
    callStarted: (n, id, tp) => list.map((o) => o.callStarted(n, id, tp)),
    callEnded: (marks, n, out) => list.forEach((o, i) => o.callEnded((marks as unknown[])[i], n, out)),
    streamStarted: (k, n, id, tp) => list.map((o) => o.streamStarted(k, n, id, tp)),
    streamEnded: (marks, k, n, out) => list.forEach((o, i) => o.streamEnded((marks as unknown[])[i], k, n, out)),
    published: () => list.forEach((o) => o.published()),
    delivered: (n) => list.forEach((o) => o.delivered(n)),
    replayed: (n) => list.forEach((o) => o.replayed(n)),
    gap: () => list.forEach((o) => o.gap()),
    rateLimited: () => list.forEach((o) => o.rateLimited()),
    slowConsumer: () => list.forEach((o) => o.slowConsumer()),
    ...(engines.length > 0 ? { engine: { roundTrip: (op, s, ok) => engines.forEach((e) => e.roundTrip(op, s, ok)) } satisfies EngineObserver } : {}),
  };
}

const BUILTIN_ERRORS: ReadonlySet<string> = new Set(Object.values(ErrorCode));

/**
 * The outcome label of a failure, as the caller was told it: a built-in code, `APPLICATION_ERROR`
 * for an application's own code, `INTERNAL` for anything else (as `failWith` in dispatch.ts answers).
 */
export function outcomeOf(err: unknown): Outcome {
  if (!(err instanceof SwitchboardError) || exceedsDepth(err.details)) return ErrorCode.INTERNAL;
  return BUILTIN_ERRORS.has(err.code) ? err.code : 'APPLICATION_ERROR';
}

const KNOWN_CLOSE_CODES: ReadonlySet<number> = new Set<number>([
  ...Object.values(CloseCode).filter((c) => c !== CloseCode.RETRY_MIN && c !== CloseCode.FINAL_MIN && c !== CloseCode.FINAL_MAX),
  RfcCloseCode.NO_STATUS,
  RfcCloseCode.TLS_HANDSHAKE,
]);

/**
 * The label value of a close code: the code itself when it is one of the table's
 * (src/protocol/close-codes.ts), else `other` (an application's `kick` code, a peer's odd code),
 * so that the label's values stay a fixed set.
 */
export function closeCodeLabel(code: number): string {
  return KNOWN_CLOSE_CODES.has(code) ? String(code) : 'other';
}
