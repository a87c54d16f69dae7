/**
 * A codec turns frames into WebSocket message payloads and back. v1 ships JSON; the MessagePack
 * codec (issue #4) plugs in through the same interface and its own subprotocol name.
 */
import { CloseCode } from './close-codes.js';
import { SUBPROTOCOL_JSON } from './subprotocol.js';

/** Outcome of decoding one WebSocket message. */
export type Decoded = { ok: true; value: unknown } | { ok: false; code: number; reason: string };

export interface Codec {
  /** Short name: `json`. */
  readonly name: string;
  /** Subprotocol negotiated for this codec. */
  readonly subprotocol: string;
  /** Whether payloads travel as binary WebSocket messages. */
  readonly binary: boolean;
  /** Encodes one frame to a payload the socket can send. */
  encode(frame: unknown): string | Uint8Array;
  /** Decodes one message; never throws. */
  decode(data: string | Uint8Array, isBinary: boolean): Decoded;
}

/** The JSON codec: one UTF-8 text message per frame. */
export const jsonCodec: Codec = {
  name: 'json',
  subprotocol: SUBPROTOCOL_JSON,
  binary: false,
  encode: (frame) => JSON.stringify(frame),
  decode(data, isBinary) {
    if (isBinary) return { ok: false, code: CloseCode.UNSUPPORTED_DATA, reason: 'binary messages need a binary codec' };
    try {
      return { ok: true, value: JSON.parse(typeof data === 'string' ? data : utf8.decode(data)) };
    } catch {
      return { ok: false, code: CloseCode.INVALID_PAYLOAD, reason: 'message is not valid JSON' };
    }
  },
};

const utf8 = new TextDecoder();
