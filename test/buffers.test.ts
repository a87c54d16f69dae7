/**
 * Client helpers for high-rate data (src/client/buffers.ts, docs/streams.md): RingBuffer, and
 * createLatestByKey with real timers. Absence of a flush is shown with a fence — a second store
 * with the same interval, created later, whose flush therefore fires after the first one's would
 * have — never with a sleep.
 */
import { describe, expect, it } from 'vitest';
import { createLatestByKey, RingBuffer } from '../src/client/buffers.js';
import { until, within } from './helpers.js';

describe('RingBuffer', () => {
  it('refuses a capacity that is not a positive integer', () => {
    for (const c of [0, -1, 1.5, Number.NaN, Infinity]) expect(() => new RingBuffer(c)).toThrow(TypeError);
  });

  it('keeps the newest items, oldest first, across wraparound, and counts what it dropped', () => {
    const r = new RingBuffer<number>(3);
    expect(r.size).toBe(0);
    expect(r.push(1)).toBeUndefined();
    expect(r.push(2)).toBeUndefined();
    expect(r.push(3)).toBeUndefined();
    expect(r.toArray()).toEqual([1, 2, 3]);
    expect(r.dropped).toBe(0);
    expect(r.push(4)).toBe(1);
    expect(r.push(5)).toBe(2);
    expect(r.toArray()).toEqual([3, 4, 5]);
    expect([...r]).toEqual([3, 4, 5]);
    expect(r.size).toBe(3);
    expect(r.dropped).toBe(2);
    // Many laps around.
    for (let i = 6; i <= 1_000; i++) r.push(i);
    expect(r.toArray()).toEqual([998, 999, 1_000]);
    expect(r.dropped).toBe(997);
  });

  it('at(): from the oldest, negative from the newest, undefined out of range', () => {
    const r = new RingBuffer<string>(4);
    for (const s of ['a', 'b', 'c', 'd', 'e', 'f']) r.push(s); // wrapped: c d e f
    expect([0, 1, 2, 3].map((i) => r.at(i))).toEqual(['c', 'd', 'e', 'f']);
    expect([-1, -2, -3, -4].map((i) => r.at(i))).toEqual(['f', 'e', 'd', 'c']);
    expect(r.at(4)).toBeUndefined();
    expect(r.at(-5)).toBeUndefined();
    expect(new RingBuffer(2).at(0)).toBeUndefined();
    expect(new RingBuffer(2).at(-1)).toBeUndefined();
  });

  it('shift() takes the oldest, also across the wrap, and frees the slot', () => {
    const r = new RingBuffer<number>(3);
    for (const n of [1, 2, 3, 4]) r.push(n); // 2 3 4, start in the middle
    expect(r.shift()).toBe(2);
    expect(r.size).toBe(2);
    expect(r.push(5)).toBeUndefined(); // room again: nothing dropped
    expect(r.dropped).toBe(1);
    expect(r.toArray()).toEqual([3, 4, 5]);
    expect([r.shift(), r.shift(), r.shift(), r.shift()]).toEqual([3, 4, 5, undefined]);
    expect(r.size).toBe(0);
    r.push(6);
    expect(r.toArray()).toEqual([6]);
    expect(r.at(-1)).toBe(6);
  });

  it('clear() empties it and keeps the dropped count', () => {
    const r = new RingBuffer<number>(2);
    for (const n of [1, 2, 3]) r.push(n);
    r.clear();
    expect(r.size).toBe(0);
    expect(r.toArray()).toEqual([]);
    expect(r.dropped).toBe(1);
    r.push(9);
    expect(r.toArray()).toEqual([9]);
  });
});

describe('createLatestByKey', () => {
  it('flush: a number hands over the latest value per key once per interval, counting coalesced updates', async () => {
    const flushes: Map<string, number>[] = [];
    const store = createLatestByKey<string, number>((changed) => flushes.push(changed), { flush: 10 });
    store.set('a', 1);
    store.set('b', 1);
    store.set('a', 2);
    store.set('a', 3);
    expect(flushes).toEqual([]); // not at once
    expect(store.get('a')).toBe(3); // but readable at once
    await until(() => flushes.length === 1, 'the first flush');
    expect(flushes[0]).toEqual(new Map([['a', 3], ['b', 1]]));
    expect(store.coalesced).toBe(2);
    store.set('b', 2);
    await until(() => flushes.length === 2, 'the second flush');
    expect(flushes[1]).toEqual(new Map([['b', 2]]));
    expect(store.size).toBe(2);
    expect([...store.entries()]).toEqual([['a', 3], ['b', 2]]);
    store.dispose();
  });

  it("flush: 'sync' hands over every change at once", () => {
    const flushes: [string, number][][] = [];
    const store = createLatestByKey<string, number>((changed) => flushes.push([...changed]), { flush: 'sync' });
    store.set('a', 1);
    store.set('a', 2);
    expect(flushes).toEqual([[['a', 1]], [['a', 2]]]);
    expect(store.coalesced).toBe(0);
  });

  it('dispose() stops flushing: pending changes are dropped, later ones ignored', async () => {
    const flushed: unknown[] = [];
    const store = createLatestByKey<string, number>((c) => flushed.push(c), { flush: 20 });
    store.set('a', 1);
    store.dispose();
    store.set('b', 2);
    expect(store.get('b')).toBeUndefined();
    // Fence: created later with the same interval, so its timer fires after the disposed one would have.
    const fence = new Promise<void>((resolve) => createLatestByKey<string, number>(() => resolve(), { flush: 20 }).set('x', 1));
    await within(fence, 'the fence store’s flush');
    expect(flushed).toEqual([]);
  });

  it("defaults to a 16 ms interval without requestAnimationFrame; 'frame' then throws a TypeError", async () => {
    expect('requestAnimationFrame' in globalThis).toBe(false);
    expect(() => createLatestByKey(() => {}, { flush: 'frame' })).toThrow(TypeError);
    for (const bad of [-1, Number.NaN]) expect(() => createLatestByKey(() => {}, { flush: bad })).toThrow(TypeError);
    const flushed: Map<string, number>[] = [];
    const store = createLatestByKey<string, number>((c) => flushed.push(c));
    store.set('k', 1);
    store.set('k', 2);
    await until(() => flushed.length === 1, 'the default flush');
    expect(flushed[0]).toEqual(new Map([['k', 2]]));
    store.dispose();
  });
});
