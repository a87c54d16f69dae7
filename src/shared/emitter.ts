/**
 * The package's one event emitter and its one policy for a listener that throws: every other
 * listener still runs, and the error goes to the owner's `onListenerError` (the client's `error`
 * event, a logger). Owners without one rethrow it in a microtask, as `EventTarget` does, so the
 * fault surfaces as an uncaught error instead of vanishing or breaking the emitter's caller.
 * Runtime-neutral: no Node or DOM imports.
 */

/** An event map: each event's listener signature. */
export type ListenerMap = { [event: string]: (...args: never[]) => void };

/** Turns a map of single-argument events (`{ open: { clientId: string } }`) into a {@link ListenerMap}. */
export type Listeners<Events extends object> = { [K in keyof Events]: (arg: Events[K]) => void };

/** Where an error thrown by a listener goes. */
export type ListenerErrorHandler = (err: unknown, event: string) => void;

/** The default {@link ListenerErrorHandler}: rethrow outside the emitter, in a microtask. */
export const rethrowLater: ListenerErrorHandler = (err) => {
  queueMicrotask(() => {
    throw err;
  });
};

/** Calls `listener` with `args`, sending a throw to `onError`: the one place listeners are invoked. */
export function invokeListener<A extends unknown[]>(
  listener: (...args: A) => void,
  args: A,
  event: string,
  onError: ListenerErrorHandler = rethrowLater,
): void {
  try {
    listener(...args);
  } catch (err) {
    try {
      onError(err, event);
    } catch (again) {
      // The error handler itself threw (a throwing `error` listener): never loop, never swallow.
      rethrowLater(again, event);
    }
  }
}

/**
 * A small typed event emitter: `on`, `emit`, `listenerCount` and nothing else, since the browser
 * client bundles every method of it (docs/performance.md, "Bundle size"); a listener that should
 * run once removes itself with the function `on` returned, so callers never need to keep a
 * reference to the callback.
 *
 * @example
 * const events = new Emitter<{ close: (code: number, reason: string) => void }>();
 * const off = events.on('close', (code) => console.log(code));
 * events.emit('close', 1000, 'bye');
 * off();
 */
export class Emitter<Events extends { [K in keyof Events]: (...args: never[]) => void }> {
  readonly #listeners = new Map<keyof Events, Set<Events[keyof Events]>>();
  readonly #onListenerError: ListenerErrorHandler;

  /** @param onListenerError Where a throwing listener's error goes. @default {@link rethrowLater} */
  constructor(onListenerError: ListenerErrorHandler = rethrowLater) {
    this.#onListenerError = onListenerError;
  }

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof Events>(event: K, listener: Events[K]): () => void {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => void set.delete(listener);
  }

  /** Calls every listener of `event` in the order they were added, on a snapshot of the set. */
  emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    for (const listener of [...(this.#listeners.get(event) ?? [])]) {
      invokeListener(listener as (...a: Parameters<Events[K]>) => void, args, String(event), this.#onListenerError);
    }
  }

  /** How many listeners `event` has. */
  listenerCount(event: keyof Events): number {
    return this.#listeners.get(event)?.size ?? 0;
  }
}
