/**
 * Subprotocol negotiation: which codec a request asked for and the token it carried in its
 * `switchboard.auth.*` entry (docs/protocol.md §1.1).
 */
import type { Codec } from '../protocol/codec.js';
import { jsonCodec } from '../protocol/codec.js';
import { msgpackCodec } from '../protocol/msgpack.js';
import { SUBPROTOCOL_V1_PREFIX, readOfferedProtocols } from '../protocol/subprotocol.js';

/** Codecs the server can speak, by subprotocol name. */
const CODECS: ReadonlyMap<string, Codec> = new Map([
  [jsonCodec.subprotocol, jsonCodec],
  [msgpackCodec.subprotocol, msgpackCodec],
]);

const ALL_CODECS: ReadonlySet<string> = new Set([...CODECS.values()].map((c) => c.name));

/** Outcome of reading the `Sec-WebSocket-Protocol` header. */
export type Negotiated = { ok: true; codec: Codec; token: string | undefined } | { ok: false; status: number; message: string };

/** Picks the codec (the first supported and allowed v1 entry) and the token from the offered subprotocols. */
export function negotiate(header: string | undefined, allowed: ReadonlySet<string> = ALL_CODECS): Negotiated {
  if (!header) return { ok: true, codec: jsonCodec, token: undefined };
  const offered = readOfferedProtocols(header);
  if (!offered.ok) return { ok: false, status: 400, message: offered.message };
  let codec: Codec | undefined;
  for (const entry of offered.protocols) {
    if (!entry.startsWith(SUBPROTOCOL_V1_PREFIX)) continue;
    const c = CODECS.get(entry);
    if (c && allowed.has(c.name)) {
      codec = c;
      break;
    }
  }
  if (!codec) return { ok: false, status: 400, message: 'No supported subprotocol (expected switchboard.v1.json or switchboard.v1.msgpack)' };
  return { ok: true, codec, token: offered.token };
}
