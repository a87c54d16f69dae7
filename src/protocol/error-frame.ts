/**
 * Errors on the wire (docs/protocol.md §2.2, §4): the one conversion between a thrown error and an
 * `err` frame, and back. Both ends and the idempotency records use it, so a code, message and
 * `details` travel the same way everywhere. Pure: no I/O, no logging (the caller logs what it hides).
 */
import * as ErrorCode from './error-code-values.js';
import { SwitchboardError } from './errors.js';
import type { ErrFrame } from './frames.js';

/** The message every error that is not a `SwitchboardError` is sent with: internals stay on the server. */
export const INTERNAL_MESSAGE = 'Internal server error';

/** An error's wire fields, without the frame's `t` and `id` (also how idempotency records keep a failure). */
export interface ErrorFields {
  code: string;
  message: string;
  details?: unknown;
}

/**
 * The wire fields of `err`: a `SwitchboardError` (a `ServerError` too) keeps its code, message and
 * details; anything else becomes `INTERNAL` with a generic message. `details` is left out when
 * undefined, so the frame has no `details` member at all.
 */
export function errorFields(err: unknown): ErrorFields {
  if (!(err instanceof SwitchboardError)) return { code: ErrorCode.INTERNAL, message: INTERNAL_MESSAGE };
  return err.details === undefined
    ? { code: err.code, message: err.message }
    : { code: err.code, message: err.message, details: err.details };
}

/**
 * The `err` frame answering request `id` with `err`.
 *
 * @example
 * conn.send(errorToFrame(7, new ServerError('SOLD_OUT', 'No seats left')));
 * // { t: 'err', id: 7, code: 'SOLD_OUT', message: 'No seats left' }
 */
export function errorToFrame(id: number, err: unknown): ErrFrame {
  return { t: 'err', id, ...errorFields(err) };
}

/** An `err` frame with the given code, for refusals built without an error object. */
export function errFrame(id: number, code: string, message: string, details?: unknown): ErrFrame {
  return details === undefined ? { t: 'err', id, code, message } : { t: 'err', id, code, message, details };
}

/**
 * The `SwitchboardError` an `err` frame (or a remembered failure) stands for. Defensive about a
 * peer that sent non-string fields: the client never throws on a malformed answer.
 */
export function frameToError(f: Pick<ErrFrame, 'code' | 'message' | 'details'>): SwitchboardError {
  return new SwitchboardError(String(f.code), String(f.message), f.details);
}
