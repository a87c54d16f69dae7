import * as codes from './error-code-values.js';

/**
 * Error codes carried by `err` frames and by rejected client promises (`error.code`).
 * Applications may add their own codes through `ServerError`. See docs/protocol.md §4.
 */
export const ErrorCode = {
  NOT_FOUND: codes.NOT_FOUND,
  FORBIDDEN: codes.FORBIDDEN,
  BAD_REQUEST: codes.BAD_REQUEST,
  UNKNOWN_FRAME: codes.UNKNOWN_FRAME,
  NOT_SUBSCRIBED: codes.NOT_SUBSCRIBED,
  INTERNAL: codes.INTERNAL,
  INVALID_INPUT: codes.INVALID_INPUT,
  RATE_LIMITED: codes.RATE_LIMITED,
  LIMIT_EXCEEDED: codes.LIMIT_EXCEEDED,
  TIMEOUT: codes.TIMEOUT,
  DISCONNECTED: codes.DISCONNECTED,
  QUEUE_FULL: codes.QUEUE_FULL,
  ABORTED: codes.ABORTED,
  CLOSED: codes.CLOSED,
  PAYLOAD_TOO_LARGE: codes.PAYLOAD_TOO_LARGE,
  UNAUTHORIZED: codes.UNAUTHORIZED,
  ENDPOINT_NOT_FOUND: codes.ENDPOINT_NOT_FOUND,
  HANDSHAKE_FAILED: codes.HANDSHAKE_FAILED,
  UNREACHABLE: codes.UNREACHABLE,
  TLS_FAILED: codes.TLS_FAILED,
  CONNECTION_FAILED: codes.CONNECTION_FAILED,
  IDEMPOTENCY_CONFLICT: codes.IDEMPOTENCY_CONFLICT,
  UNAVAILABLE: codes.UNAVAILABLE,
  OUTCOME_UNKNOWN: codes.OUTCOME_UNKNOWN,
  REVOKED: codes.REVOKED,
} as const;

/** One of the codes Switchboard itself defines. */
export type BuiltinErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
