/**
 * Error codes carried by `err` frames and by rejected client promises (`error.code`).
 * Applications may add their own codes through `ServerError`. See docs/protocol.md §4.
 */
export const ErrorCode = {
  NOT_FOUND: 'NOT_FOUND',
  FORBIDDEN: 'FORBIDDEN',
  BAD_REQUEST: 'BAD_REQUEST',
  UNKNOWN_FRAME: 'UNKNOWN_FRAME',
  NOT_SUBSCRIBED: 'NOT_SUBSCRIBED',
  INTERNAL: 'INTERNAL',
  INVALID_INPUT: 'INVALID_INPUT',
  RATE_LIMITED: 'RATE_LIMITED',
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  TIMEOUT: 'TIMEOUT',
  DISCONNECTED: 'DISCONNECTED',
  QUEUE_FULL: 'QUEUE_FULL',
  ABORTED: 'ABORTED',
  CLOSED: 'CLOSED',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  UNAUTHORIZED: 'UNAUTHORIZED',
  IDEMPOTENCY_CONFLICT: 'IDEMPOTENCY_CONFLICT',
  UNAVAILABLE: 'UNAVAILABLE',
  /**
   * The engine did not confirm a publish in time (a frozen Redis): it may still be delivered when
   * the engine resumes, or never. Unlike `UNAVAILABLE`, which means it was certainly not published.
   */
  OUTCOME_UNKNOWN: 'OUTCOME_UNKNOWN',
} as const;

/** One of the codes Switchboard itself defines. */
export type BuiltinErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
