/**
 * Resources the hooks share per client — one server subscription per topic, one stream per name
 * and input — counted by the hooks that hold them and released a little after the last one lets
 * go. The delay is what keeps React StrictMode's mount → unmount → mount (and a component that
 * moves in the tree) from unsubscribing and subscribing again on the wire: the second mount takes
 * the resource back before the release runs (docs/react.md, "Cleanup and StrictMode").
 */
import type { Client } from '../client/types.js';

/** What a shared resource owns: its store, and how to end it. */
export interface Resource<S> {
  readonly store: S;
  /** Ends what it started (unsubscribe, cancel); called once, after the last release. */
  dispose(): void;
}

interface Entry {
  resource: Resource<unknown>;
  holders: number;
  releaseTimer: ReturnType<typeof setTimeout> | undefined;
}

/** One table per client; it goes with the client. */
const tables = new WeakMap<Client, Map<string, Entry>>();

/** A held resource: its store, and the function that lets go of it (idempotent). */
export interface Held<S> {
  readonly store: S;
  release(): void;
}

/**
 * Holds the resource `key` of `client`, made by `create` if nobody holds it (or it is being
 * released). Call from an effect, and `release()` from its cleanup.
 */
export function acquire<S>(client: Client, key: string, create: () => Resource<S>): Held<S> {
  let table = tables.get(client);
  if (!table) tables.set(client, (table = new Map()));
  let entry = table.get(key);
  if (!entry) {
    entry = { resource: create(), holders: 0, releaseTimer: undefined };
    table.set(key, entry);
  }
  const e = entry;
  clearTimeout(e.releaseTimer);
  e.releaseTimer = undefined;
  e.holders++;
  let released = false;
  return {
    store: e.resource.store as S,
    release() {
      if (released) return;
      released = true;
      if (--e.holders > 0) return;
      // A macrotask later: StrictMode's second mount and a re-render with the same key run before it.
      e.releaseTimer = setTimeout(() => {
        e.releaseTimer = undefined;
        if (e.holders > 0 || table.get(key) !== e) return;
        table.delete(key);
        e.resource.dispose();
      }, 0);
    },
  };
}

/** How many resources of `client` are held or waiting for release (tests and diagnostics). */
export function heldResources(client: Client): number {
  return tables.get(client)?.size ?? 0;
}
