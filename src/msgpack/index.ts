/**
 * `switchboard/msgpack`: the MessagePack codec as a plug-in for the client. It lives on its own
 * subpath so that only apps that choose it bundle `msgpackr`; the client itself knows JSON
 * alone (docs/streams.md, "JSON vs MessagePack"). Servers accept both codecs without it.
 */
import type { Codec } from '../protocol/codec.js';
import { msgpackCodec } from '../protocol/msgpack.js';

export type { Codec } from '../protocol/codec.js';

/**
 * The MessagePack codec (subprotocol `switchboard.v1.msgpack`, docs/protocol.md §2.6), for the
 * client's `codec` option.
 *
 * @example
 * import { connect } from 'switchboard/client';
 * import { msgpack } from 'switchboard/msgpack';
 * const client = connect('wss://example.com/ws', { codec: msgpack() });
 */
export function msgpack(): Codec {
  return msgpackCodec;
}
