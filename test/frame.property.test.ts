/**
 * The Node transport's frame builder (src/server/transport/frame.ts) against `ws`'s own `Sender`
 * (fast-check): for text and binary payloads of every length class (< 126, 126–65535, > 65535) it
 * writes exactly the bytes ws writes, and a strict parser written here from RFC 6455 §5.2 alone
 * reads each frame back (FIN, opcode, no RSV bits, no mask, the shortest length form, the payload).
 * Frames built this way go straight to subscriber sockets (docs/performance.md, "Frame once").
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
// ws exports its Sender (the module it writes every frame with; not in its typings): the oracle.
import * as wsModule from 'ws';
import { buildFrame, frameHeaderLength } from '../src/server/transport/frame.js';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 300);

/** What ws's Sender writes for an unmasked, unfragmented, uncompressed server message. */
function wsFrame(payload: Buffer, binary: boolean): Buffer {
  const parts = (wsModule as unknown as { Sender: { frame(data: Buffer, o: object): Buffer[] } }).Sender.frame(payload, {
    fin: true,
    opcode: binary ? 2 : 1,
    mask: false,
    readOnly: false,
    rsv1: false,
  });
  return Buffer.concat(parts);
}

interface Parsed {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

/** A strict reader of one whole server frame: refuses anything RFC 6455 §5.2 does not allow a server to send here. */
function parseFrame(frame: Buffer): Parsed {
  if (frame.length < 2) throw new Error('short header');
  const b0 = frame[0]!;
  const b1 = frame[1]!;
  if (b0 & 0x70) throw new Error('RSV bits set');
  if (b1 & 0x80) throw new Error('a server frame must not be masked');
  let length = b1 & 0x7f;
  let offset = 2;
  if (length === 126) {
    if (frame.length < 4) throw new Error('short 16-bit length');
    length = frame.readUInt16BE(2);
    if (length < 126) throw new Error('16-bit length form for a length that fits in 7 bits');
    offset = 4;
  } else if (length === 127) {
    if (frame.length < 10) throw new Error('short 64-bit length');
    const high = frame.readUInt32BE(2);
    if (high & 0x8000_0000) throw new Error('64-bit length with its most significant bit set');
    length = high * 0x1_0000_0000 + frame.readUInt32BE(6);
    if (length < 65_536) throw new Error('64-bit length form for a length that fits in 16 bits');
    offset = 10;
  }
  if (frame.length !== offset + length) throw new Error(`frame is ${frame.length} bytes, header says ${offset + length}`);
  return { fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload: frame.subarray(offset) };
}

/** Payload lengths of one class, with the boundaries weighted in. */
const lengths = {
  short: fc.oneof(fc.constantFrom(0, 1, 125), fc.integer({ min: 0, max: 125 })),
  medium: fc.oneof(fc.constantFrom(126, 127, 65_535), fc.integer({ min: 126, max: 65_535 })),
  long: fc.oneof(fc.constantFrom(65_536, 65_537), fc.integer({ min: 65_536, max: 300_000 })),
};

/** Bytes of a given length: random at the ends (where framing mistakes show), a fill in between. */
function payloadOf(length: number, seed: number): Buffer {
  const b = Buffer.alloc(length, seed & 0xff);
  for (let i = 0; i < Math.min(length, 64); i++) {
    b[i] = (seed + i * 31) & 0xff;
    b[length - 1 - i] = (seed * 7 + i) & 0xff;
  }
  return b;
}

/** The UTF-8 of a text of exactly `length` bytes: `sample` repeated while it fits, then ASCII (a text frame's payload is UTF-8). */
function textOf(length: number, sample: string): Buffer {
  const unit = Buffer.byteLength(sample) > 0 ? sample : 'a';
  const times = Math.floor(length / Buffer.byteLength(unit));
  const text = unit.repeat(times);
  const out = Buffer.from(text + 'a'.repeat(length - Buffer.byteLength(text)));
  expect(out.length).toBe(length);
  return out;
}

describe('frame builder', () => {
  for (const [name, length] of Object.entries(lengths)) {
    it(`binary payloads, ${name} lengths: byte-identical to ws's Sender and read back strictly`, () => {
      fc.assert(
        fc.property(length, fc.integer({ min: 0, max: 255 }), (n, seed) => {
          const payload = payloadOf(n, seed);
          const frame = buildFrame(payload, true);
          expect(frame.equals(wsFrame(payload, true))).toBe(true);
          const parsed = parseFrame(frame);
          expect(parsed).toMatchObject({ fin: true, opcode: 2 });
          expect(parsed.payload.equals(payload)).toBe(true);
          expect(frame.length).toBe(frameHeaderLength(n) + n);
        }),
        { numRuns: name === 'long' ? Math.ceil(RUNS / 10) : RUNS },
      );
    });

    it(`text payloads, ${name} lengths: byte-identical to ws's Sender and read back strictly`, () => {
      fc.assert(
        fc.property(length, fc.string({ unit: 'grapheme', maxLength: 8 }), (n, sample) => {
          const payload = textOf(n, sample);
          const frame = buildFrame(payload, false);
          expect(frame.equals(wsFrame(payload, false))).toBe(true);
          const parsed = parseFrame(frame);
          expect(parsed).toMatchObject({ fin: true, opcode: 1 });
          expect(parsed.payload.equals(payload)).toBe(true);
        }),
        { numRuns: name === 'long' ? Math.ceil(RUNS / 10) : RUNS },
      );
    });
  }

  it('the parser is strict: it refuses non-minimal lengths, masks, RSV bits and truncation', () => {
    const ok = buildFrame(Buffer.from('hi'), false);
    expect(parseFrame(ok).payload.toString()).toBe('hi');
    expect(() => parseFrame(Buffer.from([0x81, 126, 0, 2, 0x68, 0x69]))).toThrow(/7 bits/);
    expect(() => parseFrame(Buffer.from([0x81, 127, 0, 0, 0, 0, 0, 0, 0, 2, 0x68, 0x69]))).toThrow(/16 bits/);
    expect(() => parseFrame(Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x68, 0x69]))).toThrow(/masked/);
    expect(() => parseFrame(Buffer.from([0xc1, 2, 0x68, 0x69]))).toThrow(/RSV/);
    expect(() => parseFrame(Buffer.from([0x81, 3, 0x68, 0x69]))).toThrow(/header says/);
  });
});
