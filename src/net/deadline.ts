/**
 * A deadline for a value the application hands back (`authenticate`), which may be a plain value, a
 * promise, or any other thenable.
 */

/** What {@link deadline} resolves when the time ran out first. */
export const TIMED_OUT: unique symbol = Symbol('timed out');

/** Races a value or thenable against `ms`; the loser is ignored (its rejection too). */
export function deadline<T>(p: PromiseLike<T> | T, ms: number): Promise<T | typeof TIMED_OUT> {
  // Any thenable, not only this realm's Promise: a promise from another realm (vm, an iframe-like
  // context) or a library (Bluebird) fails `instanceof Promise`, and one that never settles must
  // still be cut at the deadline instead of holding an admission slot forever.
  if (typeof (p as { then?: unknown } | null | undefined)?.then !== 'function') return Promise.resolve(p as T);
  let timer: NodeJS.Timeout;
  return Promise.race([
    Promise.resolve(p).finally(() => clearTimeout(timer)),
    new Promise<typeof TIMED_OUT>((resolve) => (timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, ms)))),
  ]);
}
