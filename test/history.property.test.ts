/**
 * The in-memory engine's history against a model (fast-check): whatever the sequence of publishes,
 * expiries and reads, a read with `since` returns exactly the messages after it or none with a
 * reason (all or nothing), `limit` returns the newest, and at most `size` are kept.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryHistory } from '../src/engines/memory-history.js';

const op = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('publish' as const), dt: fc.integer({ min: 0, max: 30 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('read' as const),
      back: fc.integer({ min: -2, max: 40 }),
      limit: fc.option(fc.integer({ min: 1, max: 30 }), { nil: undefined }),
      wrongEpoch: fc.boolean(),
    }),
  },
);

describe('MemoryHistory', () => {
  it('answers every read as the model says', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 20, max: 200 }), fc.array(op, { maxLength: 400 }), (size, ttlMs, ops) => {
        const h = new MemoryHistory(1_000_000);
        let now = 0;
        /** The model: every message ever published, with its time. */
        const all: { offset: number; at: number }[] = [];
        const kept = () => all.filter((m) => m.at + ttlMs > now).slice(-size);
        for (const o of ops) {
          if (o.kind === 'publish') {
            now += o.dt;
            const stored = h.append('t', all.length + 1, {}, { size, ttlMs }, now);
            all.push({ offset: all.length + 1, at: now });
            expect(stored.meta.offset).toBe(all.length);
            continue;
          }
          const top = all.length;
          const epoch = h.read('t', {}, now).top.epoch;
          const since = { epoch: o.wrongEpoch ? `${epoch}x` : epoch, offset: Math.max(0, top - o.back) };
          const r = h.read('t', { since, ...(o.limit ? { limit: o.limit } : {}) }, now);
          const k = kept();
          const first = k[0]?.offset ?? top + 1;
          const recoverable = !o.wrongEpoch && since.offset <= top && first <= since.offset + 1;
          expect(r.top).toEqual({ epoch, offset: top });
          expect(r.recovered).toBe(recoverable);
          if (recoverable) {
            expect(r.messages.map((m) => m.meta.offset)).toEqual(all.slice(since.offset).map((m) => m.offset));
          } else {
            expect(r.reason).toBe(o.wrongEpoch ? 'epoch' : 'window');
            const newest = o.limit ? k.slice(-o.limit).map((m) => m.offset) : [];
            expect(r.messages.map((m) => m.meta.offset)).toEqual(newest);
          }
          expect(r.messages.every((m) => m.data === m.meta.offset)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('keeps at most size messages however many are published (bounded memory)', () => {
    const h = new MemoryHistory(1_000_000);
    for (let i = 1; i <= 100_000; i++) h.append('t', i, {}, { size: 50, ttlMs: 1e9 }, 0);
    const r = h.read('t', { limit: 1_000 }, 0);
    expect(r.messages.map((m) => m.meta.offset)).toEqual(Array.from({ length: 50 }, (_, i) => 99_951 + i));
  });

  it('forgets an idle stream without subscribers after the idle ttl (new epoch), but not one in use', () => {
    const h = new MemoryHistory(1_000);
    h.append('idle', 1, {}, { size: 5, ttlMs: 10 }, 0);
    h.append('used', 1, {}, { size: 5, ttlMs: 10 }, 0);
    const before = { idle: h.read('idle', {}, 0).top.epoch, used: h.read('used', {}, 0).top.epoch };
    h.sweep(2_000, (t) => t === 'used');
    expect(h.read('used', {}, 2_000).top).toEqual({ epoch: before.used, offset: 1 });
    const idle = h.read('idle', {}, 2_000).top;
    expect(idle.offset).toBe(0);
    expect(idle.epoch).not.toBe(before.idle);
  });
});
