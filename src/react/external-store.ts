/**
 * The one listener set behind every store of the bindings (connection state, topics, streams):
 * what `useSyncExternalStore` subscribes to. A listener that throws does not stop the others: it
 * is rethrown once, outside, in a microtask (as the client treats a throwing `error` listener).
 */
import { rethrowLater } from '../shared/emitter.js';

/** A minimal external store: `subscribe` for `useSyncExternalStore`, `notify` for its owner. */
export class ExternalStore {
  readonly #listeners = new Set<() => void>();

  /** Adds a listener; returns its remover. Bound, so it can be handed to React as is. */
  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  };

  /** How many listeners are subscribed now. */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  /** Tells every listener that the snapshot changed. */
  notify(): void {
    for (const l of [...this.#listeners]) {
      try {
        l();
      } catch (err) {
        rethrowLater(err, 'store');
      }
    }
  }
}
