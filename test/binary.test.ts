/**
 * The JSON codec's binary envelope (src/protocol/binary.ts, docs/protocol.md §2.6): round trips,
 * a byte-level fixture, and every malformed envelope, which must throw EnvelopeError (and make the
 * codec refuse the message with 1007) without touching any prototype.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope, ENVELOPE_MAGIC, EnvelopeError, hasBinary } from '../src/protocol/binary.js';
import { jsonCodec } from '../src/protocol/codec.js';
import { RawPeer, startServer } from './helpers.js';

const utf8 = new TextEncoder();
const bytes = (...b: number[]) => new Uint8Array(b);

/** An envelope built by hand: a header (JSON text, or raw bytes), its declared length, attachments. */
function envelope(header: string | Uint8Array, parts: Uint8Array[] = [], declared?: number): Uint8Array {
  const h = typeof header === 'string' ? utf8.encode(header) : header;
  const out = new Uint8Array(5 + h.length + parts.reduce((n, p) => n + p.length, 0));
  out[0] = ENVELOPE_MAGIC;
  new DataView(out.buffer).setUint32(1, declared ?? h.length);
  out.set(h, 5);
  let at = 5 + h.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
const header = (f: unknown, b: unknown) => JSON.stringify({ f, b });

describe('encodeEnvelope / decodeEnvelope', () => {
  it('encodes the docs/protocol.md §2.6 example byte for byte', () => {
    const frame = { t: 'call', id: 3, name: 'put', input: { name: 'a.png', bytes: bytes(1, 2, 3, 4, 5) } };
    const h = '{"f":{"t":"call","id":3,"name":"put","input":{"name":"a.png","bytes":null}},"b":[[["input","bytes"],5]]}';
    // The header is 104 bytes: B1 00 00 00 68 (the example in docs/protocol.md §2.6 says 4C).
    const expected = Buffer.concat([Buffer.from([0xb1, 0x00, 0x00, 0x00, 0x68]), Buffer.from(h), Buffer.from([1, 2, 3, 4, 5])]);
    expect(Buffer.from(encodeEnvelope(frame))).toEqual(expected);
    expect(decodeEnvelope(new Uint8Array(expected))).toEqual(frame);
  });

  it('round-trips binary values at any position, nested in objects and arrays', () => {
    const frame = {
      t: 'item',
      id: 9,
      items: [bytes(1), { a: [null, bytes(2, 3), 'x', [[bytes(4)]]], b: { c: { d: bytes(5, 6, 7) } } }, 7, 'text', null, true],
      extra: { list: [bytes(), bytes(255)], n: 1.5 },
    };
    const decoded = decodeEnvelope(encodeEnvelope(frame));
    expect(decoded).toEqual(frame);
    const d = decoded as typeof frame;
    expect(d.items[0]).toBeInstanceOf(Uint8Array);
    expect(d.extra.list[0]).toEqual(bytes());
  });

  it('keeps empty byte arrays, and decodes attachments as views of the message (no copy)', () => {
    const frame = { t: 'ok', id: 1, output: { a: bytes(), b: [bytes(), bytes()] } };
    const env = encodeEnvelope(frame);
    const h = JSON.stringify({ f: { t: 'ok', id: 1, output: { a: null, b: [null, null] } }, b: [[['output', 'a'], 0], [['output', 'b', 0], 0], [['output', 'b', 1], 0]] });
    expect(env.byteLength).toBe(5 + h.length);
    expect(decodeEnvelope(env)).toEqual(frame);
    const withData = encodeEnvelope({ t: 'ok', id: 2, output: bytes(9, 8, 7) });
    const out = (decodeEnvelope(withData) as { output: Uint8Array }).output;
    expect(out.buffer).toBe(withData.buffer);
    expect(out.byteOffset).toBe(withData.byteLength - 3);
  });

  it('carries many attachments in order', () => {
    const many = Array.from({ length: 1_000 }, (_, i) => new Uint8Array(i % 7).fill(i % 256));
    const frame = { t: 'msg', topic: 't', data: { many, tail: bytes(42) } };
    const decoded = decodeEnvelope(encodeEnvelope(frame)) as typeof frame;
    expect(decoded.data.many).toHaveLength(1_000);
    decoded.data.many.forEach((b, i) => expect(b).toEqual(many[i]));
    expect(decoded.data.tail).toEqual(bytes(42));
  });

  it('sends ArrayBuffer, Buffer (with an offset), DataView and Float32Array as their bytes', () => {
    const base = Buffer.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const f32 = new Float32Array([1.5, -2]);
    const frame = {
      ab: new Uint8Array([7, 7]).buffer,
      buf: base.subarray(3, 6),
      dv: new DataView(base.buffer, base.byteOffset + 6, 3),
      f32,
    };
    const d = decodeEnvelope(encodeEnvelope(frame)) as Record<string, Uint8Array>;
    for (const v of Object.values(d)) expect(v).toBeInstanceOf(Uint8Array);
    expect([...d.ab!]).toEqual([7, 7]);
    expect([...d.buf!]).toEqual([3, 4, 5]);
    expect([...d.dv!]).toEqual([6, 7, 8]);
    expect(Buffer.from(d.f32!)).toEqual(Buffer.from(f32.buffer));
  });

  it('hasBinary finds binary values at any depth, and not in plain data or toJSON objects', () => {
    expect(hasBinary({ a: [{ b: [bytes()] }] })).toBe(true);
    expect(hasBinary({ a: new ArrayBuffer(1) })).toBe(true);
    expect(hasBinary({ a: new DataView(new ArrayBuffer(1)) })).toBe(true);
    expect(hasBinary({ a: [1, 'x', null, { b: true }], d: new Date(0) })).toBe(false);
    expect(hasBinary(null)).toBe(false);
    expect(hasBinary('text')).toBe(false);
  });

  it('jsonCodec: text without binary values, one envelope with them; both decode', () => {
    const plain = { t: 'ok', id: 1, output: { a: [1, 'é'] } };
    const p = jsonCodec.encode(plain);
    expect(typeof p).toBe('string');
    expect(jsonCodec.decode(p, false)).toEqual({ ok: true, value: plain });
    const withBytes = { t: 'ok', id: 1, output: { a: [1, bytes(1, 2)] } };
    const b = jsonCodec.encode(withBytes);
    expect(b).toBeInstanceOf(Uint8Array);
    expect((b as Uint8Array)[0]).toBe(ENVELOPE_MAGIC);
    expect(jsonCodec.decode(b, true)).toEqual({ ok: true, value: withBytes });
  });
});

describe('malformed envelopes throw EnvelopeError (the codec answers 1007)', () => {
  afterEach(() => {
    // No case may have reached a prototype.
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(([] as unknown as Record<string, unknown>).polluted).toBeUndefined();
  });

  const cases: [string, Uint8Array][] = [
    ['an empty message', new Uint8Array(0)],
    ['fewer than 5 bytes', bytes(0xb1, 0, 0, 0)],
    ['the wrong magic', (() => {
      const e = envelope(header({}, []));
      e[0] = 0xb0;
      return e;
    })()],
    ['a text frame sent as binary', utf8.encode('{"t":"ping"}')],
    ['a header length past the end', envelope(header({}, []), [], 1_000)],
    ['a header length of 2^32 − 1', envelope(header({}, []), [], 0xffffffff)],
    ['a header that is not JSON', envelope('{"f":')],
    ['a header that is not UTF-8', envelope(bytes(0x7b, 0xff, 0xfe, 0x7d))],
    ['a header that is not an object', envelope('[1]')],
    ['a header that is null', envelope('null')],
    ['a header without "b"', envelope('{"f":{}}')],
    ['"b" not an array', envelope(header({}, { 0: [['a'], 0] }))],
    ['an entry that is not an array', envelope(header({ a: null }, [1]))],
    ['an entry without a length', envelope(header({ a: null }, [[['a']]]))],
    ['an entry with 3 members', envelope(header({ a: null }, [[['a'], 1, 1]]), [bytes(1)])],
    ['an empty path', envelope(header({ a: null }, [[[], 1]]), [bytes(1)])],
    ['a path that is a string', envelope(header({ a: null }, [['a', 1]]), [bytes(1)])],
    ['a negative index', envelope(header([null], [[[-1], 1]]), [bytes(1)])],
    ['a fractional index', envelope(header([null], [[[0.5], 1]]), [bytes(1)])],
    ['a boolean in the path', envelope(header({ a: null }, [[[true], 1]]), [bytes(1)])],
    ['an object in the path', envelope(header({ a: null }, [[[{}], 1]]), [bytes(1)])],
    ['a path deeper than 65', envelope(header({ a: null }, [[Array(66).fill('a'), 1]]), [bytes(1)])],
    ['a path that does not exist', envelope(header({ a: null }, [[['x', 'y'], 1]]), [bytes(1)])],
    ['a path through a number', envelope(header({ a: 1 }, [[['a', 'b'], 1]]), [bytes(1)])],
    ['a path through null', envelope(header({ a: null }, [[['a', 'b'], 1]]), [bytes(1)])],
    ['a path through a string', envelope(header({ a: 'xyz' }, [[['a', 0], 1]]), [bytes(1)])],
    ['a path to a number', envelope(header({ a: 1 }, [[['a'], 1]]), [bytes(1)])],
    ['a path to a string', envelope(header({ a: 'x' }, [[['a'], 1]]), [bytes(1)])],
    ['a path to an object', envelope(header({ a: {} }, [[['a'], 1]]), [bytes(1)])],
    ['a path to a missing key', envelope(header({}, [[['a'], 1]]), [bytes(1)])],
    ['a path past an array’s end', envelope(header({ a: [null] }, [[['a', 1], 1]]), [bytes(1)])],
    ['a path into the frame’s root', envelope(header(null, [[['a'], 1]]), [bytes(1)])],
    ['the same placeholder twice', envelope(header({ a: null }, [[['a'], 1], [['a'], 1]]), [bytes(1), bytes(2)])],
    ['a "__proto__" key set to null', envelope('{"f":{"__proto__":null},"b":[[["__proto__"],1]]}', [bytes(1)])],
    ['a path through "__proto__"', envelope(header({ a: null }, [[['__proto__', 'polluted'], 1]]), [bytes(1)])],
    ['a path through "__proto__" of an array', envelope(header([null], [[['__proto__', 'polluted'], 1]]), [bytes(1)])],
    ['a path through "constructor"', envelope(header({ a: null }, [[['constructor', 'prototype', 'polluted'], 1]]), [bytes(1)])],
    ['a path to an inherited member', envelope(header({ a: null }, [[['toString'], 1]]), [bytes(1)])],
    ['a length past the end', envelope(header({ a: null }, [[['a'], 5]]), [bytes(1, 2)])],
    ['a negative length', envelope(header({ a: null }, [[['a'], -1]]), [bytes(1)])],
    ['a fractional length', envelope(header({ a: null }, [[['a'], 0.5]]), [bytes(1)])],
    ['a length that is a string', envelope(header({ a: null }, [[['a'], '1']]), [bytes(1)])],
    ['a length of 2^53', envelope(header({ a: null }, [[['a'], 2 ** 53]]), [bytes(1)])],
    ['lengths adding up to less than the message', envelope(header({ a: null, b: null }, [[['a'], 1], [['b'], 1]]), [bytes(1), bytes(2, 3)])],
    ['trailing bytes without attachments', envelope(header({ t: 'ping' }, []), [bytes(0)])],
  ];

  it.each(cases)('%s', (_what, data) => {
    expect(() => decodeEnvelope(data)).toThrow(EnvelopeError);
    expect(jsonCodec.decode(data, true)).toMatchObject({ ok: false, code: 1007 });
  });

  it('accepts the well-formed neighbours of those cases (the refusals are not blanket)', () => {
    expect(decodeEnvelope(envelope(header({ a: null }, [[['a'], 1]]), [bytes(1)]))).toEqual({ a: bytes(1) });
    expect(decodeEnvelope(envelope(header([null], [[[0], 2]]), [bytes(1, 2)]))).toEqual([bytes(1, 2)]);
    expect(decodeEnvelope(envelope(header({ a: null, b: null }, [[['b'], 1], [['a'], 2]]), [bytes(1), bytes(2, 3)]))).toEqual({ a: bytes(2, 3), b: bytes(1) });
    expect(decodeEnvelope(envelope(header({ t: 'ping' }, [])))).toEqual({ t: 'ping' });
    // A "__proto__" key stays an own data property of the frame, and is no attachment target.
    const decoded = decodeEnvelope(envelope('{"f":{"__proto__":{"x":null}},"b":[]}')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
  });
});

describe('on a live server', () => {
  it('answers a binary envelope, and closes a malformed one with 1007', async () => {
    const { server, url } = await startServer({}, (s) => s.command('len', ({ b }: { b: Uint8Array }) => b.byteLength));
    try {
      const p = await new RawPeer(url).ready();
      p.send(Buffer.from(envelope(header({ t: 'call', id: 1, name: 'len', input: { b: null } }, [[['input', 'b'], 3]]), [bytes(1, 2, 3)])));
      expect(await p.answer(1)).toEqual({ t: 'ok', id: 1, output: 3 });
      p.send(Buffer.from(envelope(header({ t: 'call', id: 2, name: 'len', input: { b: 1 } }, [[['input', 'b'], 3]]), [bytes(1, 2, 3)])));
      expect(await p.closed()).toBe(1007);
      expect(p.frames.some((f) => f.id === 2)).toBe(false);
    } finally {
      await server.close();
    }
  });
});
