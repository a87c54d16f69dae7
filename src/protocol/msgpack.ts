/**
 * The MessagePack codec, negotiated as `switchboard.v1.msgpack`: every frame is one binary
 * WebSocket message holding plain MessagePack, so any implementation can read it. Binary values are
 * native `bin`, never base64.
 *
 * Built on @msgpack/msgpack (the MessagePack organisation's implementation, no dependencies):
 * msgpackr's optional native accelerator has per-platform packages, which made `npm ci` depend on
 * every one of them being fetchable.
 */
import { Decoder, Encoder } from '@msgpack/msgpack';
import type { Codec } from './codec.js';
import { MAX_FRAME_DEPTH, tooDeep } from './depth.js';
import { CloseCode } from './close-codes.js';
import { SUBPROTOCOL_MSGPACK } from './subprotocol.js';

// ignoreUndefined: as JSON drops undefined-valued properties (undefined array items become nil).
// maxDepth: the library stops at 100 levels by default; every codec must carry the documented
// depth (docs/protocol.md §2.6). buffersAsBytes refuses deeper frames first, with the same error
// as the JSON codec; the encoder counts the leaves inside the deepest container as one more level.
const encoder = new Encoder({ ignoreUndefined: true, maxDepth: MAX_FRAME_DEPTH + 1 });
const decoder = new Decoder();

/**
 * An `ArrayBuffer` would be written as an empty map; it becomes a Uint8Array view of its bytes, as
 * the JSON codec sends it (typed arrays and DataViews are written as their bytes already).
 * Copy-on-write: a frame without ArrayBuffers is returned as is.
 */
function buffersAsBytes(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (value instanceof Date) return value;
  if (depth >= MAX_FRAME_DEPTH) throw tooDeep('the frame');
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const n = buffersAsBytes(v, depth + 1);
      if (n !== v) (copy ??= value.slice())[i] = n;
    }
    return copy ?? value;
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function' || value instanceof Date) return value;
  let copy: Record<string, unknown> | undefined;
  for (const k in value) {
    const v = (value as Record<string, unknown>)[k];
    const n = buffersAsBytes(v, depth + 1);
    // defineProperty: a "__proto__" key must stay a key, not become the copy's prototype.
    if (n !== v) Object.defineProperty((copy ??= { ...value }), k, { value: n, enumerable: true, writable: true, configurable: true });
  }
  return copy ?? value;
}

/** The MessagePack codec. */
export const msgpackCodec: Codec = {
  name: 'msgpack',
  subprotocol: SUBPROTOCOL_MSGPACK,
  encode: (frame) => encoder.encode(buffersAsBytes(frame, 0)),
  decode(data, isBinary) {
    if (!isBinary || typeof data === 'string') return { ok: false, code: CloseCode.UNSUPPORTED_DATA, reason: 'text messages need the JSON codec' };
    try {
      // Refuses a "__proto__" key (prototype pollution) like any malformed message.
      return { ok: true, value: decoder.decode(data) };
    } catch {
      return { ok: false, code: CloseCode.INVALID_PAYLOAD, reason: 'message is not valid MessagePack' };
    }
  },
};
