/**
 * Validation with any Standard Schema validator (zod ≥ 3.24, valibot ≥ 1, arktype, …): the server
 * calls `schema['~standard'].validate` and never depends on a validator library itself.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { ErrorCode } from '../protocol/error-codes.js';
import { ServerError } from '../protocol/errors.js';

/** One validator issue as it travels to the client in `details.issues`. */
export interface WireIssue {
  message: string;
  path?: (string | number)[];
}

function toWire(issues: ReadonlyArray<StandardSchemaV1.Issue>): WireIssue[] {
  return issues.slice(0, 50).map((i) => {
    const path = i.path?.map((p) => (typeof p === 'object' && p !== null && 'key' in p ? p.key : p));
    const keys = path?.filter((k): k is string | number => typeof k === 'string' || typeof k === 'number');
    return keys && keys.length > 0 ? { message: i.message, path: keys } : { message: i.message };
  });
}

/** Longest part of a validator's message quoted in the error's message; `details.issues` has it all. */
const MAX_QUOTED = 200;

/**
 * The error message: what failed and its first issue, so a log line or a thrown error says why
 * without reading `details` — `Invalid input: items.2.price: Expected number` (path joined with
 * dots; no path when the issue is about the whole value).
 */
export function invalidMessage(what: string, first: WireIssue | undefined): string {
  if (!first) return `Invalid ${what}`;
  const message = String(first.message);
  const text = message.length > MAX_QUOTED ? `${message.slice(0, MAX_QUOTED)}…` : message;
  return `Invalid ${what}: ${first.path ? `${first.path.join('.')}: ` : ''}${text}`;
}

/**
 * Validates `value`; resolves the schema's output or throws `ServerError('INVALID_INPUT')` whose
 * message names the first issue ({@link invalidMessage}) and whose `details.issues` lists them all.
 * Sync validators stay sync so the common path adds no microtask.
 */
export function validate<S extends StandardSchemaV1>(
  schema: S,
  value: unknown,
  what: string,
): StandardSchemaV1.InferOutput<S> | Promise<StandardSchemaV1.InferOutput<S>> {
  const settle = (r: StandardSchemaV1.Result<StandardSchemaV1.InferOutput<S>>) => {
    if (r.issues) {
      const issues = toWire(r.issues);
      throw new ServerError(ErrorCode.INVALID_INPUT, invalidMessage(what, issues[0]), { issues });
    }
    return r.value;
  };
  const result = schema['~standard'].validate(value);
  return result instanceof Promise ? result.then(settle) : settle(result);
}

/** Whether `v` looks like a Standard Schema (used to tell `command(name, spec, handler)` apart). */
export function isStandardSchema(v: unknown): v is StandardSchemaV1 {
  // Functions too: arktype's schemas are callable (the Standard Schema spec allows any object).
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { '~standard'?: { validate?: unknown } })['~standard']?.validate === 'function';
}
