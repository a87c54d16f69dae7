/**
 * `traceContext()`: the client half of tracing, as a codec plug-in of `connect()` (like
 * `msgpack()`), so the core client bundle carries none of it (docs/observability.md, "Tracing").
 * It wraps the codec the connection would use: each `call`, `stream` and `upload` frame it encodes
 * gets a client span, and the span's W3C trace context travels in the frame's `tc` field
 * (docs/protocol.md §2.10); the answer (`ok`, `err`, a stream's `end`) ends the span.
 */
import { context, SpanKind, SpanStatusCode, trace, type Span, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { jsonCodec, type Codec } from '../protocol/codec.js';
import { ATTR, spanName, TRACER_NAME } from './attributes.js';
import { formatTraceparent } from './traceparent.js';

/** Options of {@link traceContext}. */
export interface TraceContextOptions {
  /** The codec that carries the frames (e.g. `msgpack()`). @default JSON */
  codec?: Codec;
  /** Where spans go. @default the global provider (`trace.getTracerProvider()`), a no-op until an SDK registers one */
  tracerProvider?: TracerProvider;
  /**
   * Requests whose spans wait for an answer, at most; past it the oldest span ends with the outcome
   * `UNANSWERED` (a request lost with its connection is never answered). @default 1000
   */
  maxPending?: number;
}

type Request = { t?: unknown; id?: unknown; name?: unknown };
type Answer = { t?: unknown; id?: unknown; code?: unknown };

/**
 * A codec that traces calls, streams and uploads and carries their trace context to the server.
 * A request is encoded when it is sent: one sent while connected is a child of the span active
 * where it was called (with a context manager installed); one queued while disconnected is sent
 * later, outside that context.
 *
 * @example
 * import { connect } from 'switchboard/client';
 * import { traceContext } from 'switchboard/otel';
 * const client = connect(url, { codec: traceContext() });
 */
export function traceContext(options: TraceContextOptions = {}): Codec {
  const inner = options.codec ?? jsonCodec;
  const max = options.maxPending ?? 1_000;
  if (!Number.isSafeInteger(max) || max < 1) throw new TypeError(`maxPending must be a positive integer, got ${String(max)}`);
  if (typeof inner?.encode !== 'function' || typeof inner.decode !== 'function') throw new TypeError('codec must be a codec object such as msgpack()');
  let tracer: Tracer | undefined;
  const t = () => (tracer ??= (options.tracerProvider ?? trace.getTracerProvider()).getTracer(TRACER_NAME));
  /** id → the span of the request with that id (Map order: oldest first). */
  const pending = new Map<number, Span>();

  function end(id: number, outcome: string): void {
    const span = pending.get(id);
    if (!span) return;
    pending.delete(id);
    span.setAttribute(ATTR.OUTCOME, outcome);
    if (outcome !== 'ok') span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
    span.end();
  }

  return {
    name: inner.name,
    subprotocol: inner.subprotocol,
    encode(frame) {
      const f = frame as Request;
      if ((f.t === 'call' || f.t === 'stream' || f.t === 'upload') && typeof f.id === 'number' && typeof f.name === 'string') {
        const span = t().startSpan(
          spanName(f.t, f.name),
          { kind: SpanKind.CLIENT, attributes: { [ATTR.RPC_SYSTEM]: 'switchboard', [ATTR.RPC_METHOD]: f.name, [ATTR.KIND]: f.t } },
          context.active(),
        );
        const sc = span.spanContext();
        // Without an SDK the span is a no-op with an invalid context: nothing to carry.
        if (!trace.isSpanContextValid(sc)) return inner.encode(frame);
        end(f.id, 'UNANSWERED'); // an id reused on a new connection: the old request will not be answered
        pending.set(f.id, span);
        if (pending.size > max) end(pending.keys().next().value as number, 'UNANSWERED');
        return inner.encode({ ...(frame as object), tc: formatTraceparent(sc) });
      }
      return inner.encode(frame);
    },
    decode(data, isBinary) {
      const d = inner.decode(data, isBinary);
      if (d.ok && pending.size > 0) {
        const f = d.value as Answer;
        if (typeof f.id === 'number' && (f.t === 'ok' || f.t === 'end' || f.t === 'err')) end(f.id, f.t === 'err' ? String(f.code) : 'ok');
      }
      return d;
    },
  };
}
