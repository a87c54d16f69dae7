/**
 * The MessagePack codec's wire (docs/protocol.md §2.6), pure: it writes the very bytes
 * @msgpack/msgpack (the previous encoder, kept as a devDependency for this oracle) writes for any
 * value the protocol carries, reads them back to the same value, and refuses input that is not
 * plain MessagePack — msgpackr's own extension types and records, a `__proto__` key, trailing
 * bytes — with 1007, from byte fixtures. Invalid UTF-8 reads as U+FFFD (as under JSON), where
 * @msgpack/msgpack dropped bytes. fast-check prints the seed of a failure.
 */
import { Decoder, Encoder, ExtData } from '@msgpack/msgpack';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CloseCode } from '../src/protocol/close-codes.js';
import { MAX_FRAME_DEPTH } from '../src/protocol/depth.js';
import { MAX_CHECKED_DEPTH, isPlainMsgpack } from '../src/protocol/msgpack-check.js';
import { msgpackCodec } from '../src/protocol/msgpack.js';

const oracle = new Encoder({ ignoreUndefined: true, maxDepth: MAX_FRAME_DEPTH + 1 });
const oracleDecoder = new Decoder();
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s+/g, ''), 'hex'));

/** Whether a value @msgpack/msgpack decoded holds an extension it does not know. */
function hasExtData(v: unknown): boolean {
  if (v instanceof ExtData) return true;
  if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v) || v instanceof Date) return false;
  return Object.values(v).some(hasExtData);
}

/** Numbers of every MessagePack width: small, 8/16/32-bit, beyond 32 bits (safe), unsafe, floats. */
const number = fc.oneof(
  fc.integer({ min: -40, max: 300 }),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.constantFrom(0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 0x100000000, -0x20, -0x21, -0x80, -0x81, -0x8000, -0x8001, -0x80000000, -0x80000001, 2 ** 53, -(2 ** 53), 2 ** 60, -0, Infinity, -Infinity, NaN, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER),
  fc.double(),
);
/** Strings around every header width, ASCII and not. */
const string = fc.oneof(fc.string(), fc.string({ unit: 'grapheme', maxLength: 40 }), fc.constantFrom(31, 32, 255, 256, 65535, 65536).map((n) => 'x'.repeat(n)), fc.constantFrom('é'.repeat(16), '😀'.repeat(8), '__proto__'));
/** Values the protocol carries: leaves of every kind, arrays and maps, `undefined` properties. */
function values(str: fc.Arbitrary<string>) {
  const leaf = fc.oneof(
    number,
    str,
    fc.boolean(),
    fc.constant(null),
    fc.uint8Array({ maxLength: 300 }),
    fc.date({ noInvalidDate: true }),
    fc.constantFrom(new Date(0), new Date(500), new Date(-1), new Date(2 ** 34 * 1000), new Date(8.64e15)),
  );
  return fc.letrec((tie) => ({
    v: fc.oneof({ depthSize: 'small' }, leaf, tie('arr'), tie('obj')),
    arr: fc.array(tie('v'), { maxLength: 20 }),
    // Map keys never `__proto__`: both decoders refuse such a map by design (docs/protocol.md §2.6),
    // which the tests of refused input check; here the keys are those a valid frame may carry.
    obj: fc.dictionary(fc.oneof(fc.string().filter((k) => k !== '__proto__'), fc.constantFrom('t', 'id', 'x'.repeat(40))), fc.oneof(tie('v'), fc.constant(undefined)), { maxKeys: 20 }),
  })).v;
}
/** Frames like the protocol's, around any value. */
function frames(value: fc.Arbitrary<unknown>) {
  return fc.oneof(
    value.map((input) => ({ t: 'call', id: 1, name: 'echo', input })),
    value.map((data) => ({ t: 'msg', topic: 'room', data, meta: { offset: 12, epoch: 'e' } })),
    fc.array(value, { maxLength: 5 }).map((items) => ({ t: 'item', id: 7, items })),
    value,
  );
}
const frame = frames(values(string));
/** Small frames (short strings only), to mutate byte by byte. */
const smallFrame = frames(values(fc.string({ maxLength: 20 })));

describe('MessagePack wire', () => {
  it('writes the bytes @msgpack/msgpack writes, and reads them back to what that library reads', () => {
    fc.assert(
      fc.property(frame, (f) => {
        const ours = msgpackCodec.encode(f) as Uint8Array;
        expect(hex(ours)).toBe(hex(oracle.encode(f)));
        const back = msgpackCodec.decode(ours, true);
        expect(back.ok).toBe(true);
        expect((back as { value: unknown }).value).toEqual(oracleDecoder.decode(ours));
      }),
      { numRuns: 200 },
    );
  });

  it('writes what plain MessagePack means for values msgpackr would write its own way', () => {
    const cases: [unknown, unknown][] = [
      // A Map, a Set, a class instance, an object with toJSON: own enumerable properties only.
      [{ m: new Map([['a', 1]]), s: new Set([1]), e: new Error('x'), r: /x/ }, { m: {}, s: {}, e: {}, r: {} }],
      [new (class P { a = 1; get b() { return 2; } })(), { a: 1 }],
      [{ a: 1, toJSON: undefined }, { a: 1 }],
      [Object.assign(Object.create({ inherited: 1 }) as object, { own: 2 }), { own: 2 }],
      // 64-bit integers: uint 64 / int 64, as @msgpack/msgpack writes them.
      [2 ** 40, 2 ** 40],
      [-(2 ** 40), -(2 ** 40)],
      [[undefined, 1], [null, 1]],
      [new ArrayBuffer(3), new Uint8Array(3)],
      [new DataView(new Uint8Array([1, 2]).buffer), new Uint8Array([1, 2])],
    ];
    for (const [input, same] of cases) expect(hex(msgpackCodec.encode({ v: input }) as Uint8Array), String(input)).toBe(hex(oracle.encode({ v: same })));
    expect(hex(msgpackCodec.encode(2 ** 40) as Uint8Array)).toBe('cf0000010000000000');
    expect(hex(msgpackCodec.encode(-(2 ** 40)) as Uint8Array)).toBe('d3ffffff0000000000');
    // An invalid Date is nil, as JSON's null (@msgpack/msgpack wrote a timestamp of 1970).
    expect(hex(msgpackCodec.encode({ d: new Date(NaN) }) as Uint8Array)).toBe('81a164c0');
    for (const bad of [1n, Symbol('s'), () => 1]) expect(() => msgpackCodec.encode({ v: bad })).toThrow(TypeError);
  });

  it('refuses with 1007 what is not plain MessagePack, from byte fixtures', () => {
    const refused: [string, string][] = [
      ['msgpackr record definition (fixext 1, type 0x72)', 'd4 72 40'],
      ['msgpackr Set extension (0x73)', 'd4 73 00 90'],
      ['msgpackr typed-array extension (0x74)', 'c7 03 74 01 00 00'],
      ['an unknown extension type', 'd5 05 00 00'],
      ['ext 16 of the timestamp type', 'c8 00 0c ff' + '00'.repeat(12)],
      ['timestamp of a wrong size', 'c7 08 ff' + '00'.repeat(8)],
      ['the never-used 0xc1', 'c1'],
      ['a "__proto__" key', '81 a9 5f5f70726f746f5f5f 01'],
      ['a "__proto__" key as str 8', '81 d9 09 5f5f70726f746f5f5f 01'],
      ['a map as a key', '81 80 01'],
      ['nil as a key', '81 c0 01'],
      ['bytes after the value', '81 a1 74 a1 78 00'],
      ['a truncated map', '82 a1 74 a1 78'],
      ['a truncated string', 'a5 61 62'],
      ['an array claiming 2^32−1 items', 'dd ffffffff 01'],
      ['nothing', ''],
    ];
    for (const [what, h] of refused) {
      expect(isPlainMsgpack(bytes(h)), what).toBe(false);
      expect(msgpackCodec.decode(bytes(h), true), what).toEqual({ ok: false, code: CloseCode.INVALID_PAYLOAD, reason: 'message is not valid MessagePack' });
    }
    // Numbers are keys msgpack allows (they become property names), and timestamps decode.
    expect(msgpackCodec.decode(bytes('82 01 a1 78 cb 3ff8000000000000 c3'), true)).toEqual({ ok: true, value: { 1: 'x', 1.5: true } });
    expect(msgpackCodec.decode(bytes('81 a1 64 d6 ff 00000001'), true)).toEqual({ ok: true, value: { d: new Date(1000) } });
    expect(msgpackCodec.decode(bytes('81 a1 74 a1 78'), false)).toMatchObject({ ok: false, code: CloseCode.UNSUPPORTED_DATA });
  });

  it('reads frames nested up to the checked depth without recursing past it, and refuses deeper ones', () => {
    const nested = (n: number) => bytes('91'.repeat(n) + 'c0');
    const deepest = msgpackCodec.decode(nested(MAX_CHECKED_DEPTH), true);
    expect(deepest.ok).toBe(true);
    // 200,000 levels in 200 KB: refused by the check, before a recursive decoder sees it.
    expect(msgpackCodec.decode(nested(MAX_CHECKED_DEPTH + 1), true)).toMatchObject({ ok: false, code: CloseCode.INVALID_PAYLOAD });
    expect(msgpackCodec.decode(nested(200_000), true)).toMatchObject({ ok: false, code: CloseCode.INVALID_PAYLOAD });
  });

  it('never throws on random or mutated input, and accepts exactly what @msgpack/msgpack decodes as plain values', () => {
    const mutated = fc.tuple(smallFrame, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 })).map(([f, edits]) => {
      const b = Uint8Array.from(oracle.encode(f));
      for (const [at, v] of edits) if (b.length) b[at % b.length] = v;
      return b;
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), mutated), (b) => {
        const ours = msgpackCodec.decode(b, true);
        let theirs: { ok: boolean; value?: unknown };
        try {
          theirs = { ok: true, value: oracleDecoder.decode(b) };
        } catch {
          theirs = { ok: false };
        }
        // @msgpack/msgpack hands unknown extensions over as ExtData objects; we refuse them.
        const plain = theirs.ok && !hasExtData(theirs.value);
        if (!ours.ok) return void expect(plain).toBe(false);
        expect(theirs.ok).toBe(true);
        // Invalid UTF-8 in a string reads as U+FFFD here (as TextDecoder and the JSON codec read
        // it) where @msgpack/msgpack drops bytes: compare where the input is canonical, valid bytes.
        if (hex(oracle.encode(theirs.value)) === hex(b)) expect(ours.value).toEqual(theirs.value);
      }),
      { numRuns: 1_000 },
    );
  });
});
