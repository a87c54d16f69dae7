/**
 * W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header), the
 * value of the `tc` field of call, stream and upload frames (docs/protocol.md §2.10). Written and
 * read here rather than through the global propagator, which is a no-op until an SDK installs one:
 * the field means the same whatever the application configured.
 */
import type { SpanContext } from '@opentelemetry/api';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZEROS = /^0+$/;

/** The `traceparent` of a span context (version 00). */
export function formatTraceparent(sc: SpanContext): string {
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** The remote span context of a `traceparent`, or `undefined` when it is not a valid one (then it is ignored). */
export function parseTraceparent(tc: string | undefined): SpanContext | undefined {
  if (tc === undefined) return undefined;
  const m = TRACEPARENT.exec(tc);
  if (!m || ZEROS.test(m[1]!) || ZEROS.test(m[2]!)) return undefined;
  return { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16), isRemote: true };
}
