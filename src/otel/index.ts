/**
 * `switchboard/otel`: OpenTelemetry tracing through `@opentelemetry/api` (an optional peer
 * dependency, needed only by this entry): `otel()` observes a server, `traceContext()` is the
 * client's codec plug-in that carries the trace context in call, stream and upload frames
 * (docs/protocol.md §2.10), so one trace spans client and server. docs/observability.md, "Tracing".
 *
 * @example
 * // server
 * createServer({ port: 8080, observe: otel() });
 * // client
 * connect('ws://localhost:8080/ws', { codec: traceContext() });
 */
export { otel, type OtelOptions } from './server.js';
export { traceContext, type TraceContextOptions } from './client.js';
export { ATTR as TRACE_ATTRIBUTES } from './attributes.js';
export { formatTraceparent, parseTraceparent } from './traceparent.js';
