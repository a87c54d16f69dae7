/**
 * The MessagePack codec, negotiated as `switchboard.v1.msgpack`: every frame is one binary
 * WebSocket message holding plain MessagePack, so any implementation can read it. Binary values are
 * native `bin`, never base64 (docs/protocol.md §2.6).
 *
 * Built on msgpackr's pure-JavaScript build (`msgpackr/pack`: on Node and in browsers alike, it
 * never loads the optional native addon), about twice as fast as @msgpack/msgpack on Switchboard's
 * small frames (docs/performance.md, "MessagePack codec"). msgpackr's own defaults are not plain
 * MessagePack, so the codec sets it up — and walks each frame before encoding — to write exactly
 * the bytes the previous encoder (@msgpack/msgpack) wrote; test/msgpack-wire.property.test.ts
 * checks that against it. Input is checked by ./msgpack-check.ts before msgpackr decodes it, which
 * refuses what msgpackr would otherwise accept (its own extension types, records, `__proto__`).
 */
import { addExtension, Packr } from 'msgpackr/pack';
import type { Codec } from './codec.js';
import { MAX_FRAME_DEPTH, tooDeep } from './depth.js';
import { CloseCode } from './close-codes.js';
import { isPlainMsgpack } from './msgpack-check.js';
import { SUBPROTOCOL_MSGPACK } from './subprotocol.js';

/**
 * An integer beyond 32 bits, written as MessagePack uint 64 / int 64 (msgpackr writes such numbers
 * as float 64, which a typed reader in another language would refuse as an integer).
 */
class WideInt {
  constructor(readonly value: number) {}
}

let packr: Packr | undefined;

/**
 * msgpackr set up for plain MessagePack — objects as maps (no records, no map16 for small maps),
 * no extension types of its own (no `moreTypes`, bundled strings or structured clone), `toJSON`
 * ignored, `undefined` properties left out and `undefined` array items as nil (as JSON does),
 * floats as float 64, 64-bit integers read as numbers — created, and {@link WideInt} registered,
 * on first use: importing the module registers nothing (the package is `sideEffects: false`).
 */
function plainPackr(): Packr {
  if (packr) return packr;
  addExtension({
    Class: WideInt,
    // msgpackr requires a type for an extension that writes its own bytes. It is never written
    // (pack() below writes a plain integer and returns nothing), and msgpackr files decoders under
    // the type's byte value 0x00–0xFF, so −1 shadows no decoder of any msgpackr user.
    type: -1,
    pack(w: WideInt, allocate: (size: number) => { target: Uint8Array; position: number }) {
      const { target, position } = allocate(9);
      const v = w.value;
      target[position] = v >= 0 ? 0xcf : 0xd3;
      // Two's complement in two 32-bit halves, big-endian (safe integers only: see plainForMsgpack).
      const high = Math.floor(v / 0x100000000);
      const low = v - high * 0x100000000;
      for (let i = 0; i < 4; i++) target[position + 1 + i] = (high >>> (24 - 8 * i)) & 0xff;
      for (let i = 0; i < 4; i++) target[position + 5 + i] = (low >>> (24 - 8 * i)) & 0xff;
    },
  } as never);
  return (packr = new Packr({
    useRecords: false,
    mapsAsObjects: true,
    variableMapSize: true,
    moreTypes: false,
    bundleStrings: false,
    structuredClone: false,
    useToJSON: false,
    encodeUndefinedAsNil: true,
    skipValues: [undefined],
    useFloat32: 0,
    int64AsType: 'number',
    copyBuffers: false,
  } as ConstructorParameters<typeof Packr>[0]));
}

const OBJECT = Object.prototype;

/**
 * Prepares a value for msgpackr so that it writes what plain MessagePack means for it:
 * an `ArrayBuffer` as the bytes it holds (as the JSON codec sends it; typed arrays and DataViews
 * are written as their bytes already); an integer beyond 32 bits as a {@link WideInt}; an invalid
 * `Date` as nil (JSON's `null`); any other object that is not a plain object, array, byte view or
 * date (a `Map`, a class instance) as a map of its own enumerable properties. A bigint, symbol or
 * function cannot travel and throws. Refuses frames deeper than the documented limit (§2.6) with
 * the same error as the JSON codec. Copy-on-write: a frame that needs none of this is returned as is.
 */
function plainForMsgpack(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'number':
      return Number.isSafeInteger(value) && (value >= 0x100000000 || value < -0x80000000) ? new WideInt(value) : value;
    case 'bigint':
    case 'symbol':
    case 'function':
      throw new TypeError(`a ${typeof value} cannot travel as MessagePack`);
    case 'object':
      break;
    default:
      return value;
  }
  if (value === null || ArrayBuffer.isView(value)) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value;
  if (depth >= MAX_FRAME_DEPTH) throw tooDeep('the frame');
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const n = plainForMsgpack(v, depth + 1);
      if (n !== v) (copy ??= value.slice())[i] = n;
    }
    return copy ?? value;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  const exotic = proto !== OBJECT && proto !== null;
  let copy: Record<string, unknown> | undefined = exotic ? {} : undefined;
  for (const k of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[k];
    const n = plainForMsgpack(v, depth + 1);
    // defineProperty: a "__proto__" key must stay a key, not become the copy's prototype.
    if (n !== v || exotic) Object.defineProperty((copy ??= { ...value }), k, { value: n, enumerable: true, writable: true, configurable: true });
  }
  return copy ?? value;
}

/** The MessagePack codec. */
export const msgpackCodec: Codec = {
  name: 'msgpack',
  subprotocol: SUBPROTOCOL_MSGPACK,
  encode: (frame) => plainPackr().pack(plainForMsgpack(frame, 0)),
  decode(data, isBinary) {
    if (!isBinary || typeof data === 'string') return { ok: false, code: CloseCode.UNSUPPORTED_DATA, reason: 'text messages need the JSON codec' };
    // A "__proto__" key (prototype pollution), extension types and trailing bytes are refused
    // like any malformed message.
    if (!isPlainMsgpack(data)) return { ok: false, code: CloseCode.INVALID_PAYLOAD, reason: 'message is not valid MessagePack' };
    try {
      return { ok: true, value: plainPackr().unpack(data) };
    } catch {
      return { ok: false, code: CloseCode.INVALID_PAYLOAD, reason: 'message is not valid MessagePack' };
    }
  },
};
