/**
 * The MessagePack codec (`msgpackr`), negotiated as `switchboard.v1.msgpack`: every frame is one
 * binary WebSocket message; binary values are native `bin`, never base64. Options keep the format
 * plain MessagePack, so any implementation can read it (no msgpackr records or structures).
 */
import { Packr, type Options } from 'msgpackr';
import { MAX_BINARY_DEPTH } from './binary.js';
import type { Codec } from './codec.js';
import { CloseCode } from './close-codes.js';
import { SUBPROTOCOL_MSGPACK } from './subprotocol.js';

/** `skipValues` exists since msgpackr 1.10 but is missing from its type declarations. */
const options: Options & { skipValues: unknown[] } = {
  useRecords: false, // msgpackr's record extension is not MessagePack other languages read
  encodeUndefinedAsNil: true, // as JSON turns undefined array items into null
  skipValues: [undefined], // as JSON drops undefined-valued properties
  mapsAsObjects: true,
};
const packr = new Packr(options);

/** Deepest nesting searched for typed-array views: the same bound as the JSON envelope's. */
const MAX_DEPTH = MAX_BINARY_DEPTH;

/**
 * msgpackr 2.1 (without `moreTypes`) writes a typed array other than Uint8Array element by element
 * into a `bin` of its byte length (a Float32Array's 1.5 becomes the byte 1, the rest is garbage),
 * and a DataView as an empty `bin`: silent corruption. Such views become Uint8Array views of their
 * bytes, as the JSON codec sends them (docs/protocol.md §2.6). Copy-on-write: a frame without them
 * is returned as is.
 */
function viewsAsBytes(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) return value;
  if (ArrayBuffer.isView(value)) {
    return value instanceof Uint8Array ? value : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const n = viewsAsBytes(v, depth + 1);
      if (n !== v) (copy ??= value.slice())[i] = n;
    }
    return copy ?? value;
  }
  // ArrayBuffer is written correctly; objects with toJSON (Date…) are msgpackr's to encode.
  if (value instanceof ArrayBuffer || typeof (value as { toJSON?: unknown }).toJSON === 'function') return value;
  let copy: Record<string, unknown> | undefined;
  for (const k in value) {
    const v = (value as Record<string, unknown>)[k];
    const n = viewsAsBytes(v, depth + 1);
    // defineProperty: a "__proto__" key must stay a key, not become the copy's prototype.
    if (n !== v) Object.defineProperty((copy ??= { ...value }), k, { value: n, enumerable: true, writable: true, configurable: true });
  }
  return copy ?? value;
}

/** The MessagePack codec. */
export const msgpackCodec: Codec = {
  name: 'msgpack',
  subprotocol: SUBPROTOCOL_MSGPACK,
  encode: (frame) => packr.pack(viewsAsBytes(frame, 0)),
  decode(data, isBinary) {
    if (!isBinary || typeof data === 'string') return { ok: false, code: CloseCode.UNSUPPORTED_DATA, reason: 'text messages need the JSON codec' };
    try {
      return { ok: true, value: packr.unpack(data) };
    } catch {
      return { ok: false, code: CloseCode.INVALID_PAYLOAD, reason: 'message is not valid MessagePack' };
    }
  },
};
