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

/**
 * The names of an options interface `T`, from a record that must list every one of them (a new
 * option missing here fails to compile): what {@link knownKeys} checks against.
 */
export function optionKeys<T>(all: Record<keyof T, 1>): readonly string[] {
  return Object.keys(all);
}

/**
 * Refuses a key of the options object `value` that is not in `keys`, so that a typo
 * (`health: { readyness: '/ready' }`) fails at start-up instead of silently keeping the default:
 * `TypeError: health.readyness is not an option (liveness, readiness)`. `path` names the object
 * (`''` for a factory's own options); a `value` that is not a plain object is left to the caller's
 * checks. Returns `value`.
 */
export function knownKeys<T>(path: string, value: T, keys: readonly string[]): T {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) throw new TypeError(`${path === '' ? '' : `${path}.`}${key} is not an option (${keys.join(', ')})`);
  }
  return value;
}

/**
 * `v` when `ok`, else the `TypeError` "`path` must be `what`, got `v`" every validator throws; for
 * checks no named validator covers ("a string or a function").
 */
export function check<T>(path: string, v: unknown, ok: boolean, what: string): T {
  if (!ok) throw new TypeError(`${path} must be ${what}, got ${typeof v === 'string' ? JSON.stringify(v) : String(v)}`);
  return v as T;
}

// Number.isSafeInteger and Number.isFinite are false for anything that is not a number.

/** A positive safe integer (counts, sizes in bytes, limits). */
export function positiveInt(path: string, v: unknown): number {
  return check(path, v, Number.isSafeInteger(v) && (v as number) >= 1, 'a positive integer');
}

/** Zero or a positive safe integer. */
export function nonNegativeInt(path: string, v: unknown): number {
  return check(path, v, Number.isSafeInteger(v) && (v as number) >= 0, 'a non-negative integer');
}

/** A finite number above zero (durations in ms, rates). */
export function positiveNumber(path: string, v: unknown): number {
  return check(path, v, Number.isFinite(v) && (v as number) > 0, 'a positive number');
}

/** A finite number, zero or above. */
export function nonNegativeNumber(path: string, v: unknown): number {
  return check(path, v, Number.isFinite(v) && (v as number) >= 0, 'a non-negative number');
}

/**
 * The longest delay `setTimeout`/`setInterval` honour in every runtime (2^31 - 1 ms, about 24.8
 * days): Node and browsers run a longer one after 1 ms, which would turn "wait long" into "at once".
 */
export const MAX_TIMER_MS = 2_147_483_647;

const timer = (path: string, v: number): number =>
  check(path, v, v <= MAX_TIMER_MS, `at most ${MAX_TIMER_MS} ms (about 24.8 days; longer timers fire at once)`);

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
  return check(path, v, typeof v === 'boolean', 'true or false');
}

/** A function. */
export function func<F extends (...args: never[]) => unknown>(path: string, v: unknown): F {
  if (typeof v !== 'function') throw new TypeError(`${path} must be a function, got ${v === null ? 'null' : typeof v}`);
  return v as F;
}

/** One of a fixed set of strings. */
export function oneOf<const T extends string>(path: string, v: unknown, allowed: readonly T[]): T {
  return check(path, v, (allowed as readonly unknown[]).includes(v), `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
}

/** A string of at least one character. */
export function nonEmptyString(path: string, v: unknown): string {
  return check(path, v, typeof v === 'string' && v.length > 0, 'a non-empty string');
}
