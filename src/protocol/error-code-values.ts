/**
 * Each error code of {@link ErrorCode} as its own constant. Modules of the browser client import
 * this file as a namespace (`import * as ErrorCode from './error-code-values.js'`), so a bundler
 * keeps only the codes they use instead of the whole table (docs/performance.md, "Bundle size").
 * Their meanings: docs/protocol.md §4.
 */
/** No command with that name. */
export const NOT_FOUND = 'NOT_FOUND';
/** No topic rule allows this subscribe or publish, or the rule refused it. */
export const FORBIDDEN = 'FORBIDDEN';
/** A field has the wrong type or size, a value nests too deep, or (client) a request could not be encoded. */
export const BAD_REQUEST = 'BAD_REQUEST';
/** The frame kind is unknown (the frame had a valid `id`). */
export const UNKNOWN_FRAME = 'UNKNOWN_FRAME';
/** `presence` for a topic the connection is not subscribed to. */
export const NOT_SUBSCRIBED = 'NOT_SUBSCRIBED';
/** The handler threw something that is not a `ServerError`; the message is generic. */
export const INTERNAL = 'INTERNAL';
/** A command's input or a published payload failed the server's schema (`details.issues`). */
export const INVALID_INPUT = 'INVALID_INPUT';
/** The connection exceeded `limits.rate`; `details.retryAfterMs` says when to retry. */
export const RATE_LIMITED = 'RATE_LIMITED';
/** A per-connection limit is reached; `details.limit` names it. */
export const LIMIT_EXCEEDED = 'LIMIT_EXCEEDED';
/** No answer within the call's `timeoutMs` (client). */
export const TIMEOUT = 'TIMEOUT';
/** The connection dropped after the request was sent; it may or may not have run (client). */
export const DISCONNECTED = 'DISCONNECTED';
/** The offline queue is full; the request was not sent (client). */
export const QUEUE_FULL = 'QUEUE_FULL';
/** The request's `AbortSignal` fired (client). */
export const ABORTED = 'ABORTED';
/** The client was closed with `close()` (client). */
export const CLOSED = 'CLOSED';
/** The encoded request exceeds the server's `maxPayload`; it was not sent (client). */
export const PAYLOAD_TOO_LARGE = 'PAYLOAD_TOO_LARGE';
/** A refresh token was refused (server), or the handshake was refused and no new token is available (client). */
export const UNAUTHORIZED = 'UNAUTHORIZED';
/** The handshake was answered with HTTP 404: nothing listens on that path; the message names the URL tried (client). */
export const ENDPOINT_NOT_FOUND = 'ENDPOINT_NOT_FOUND';
/** The handshake was answered with another HTTP status than 101 (`details.status`), or closed before `welcome` (client). */
export const HANDSHAKE_FAILED = 'HANDSHAKE_FAILED';
/** The server could not be reached (no TCP connection); `details.cause` holds the system cause where the runtime exposes it (client). */
export const UNREACHABLE = 'UNREACHABLE';
/**
 * The TLS handshake failed (client, Node): the server's certificate is not trusted, does not name
 * the host, or has expired, or the server does not speak TLS there; `details.cause` holds the
 * system code (`SELF_SIGNED_CERT_IN_CHAIN`, `ERR_TLS_CERT_ALTNAME_INVALID`…).
 */
export const TLS_FAILED = 'TLS_FAILED';
/** The client stopped trying for good without `close()`: reconnection gave up, was off, or a final close code (client). */
export const CONNECTION_FAILED = 'CONNECTION_FAILED';
/** A `call` reused an idempotency key with a different input. */
export const IDEMPOTENCY_CONFLICT = 'IDEMPOTENCY_CONFLICT';
/** The server's engine is unreachable: nothing was published; retry later. */
export const UNAVAILABLE = 'UNAVAILABLE';
/**
 * The engine did not confirm a publish in time (a frozen Redis): it may still be delivered when
 * the engine resumes, or never. Unlike `UNAVAILABLE`, which means it was certainly not published.
 */
export const OUTCOME_UNKNOWN = 'OUTCOME_UNKNOWN';
/** The server ended a subscription (`server.unsubscribe`); carried by an `unsubscribed` frame. */
export const REVOKED = 'REVOKED';
