/**
 * Each error code of {@link ErrorCode} as its own constant. Modules of the browser client import
 * this file as a namespace (`import * as ErrorCode from './error-code-values.js'`), so a bundler
 * keeps only the codes they use instead of the whole table (docs/performance.md, "Bundle size").
 */
export const NOT_FOUND = 'NOT_FOUND';
export const FORBIDDEN = 'FORBIDDEN';
export const BAD_REQUEST = 'BAD_REQUEST';
export const UNKNOWN_FRAME = 'UNKNOWN_FRAME';
export const NOT_SUBSCRIBED = 'NOT_SUBSCRIBED';
export const INTERNAL = 'INTERNAL';
export const INVALID_INPUT = 'INVALID_INPUT';
export const RATE_LIMITED = 'RATE_LIMITED';
export const LIMIT_EXCEEDED = 'LIMIT_EXCEEDED';
export const TIMEOUT = 'TIMEOUT';
export const DISCONNECTED = 'DISCONNECTED';
export const QUEUE_FULL = 'QUEUE_FULL';
export const ABORTED = 'ABORTED';
export const CLOSED = 'CLOSED';
export const PAYLOAD_TOO_LARGE = 'PAYLOAD_TOO_LARGE';
export const UNAUTHORIZED = 'UNAUTHORIZED';
export const IDEMPOTENCY_CONFLICT = 'IDEMPOTENCY_CONFLICT';
export const UNAVAILABLE = 'UNAVAILABLE';
/**
 * The engine did not confirm a publish in time (a frozen Redis): it may still be delivered when
 * the engine resumes, or never. Unlike `UNAVAILABLE`, which means it was certainly not published.
 */
export const OUTCOME_UNKNOWN = 'OUTCOME_UNKNOWN';
