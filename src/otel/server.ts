/**
 * `otel()`: the server's observer (src/server/observe.ts) as OpenTelemetry spans, through
 * `@opentelemetry/api` only: spans are recorded only when the application installed an SDK (or
 * passed a `tracerProvider`), and cost a no-op otherwise. A call's span is a child of the client's
 * span when the call frame carried its trace context (`tc`, docs/protocol.md §2.10).
 */
import { context, SpanKind, SpanStatusCode, trace, type Span, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { defineObserver, type Observer, type StreamKind } from '../server/observe.js';
import { ATTR, spanName, TRACER_NAME } from './attributes.js';
import { parseTraceparent } from './traceparent.js';

/** Options of {@link otel}. */
export interface OtelOptions {
  /** Where spans go. @default the global provider (`trace.getTracerProvider()`), a no-op until an SDK registers one */
  tracerProvider?: TracerProvider;
}

/**
 * Spans for calls, streams, uploads and handshakes (docs/observability.md, "Tracing").
 *
 * @example
 * import { otel } from 'switchboard/otel';
 * const server = createServer({ port: 8080, observe: [prometheus(), otel()] });
 */
export function otel(options: OtelOptions = {}): Observer {
  let tracer: Tracer | undefined;
  // Asked for at the first span, not here: an SDK registered after createServer still counts.
  const t = () => (tracer ??= (options.tracerProvider ?? trace.getTracerProvider()).getTracer(TRACER_NAME));

  function start(kind: 'call' | StreamKind, name: string, clientId: string, tc: string | undefined): Span {
    const parent = parseTraceparent(tc);
    const ctx = parent ? trace.setSpanContext(context.active(), parent) : context.active();
    return t().startSpan(
      spanName(kind, name),
      { kind: SpanKind.SERVER, attributes: { [ATTR.RPC_SYSTEM]: 'switchboard', [ATTR.RPC_METHOD]: name, [ATTR.KIND]: kind, [ATTR.CLIENT_ID]: clientId } },
      ctx,
    );
  }

  function end(span: unknown, outcome: string): void {
    const s = span as Span;
    s.setAttribute(ATTR.OUTCOME, outcome);
    if (outcome !== 'ok') s.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
    s.end();
  }

  return defineObserver({
    callStarted: (name, clientId, tc) => start('call', name, clientId, tc),
    callEnded: (span, _name, outcome) => end(span, outcome),
    streamStarted: (kind, name, clientId, tc) => start(kind, name, clientId, tc),
    streamEnded: (span, _kind, _name, outcome) => end(span, outcome),
    // The seam reports a handshake's outcome, not its start: these spans mark when and how it ended.
    connected(codec) {
      t().startSpan('switchboard.handshake', { kind: SpanKind.SERVER, attributes: { [ATTR.RPC_SYSTEM]: 'switchboard', [ATTR.CODEC]: codec } }).end();
    },
    refused(reason) {
      const s = t().startSpan('switchboard.handshake', { kind: SpanKind.SERVER, attributes: { [ATTR.RPC_SYSTEM]: 'switchboard', [ATTR.REFUSAL_REASON]: reason } });
      s.setStatus({ code: SpanStatusCode.ERROR, message: reason });
      s.end();
    },
  });
}
