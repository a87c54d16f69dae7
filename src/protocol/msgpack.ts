/**
 * The MessagePack codec (`msgpackr`), negotiated as `switchboard.v1.msgpack`: every frame is one
 * binary WebSocket message; binary values are native `bin`, never base64. Options keep the format
 * plain MessagePack, so any implementation can read it (no msgpackr records or structures).
 */
import { Packr, type Options } from 'msgpackr';
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

/** The MessagePack codec. */
export const msgpackCodec: Codec = {
  name: 'msgpack',
  subprotocol: SUBPROTOCOL_MSGPACK,
  encode: (frame) => packr.pack(frame),
  decode(data, isBinary) {
    if (!isBinary || typeof data === 'string') return { ok: false, code: CloseCode.UNSUPPORTED_DATA, reason: 'text messages need the JSON codec' };
    try {
      return { ok: true, value: packr.unpack(data) };
    } catch {
      return { ok: false, code: CloseCode.INVALID_PAYLOAD, reason: 'message is not valid MessagePack' };
    }
  },
};
