/**
 * The one way options are merged with their defaults and checked, for every factory of the
 * package (server, client, engines, bridge). Runtime-neutral: no Node or DOM imports.
 *
 * - An explicit `undefined` means "the default", everywhere: `{ timeoutMs: undefined }` is `{}`.
 * - Every check throws a `TypeError` that names the option's path and the value it got.
 */

/** `given` over `defaults`, one level deep; a field that is `undefined` in `given` keeps the default. */
export function withDefaults<T extends object>(defaults: T, given: { readonly [K in keyof T]?: T[K] | undefined } | undefined): T {
  const out = { ...defaults };
  if (given === undefined || given === null) return out;
  if (typeof given !== 'object') throw new TypeError(`options must be an object, got ${typeof given}`);
  for (const key of Object.keys(given) as (keyof T)[]) {
    const v = given[key];
    if (v !== undefined) out[key] = v as T[keyof T];
  }
  return out;
}

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** A positive safe integer (counts, sizes in bytes, limits). */
export function positiveInt(path: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new TypeError(`${path} must be a positive integer, got ${show(v)}`);
  return v;
}

/** Zero or a positive safe integer. */
export function nonNegativeInt(path: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new TypeError(`${path} must be a non-negative integer, got ${show(v)}`);
  return v;
}

/** A finite number above zero (durations in ms, rates). */
export function positiveNumber(path: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new TypeError(`${path} must be a positive number, got ${show(v)}`);
  return v;
}

/** A finite number, zero or above. */
export function nonNegativeNumber(path: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new TypeError(`${path} must be a non-negative number, got ${show(v)}`);
  return v;
}

/**
 * The longest delay `setTimeout`/`setInterval` honour in every runtime (2^31 - 1 ms, about 24.8
 * days): Node and browsers run a longer one after 1 ms, which would turn "wait long" into "at once".
 */
export const MAX_TIMER_MS = 2_147_483_647;

function timer(path: string, v: number): number {
  if (v > MAX_TIMER_MS) throw new TypeError(`${path} must be at most ${MAX_TIMER_MS} ms (about 24.8 days; longer timers fire at once), got ${v}`);
  return v;
}

/** A duration above zero that a timer is set to (in ms, at most {@link MAX_TIMER_MS}). */
export function positiveMs(path: string, v: unknown): number {
  return timer(path, positiveNumber(path, v));
}

/** A duration, zero or above, that a timer is set to (in ms, at most {@link MAX_TIMER_MS}). */
export function nonNegativeMs(path: string, v: unknown): number {
  return timer(path, nonNegativeNumber(path, v));
}

/** A boolean. */
export function bool(path: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new TypeError(`${path} must be true or false, got ${show(v)}`);
  return v;
}

/** A function. */
export function func<F extends (...args: never[]) => unknown>(path: string, v: unknown): F {
  if (typeof v !== 'function') throw new TypeError(`${path} must be a function, got ${v === null ? 'null' : typeof v}`);
  return v as F;
}

/** One of a fixed set of strings. */
export function oneOf<const T extends string>(path: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
    throw new TypeError(`${path} must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${show(v)}`);
  }
  return v as T;
}

/** A string of at least one character. */
export function nonEmptyString(path: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) throw new TypeError(`${path} must be a non-empty string, got ${show(v)}`);
  return v;
}
