/**
 * A codec turns frames into WebSocket message payloads and back (docs/protocol.md §2.6). JSON and
 * MessagePack ship; each is negotiated by its own subprotocol name.
 */
import { decodeEnvelope, encodeEnvelope, hasBinary } from './binary.js';
import * as CloseCode from './close-code-values.js';
import { SUBPROTOCOL_JSON } from './subprotocol.js';
import { utf8Encoder } from './utf8.js';

/** Outcome of decoding one WebSocket message. */
export type Decoded = { ok: true; value: unknown } | { ok: false; code: number; reason: string };

export interface Codec {
  /** Short name: `json`, `msgpack`. */
  readonly name: string;
  /** Subprotocol negotiated for this codec. */
  readonly subprotocol: string;
  /**
   * Encodes one frame. A string travels as a text message, bytes as a binary message (JSON uses
   * binary only for frames that hold binary values).
   */
  encode(frame: unknown): string | Uint8Array;
  /** Decodes one message; never throws. */
  decode(data: string | Uint8Array, isBinary: boolean): Decoded;
}

/** The codec names `codec` options accept. */
export type CodecName = 'json' | 'msgpack';

const utf8 = new TextDecoder();

/** The JSON codec: a text message per frame; an envelope (binary message) for frames with binary values. */
export const jsonCodec: Codec = {
  name: 'json',
  subprotocol: SUBPROTOCOL_JSON,
  encode: (frame) => (hasBinary(frame) ? encodeEnvelope(frame) : JSON.stringify(frame)),
  decode(data, isBinary) {
    try {
      if (isBinary) return { ok: true, value: decodeEnvelope(typeof data === 'string' ? utf8Encoder.encode(data) : data) };
      return { ok: true, value: JSON.parse(typeof data === 'string' ? data : utf8.decode(data)) };
    } catch {
      return { ok: false, code: CloseCode.INVALID_PAYLOAD, reason: isBinary ? 'malformed binary envelope' : 'message is not valid JSON' };
    }
  },
};
