/**
 * `switchboard/protocol`: the wire protocol v1 as data — frame types, codes, codecs.
 * No I/O; safe in every runtime. Specified in docs/protocol.md.
 */
export * from './close-codes.js';
export * from './error-codes.js';
export * from './errors.js';
export * from './frames.js';
export * from './codec.js';
export { msgpackCodec } from './msgpack.js';
export { encodeEnvelope, decodeEnvelope, hasBinary, EnvelopeError, ENVELOPE_MAGIC } from './binary.js';
export * from './subprotocol.js';
export * from './error-frame.js';
export * from './credit-window.js';
export * from './depth.js';
