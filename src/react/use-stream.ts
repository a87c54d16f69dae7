/**
 * `useStream`: a server stream's items in a rolling window while the component is mounted,
 * cancelled (the server's handler aborted) a macrotask after the last hook on it unmounts or asks
 * for another input. Hooks asking for the same name and input share one stream.
 */
import { useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import type { SwitchboardError } from '../protocol/errors.js';
import { bool, check, positiveInt } from '../shared/options.js';
import { useProviderClient } from './context.js';
import { acquire } from './shared-resources.js';
import { IDLE_STREAM, streamResource, type StreamStore } from './stream-store.js';

/** Options of {@link useStream}. */
export interface UseStreamOptions {
  /** How many of the newest items `items` keeps (a chart's rolling window). @default 100 */
  window?: number;
  /** `false` opens no stream (and returns the idle state). @default true */
  enabled?: boolean;
  /** Items the server may send ahead of the consumer (the credit window), when this hook opens the stream. @default 64 */
  highWaterMark?: number;
  /**
   * Open the stream again when the connection is back after a drop ended it (`DISCONNECTED`).
   * The window keeps the items received before. @default true
   */
  reopen?: boolean;
}

/** What {@link useStream} returns. */
export interface StreamState<T = unknown> {
  /** The newest items, oldest first, at most `window` of them. */
  readonly items: readonly T[];
  /** The newest item. */
  readonly last: T | undefined;
  /** Items received (across re-openings). */
  readonly received: number;
  /** The server ended the stream. */
  readonly done: boolean;
  /** Why it failed (`NOT_FOUND`, `INVALID_INPUT`, the handler's code, `DISCONNECTED` until it reopens). */
  readonly error: SwitchboardError | undefined;
}

/** Default of `window`. */
export const DEFAULT_WINDOW = 100;

const idle = () => IDLE_STREAM;
const noSubscribe = () => () => {};
let unkeyable = 0;

/** The identity of a stream request: its name and input, as JSON (an input JSON cannot write is never shared). */
function streamKey(name: string, input: unknown): string {
  try {
    return `stream\u0000${name}\u0000${JSON.stringify(input) ?? ''}`;
  } catch {
    return `stream\u0000${name}\u0000#${++unkeyable}`;
  }
}

/**
 * Reads a server stream while the component is mounted: the newest items in a rolling window.
 * A new `input` (compared as JSON) cancels the stream and opens another; unmounting cancels it.
 *
 * @example
 * const { items, error } = useStream<Sample>('metrics', { everyMs: 100 }, { window: 300 });
 */
export function useStream<T = unknown, Input = unknown>(name: string, input?: Input, options: UseStreamOptions = {}): StreamState<T> {
  const { window = DEFAULT_WINDOW, enabled = true, highWaterMark, reopen = true } = options;
  positiveInt('useStream window', window);
  bool('useStream enabled', enabled);
  bool('useStream reopen', reopen);
  if (highWaterMark !== undefined) positiveInt('useStream highWaterMark', highWaterMark);
  if (enabled) check('useStream name', name, typeof name === 'string' && name.length > 0, 'a non-empty string');
  const { client } = useProviderClient('useStream');
  const key = streamKey(name, input);
  const [held, setHeld] = useState<{ key: string; client: object; store: StreamStore } | undefined>(undefined);
  useEffect(() => {
    if (!client || !enabled) return;
    // `input` is the one this key was made from (the key changes with it).
    const h = acquire(client, key, () => streamResource(client, name, input, window, { highWaterMark, reopen }));
    h.store.grow(window);
    setHeld({ key, client, store: h.store });
    return () => h.release();
  }, [client, key, enabled]);
  const store = enabled && held && held.key === key && held.client === client ? held.store : undefined;
  useEffect(() => void store?.grow(window), [store, window]);
  const snapshot = useSyncExternalStore(store?.subscribe ?? noSubscribe, store?.getSnapshot ?? idle, idle);
  const all = snapshot.items as readonly T[];
  const items = useMemo(() => (all.length > window ? all.slice(all.length - window) : all), [all, window]);
  return useMemo(
    () => ({ items, last: snapshot.last as T | undefined, received: snapshot.received, done: snapshot.done, error: snapshot.error }),
    [items, snapshot],
  );
}
