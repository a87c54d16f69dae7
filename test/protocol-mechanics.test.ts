/**
 * The protocol mechanics both ends share, tested alone (docs/protocol.md §2.3, §2.6, §4): the
 * error ⇄ `err` frame conversion, the credit window, and the one depth limit.
 */
import { describe, expect, it } from 'vitest';
import { ReceiveWindow, SendWindow } from '../src/protocol/credit-window.js';
import { assertDepth, exceedsDepth, MAX_DEPTH, MAX_FRAME_DEPTH } from '../src/protocol/depth.js';
import { errFrame, errorFields, errorToFrame, frameToError, INTERNAL_MESSAGE } from '../src/protocol/error-frame.js';
import { ServerError, SwitchboardError } from '../src/protocol/errors.js';
import { jsonCodec } from '../src/protocol/codec.js';
import { msgpackCodec } from '../src/protocol/msgpack.js';
import { MAX_CREDIT } from '../src/protocol/frames.js';

/** `levels` nested arrays around `leaf`: `nest(2, 5)` is `[[5]]`. */
function nest(levels: number, leaf: unknown = 0): unknown {
  let v = leaf;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

describe('error ⇄ err frame', () => {
  it('a SwitchboardError keeps its code, message and details; no details member when undefined', () => {
    expect(errorToFrame(4, new ServerError('SOLD_OUT', 'No seats', { left: 0 }))).toEqual({ t: 'err', id: 4, code: 'SOLD_OUT', message: 'No seats', details: { left: 0 } });
    const bare = errorToFrame(5, new SwitchboardError('LIMIT', 'too many'));
    expect(bare).toEqual({ t: 'err', id: 5, code: 'LIMIT', message: 'too many' });
    expect('details' in bare).toBe(false);
  });
  it('anything else becomes INTERNAL with the generic message: internals never travel', () => {
    for (const thrown of [new Error('secret'), 'secret', undefined, { code: 'FAKE', message: 'secret' }]) {
      expect(errorToFrame(1, thrown)).toEqual({ t: 'err', id: 1, code: 'INTERNAL', message: INTERNAL_MESSAGE });
    }
    expect(errorFields(new TypeError('x'))).toEqual({ code: 'INTERNAL', message: INTERNAL_MESSAGE });
  });
  it('round-trips: frame → error → frame is the identity', () => {
    for (const f of [errFrame(9, 'NOT_FOUND', 'No command'), errFrame(9, 'RATE_LIMITED', 'slow', { retryAfterMs: 20 })]) {
      const err = frameToError(f);
      expect(err).toBeInstanceOf(SwitchboardError);
      expect(errorToFrame(9, err)).toEqual(f);
    }
    expect(frameToError(errFrame(1, 'RATE_LIMITED', 'slow', { retryAfterMs: 20 })).retryAfterMs).toBe(20);
  });
  it('a malformed frame from a peer still gives a SwitchboardError with string fields', () => {
    const err = frameToError({ code: 42, message: null } as never);
    expect(err).toMatchObject({ code: '42', message: 'null' });
  });
});

describe('SendWindow (the producer)', () => {
  it('starts with the initial credit and sends no more than granted', () => {
    const w = new SendWindow(2);
    expect(w.available).toBe(2);
    expect(w.take()).toBe(true);
    expect(w.take()).toBe(true);
    expect(w.take()).toBe(false); // over-consumption: refused, nothing taken
    expect(w.available).toBe(0);
    expect(w.grant(3)).toBe(true);
    expect(w.take(2)).toBe(true);
    expect(w.take(2)).toBe(false);
    expect(w.available).toBe(1);
  });
  it('ignores malformed grants and an invalid initial credit', () => {
    const w = new SendWindow();
    for (const bad of [0, -1, 1.5, NaN, Infinity, MAX_CREDIT + 1, '3', null, undefined]) expect(w.grant(bad)).toBe(false);
    expect(w.available).toBe(0);
    expect(new SendWindow(0).available).toBe(0);
    expect(new SendWindow(-4).available).toBe(0);
  });
  it('stops at 2^53−1 however often the maximum is granted', () => {
    const w = new SendWindow(MAX_CREDIT);
    // 2^53 / 2^31 = 2^22 grants reach the cap; a few more must not pass it.
    for (let i = 0; i < 2 ** 22 + 10; i++) w.grant(MAX_CREDIT);
    expect(w.available).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('ReceiveWindow (the consumer)', () => {
  it('grants highWaterMark first, then re-grants in halves as items are consumed', () => {
    const w = new ReceiveWindow(4);
    expect(w.open()).toBe(4);
    expect(w.outstanding).toBe(4);
    expect(w.receive(3)).toBe(true);
    expect(w.consume()).toBe(0);
    expect(w.consume()).toBe(2); // half of 4 consumed: grant them
    expect(w.outstanding).toBe(3);
    expect(w.consume()).toBe(0);
  });
  it('refuses items beyond what was granted (over-consumption), counting nothing', () => {
    const w = new ReceiveWindow(2);
    w.open();
    expect(w.receive(3)).toBe(false);
    expect(w.outstanding).toBe(2);
    expect(w.receive(2)).toBe(true);
    expect(w.receive(1)).toBe(false);
  });
  it('odd windows round the half up; a window of 1 re-grants every item', () => {
    const one = new ReceiveWindow(1);
    one.open();
    expect([one.consume(), one.consume()]).toEqual([1, 1]);
    const five = new ReceiveWindow(5);
    five.open();
    expect([five.consume(), five.consume(), five.consume()]).toEqual([0, 0, 3]);
  });
  it('never runs the producer more than highWaterMark ahead', () => {
    const hwm = 7;
    const w = new ReceiveWindow(hwm);
    const producer = new SendWindow(w.open());
    let inFlight = 0;
    for (let step = 0; step < 1_000; step++) {
      // The producer sends everything it may; the consumer takes one item.
      while (producer.take()) {
        expect(w.receive(1)).toBe(true);
        inFlight++;
      }
      expect(inFlight).toBeLessThanOrEqual(hwm);
      inFlight--;
      const n = w.consume();
      if (n > 0) producer.grant(n);
    }
  });
  it('a highWaterMark that is not a positive integer is a TypeError; past 2^31−1 it is capped', () => {
    for (const bad of [0, -1, 1.5, NaN]) expect(() => new ReceiveWindow(bad)).toThrow(TypeError);
    expect(new ReceiveWindow(2 ** 40).open()).toBe(MAX_CREDIT);
  });
});

describe('the depth limit', () => {
  it('counts containers: a scalar nests 0, binary values and dates are leaves', () => {
    expect(exceedsDepth(5, 0)).toBe(false);
    expect(exceedsDepth([5], 0)).toBe(true);
    expect(exceedsDepth({ a: [5] }, 2)).toBe(false);
    expect(exceedsDepth({ a: [5] }, 1)).toBe(true);
    expect(exceedsDepth([new Uint8Array(2), new Date(0), new ArrayBuffer(1)], 1)).toBe(false);
    expect(exceedsDepth(nest(MAX_DEPTH))).toBe(false);
    expect(exceedsDepth(nest(MAX_DEPTH + 1))).toBe(true);
    expect(() => assertDepth(nest(MAX_DEPTH + 1), '"data"')).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
  });
  it('is safe on any depth (no stack overflow) and stops early', () => {
    expect(exceedsDepth(nest(1_000_000))).toBe(true);
  });
  it('both codecs carry a value at the limit inside the deepest frame, with binary at the bottom', () => {
    for (const codec of [jsonCodec, msgpackCodec]) {
      for (const leaf of [1, new Uint8Array([1, 2, 3])]) {
        const frame = { t: 'item', id: 1, items: [nest(MAX_DEPTH, leaf)] };
        const out = codec.encode(frame);
        const back = codec.decode(out, typeof out !== 'string');
        expect(back.ok, `${codec.name} ${String(leaf)}`).toBe(true);
        let v = (back as { value: { items: unknown[] } }).value.items[0];
        for (let i = 0; i < MAX_DEPTH; i++) v = (v as unknown[])[0];
        expect(v instanceof Uint8Array ? [...v] : v).toEqual(leaf instanceof Uint8Array ? [1, 2, 3] : leaf);
      }
    }
  });
  it('both codecs refuse a frame past MAX_FRAME_DEPTH with the same coded error', () => {
    for (const codec of [jsonCodec, msgpackCodec]) {
      for (const leaf of [1, new Uint8Array([1])]) {
        expect(() => codec.encode({ t: 'item', id: 1, items: [nest(MAX_DEPTH + 1, leaf)] }), codec.name).toThrow(
          expect.objectContaining({ code: 'BAD_REQUEST' }),
        );
      }
      // One level less fits whatever the frame kind.
      expect(() => codec.encode(nest(MAX_FRAME_DEPTH))).not.toThrow();
      expect(() => codec.encode(nest(MAX_FRAME_DEPTH + 1))).toThrow(expect.objectContaining({ code: 'BAD_REQUEST' }));
    }
  });
});
