/**
 * Client-side helpers for high-rate data, so apps need not hand-write them (docs/streams.md,
 * "Client helpers for high-rate data"): a bounded ring buffer that
 * keeps the newest N items (a chart's window, a log tail), and a store that keeps only the latest
 * value per key and hands changes over once per frame or interval (a dashboard of 10,000 tickers
 * updating faster than anyone can read).
 */

/**
 * A fixed-capacity ring buffer: pushing into a full buffer overwrites the oldest item. O(1) push,
 * no allocation after construction.
 *
 * @example
 * const last100 = new RingBuffer<number>(100);
 * client.subscribe('cpu', (v: number) => { last100.push(v); chart.draw(last100.toArray()); });
 */
export class RingBuffer<T> implements Iterable<T> {
  readonly capacity: number;
  readonly #items: (T | undefined)[];
  #start = 0;
  #size = 0;
  /** Items overwritten since creation (lost to the window). */
  dropped = 0;

  constructor(capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new TypeError('capacity must be a positive integer');
    this.capacity = capacity;
    this.#items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.#size;
  }

  /** Appends; returns the item pushed out, if the buffer was full. */
  push(item: T): T | undefined {
    if (this.#size < this.capacity) {
      this.#items[(this.#start + this.#size) % this.capacity] = item;
      this.#size++;
      return undefined;
    }
    const out = this.#items[this.#start];
    this.#items[this.#start] = item;
    this.#start = (this.#start + 1) % this.capacity;
    this.dropped++;
    return out;
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const out = this.#items[this.#start];
    this.#items[this.#start] = undefined;
    this.#start = (this.#start + 1) % this.capacity;
    this.#size--;
    return out;
  }

  /** The item at `index` from the oldest (0) to the newest (size − 1); negative counts from the newest. */
  at(index: number): T | undefined {
    const i = index < 0 ? this.#size + index : index;
    if (i < 0 || i >= this.#size) return undefined;
    return this.#items[(this.#start + i) % this.capacity];
  }

  clear(): void {
    this.#items.fill(undefined);
    this.#start = 0;
    this.#size = 0;
  }

  /** Oldest first. */
  toArray(): T[] {
    const out: T[] = new Array(this.#size);
    for (let i = 0; i < this.#size; i++) out[i] = this.#items[(this.#start + i) % this.capacity] as T;
    return out;
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let i = 0; i < this.#size; i++) yield this.#items[(this.#start + i) % this.capacity] as T;
  }
}

/** Options of {@link createLatestByKey}. */
export interface LatestByKeyOptions {
  /**
   * How changes are handed over: `'frame'` batches per animation frame (browsers), a number batches
   * every that many ms, `'sync'` hands each change over at once. @default 'frame' where
   * `requestAnimationFrame` exists, else 16
   */
  flush?: 'frame' | 'sync' | number;
}

/** What {@link createLatestByKey} returns. */
export interface LatestByKey<K, V> {
  /** Records a value; within one flush only the latest per key is handed over. */
  set(key: K, value: V): void;
  /** The latest value of a key. */
  get(key: K): V | undefined;
  /** All latest values. */
  entries(): IterableIterator<[K, V]>;
  readonly size: number;
  /** Values replaced before anyone saw them (coalesced). */
  readonly coalesced: number;
  /** Stops flushing; pending changes are dropped. */
  dispose(): void;
}

/**
 * Keeps the latest value per key and calls `onFlush` with the keys changed since the last flush —
 * once per animation frame (or interval), however many updates arrived: past about 100 updates a
 * second a UI keeps up only by batching, and this does it once (docs/streams.md).
 *
 * @example
 * const prices = createLatestByKey<string, number>((changed) => render(changed));
 * client.subscribe('prices', ({ symbol, price }) => prices.set(symbol, price));
 */
export function createLatestByKey<K, V>(
  onFlush: (changed: Map<K, V>) => void,
  options: LatestByKeyOptions = {},
): LatestByKey<K, V> {
  const raf = (globalThis as { requestAnimationFrame?: (cb: () => void) => number }).requestAnimationFrame;
  const caf = (globalThis as { cancelAnimationFrame?: (h: number) => void }).cancelAnimationFrame;
  const flush = options.flush ?? (raf ? 'frame' : 16);
  if (flush === 'frame' && !raf) throw new TypeError("flush: 'frame' needs requestAnimationFrame");
  if (typeof flush === 'number' && !(flush >= 0)) throw new TypeError('flush interval must be a non-negative number');
  const latest = new Map<K, V>();
  let pending = new Map<K, V>();
  let scheduled: number | ReturnType<typeof setTimeout> | undefined;
  let coalesced = 0;
  let disposed = false;

  const run = () => {
    scheduled = undefined;
    if (disposed || pending.size === 0) return;
    const changed = pending;
    pending = new Map();
    onFlush(changed);
  };

  return {
    set(key, value) {
      if (disposed) return;
      latest.set(key, value);
      if (flush === 'sync') return onFlush(new Map([[key, value]]));
      if (pending.has(key)) coalesced++;
      pending.set(key, value);
      if (scheduled !== undefined) return;
      scheduled = flush === 'frame' ? raf!(run) : setTimeout(run, flush);
    },
    get: (key) => latest.get(key),
    entries: () => latest.entries(),
    get size() {
      return latest.size;
    },
    get coalesced() {
      return coalesced;
    },
    dispose() {
      disposed = true;
      if (scheduled === undefined) return;
      if (flush === 'frame') caf?.(scheduled as number);
      else clearTimeout(scheduled as ReturnType<typeof setTimeout>);
      scheduled = undefined;
      pending.clear();
    },
  };
}
