/**
 * RFC 6455 §5.2 framing of one whole server message, as bytes: FIN set, opcode 1 (text) or
 * 2 (binary), no RSV bits, no mask (servers never mask), and the shortest length form — 7-bit
 * below 126, 16-bit up to 65535, 64-bit above. Byte-identical to what `ws`'s `Sender.frame` writes
 * for the same payload (test/frame.property.test.ts), so the Node transport can build a publish's
 * frame once and write the same bytes to every subscriber (docs/performance.md, "Frame once").
 */

/** Opcode of a text frame (RFC 6455 §5.2). */
const TEXT = 0x1;
/** Opcode of a binary frame. */
const BINARY = 0x2;
/** The FIN bit: the frame is the whole message. */
const FIN = 0x80;

/** Length of the header of an unmasked frame carrying `length` payload bytes. */
export function frameHeaderLength(length: number): number {
  return length < 126 ? 2 : length < 65_536 ? 4 : 10;
}

/** The complete unmasked frame (header and payload) of one message, in a new Buffer. */
export function buildFrame(payload: Uint8Array, binary: boolean): Buffer {
  const length = payload.length;
  const head = frameHeaderLength(length);
  const frame = Buffer.allocUnsafe(head + length);
  frame[0] = FIN | (binary ? BINARY : TEXT);
  if (head === 2) {
    frame[1] = length;
  } else if (head === 4) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    // 64-bit length, most significant bit 0; JavaScript lengths fit in the low 53 bits.
    frame.writeUInt32BE(Math.floor(length / 0x1_0000_0000), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  frame.set(payload, head);
  return frame;
}
