/**
 * A check that a WebSocket message holds exactly one plain MessagePack value, run before the
 * decoder sees it (docs/protocol.md §2.6): no extension type but the timestamp (−1, in its three
 * sizes), no 0xC1, map keys that are strings or numbers and never `__proto__`, no bytes after the
 * value, and at most {@link MAX_CHECKED_DEPTH} containers. It walks the bytes with its own stack,
 * never recursing, and skips string and binary bodies, so it costs a fraction of a decode; the
 * decoder (which recurses once per level and knows extension types of its own) then only ever sees
 * input within those bounds. Pure: no I/O.
 */

/**
 * Most containers a message may nest before it is refused as malformed: far above the deepest
 * valid frame (MAX_FRAME_DEPTH in depth.ts), so a frame a little too deep still decodes and is
 * refused by the depth check with `BAD_REQUEST`, and far below what a recursive decoder's stack
 * holds.
 */
export const MAX_CHECKED_DEPTH = 4_000;

/** Bytes after the type byte for the fixed-size types 0xC0–0xDF (−1: handled apart). */
const FIXED = fixedSizes();

function fixedSizes(): Int8Array {
  const sizes = new Int8Array(32).fill(-1);
  for (const [t, n] of [[0xc0, 0], [0xc2, 0], [0xc3, 0], [0xca, 4], [0xcb, 8], [0xcc, 1], [0xcd, 2], [0xce, 4], [0xcf, 8], [0xd0, 1], [0xd1, 2], [0xd2, 4], [0xd3, 8]] as const) sizes[t - 0xc0] = n;
  return sizes;
}

/** Big-endian unsigned integers (the caller checked that the bytes are there). */
const u16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
const u32 = (b: Uint8Array, at: number) => b[at]! * 0x1000000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);

/** `__proto__` as UTF-8. */
const PROTO = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f];

// remaining[d]: values still to read in the container open at depth d (a map counts its keys and
// values, so when an even number remains the next one is a key); isMap[d]: whether it is a map.
// Shared by every call: the check is synchronous and writes before it reads.
const remaining = new Float64Array(MAX_CHECKED_DEPTH + 1);
const isMap = new Uint8Array(MAX_CHECKED_DEPTH + 1);

/** Whether `b` holds exactly one plain MessagePack value within the bounds above. */
export function isPlainMsgpack(b: Uint8Array): boolean {
  const end = b.length;
  remaining[0] = 1;
  isMap[0] = 0;
  let depth = 0;
  let pos = 0;
  while (depth >= 0) {
    if (remaining[depth] === 0) {
      depth--;
      continue;
    }
    const key = isMap[depth] === 1 && remaining[depth]! % 2 === 0;
    remaining[depth]! -= 1;
    if (pos >= end) return false;
    const t = b[pos++]!;
    let open = -1; // items of a container that starts here
    let map = false;
    let skip = 0; // bytes of a string or binary body
    let str = false;
    if (t <= 0x7f || t >= 0xe0) continue; // fixint
    if (t <= 0x8f) (open = (t & 0x0f) * 2), (map = true);
    else if (t <= 0x9f) open = t & 0x0f;
    else if (t <= 0xbf) (skip = t & 0x1f), (str = true);
    else {
      const fixed = FIXED[t - 0xc0]!;
      if (fixed >= 0) {
        // nil, booleans, numbers: a key may be a number, not nil or a boolean.
        if (key && t <= 0xc3) return false;
        pos += fixed;
        if (pos > end) return false;
        continue;
      }
      if (key && !(t >= 0xd9 && t <= 0xdb)) return false;
      const need = (n: number) => pos + n <= end;
      switch (t) {
        case 0xc4: case 0xd9: // bin 8, str 8
          if (!need(1)) return false;
          skip = b[pos++]!;
          break;
        case 0xc5: case 0xda: // bin 16, str 16
          if (!need(2)) return false;
          skip = u16(b, pos);
          pos += 2;
          break;
        case 0xc6: case 0xdb: // bin 32, str 32
          if (!need(4)) return false;
          skip = u32(b, pos);
          pos += 4;
          break;
        case 0xd6: // fixext 4: timestamp 32
        case 0xd7: // fixext 8: timestamp 64
          if (!need(1) || b[pos] !== 0xff) return false;
          pos += t === 0xd6 ? 5 : 9;
          if (pos > end) return false;
          continue;
        case 0xc7: // ext 8: only timestamp 96 (12 bytes of type −1)
          if (!need(2) || b[pos] !== 12 || b[pos + 1] !== 0xff) return false;
          pos += 14;
          if (pos > end) return false;
          continue;
        case 0xdc: case 0xde: // array 16, map 16
          if (!need(2)) return false;
          open = u16(b, pos);
          pos += 2;
          break;
        case 0xdd: case 0xdf: // array 32, map 32
          if (!need(4)) return false;
          open = u32(b, pos);
          pos += 4;
          break;
        default: // 0xc1, other extension types and sizes (0xc8, 0xc9, 0xd4, 0xd5, 0xd8)
          return false;
      }
      if (t === 0xde || t === 0xdf) (open *= 2), (map = true);
      str = t >= 0xd9 && t <= 0xdb;
    }
    if (open >= 0) {
      if (key) return false;
      if (open === 0) continue;
      if (depth === MAX_CHECKED_DEPTH) return false;
      depth++;
      remaining[depth] = open;
      isMap[depth] = map ? 1 : 0;
      continue;
    }
    if (key && !str) return false;
    if (pos + skip > end) return false;
    if (key && skip === 9) {
      let proto = true;
      for (let i = 0; i < 9 && proto; i++) proto = b[pos + i] === PROTO[i];
      if (proto) return false;
    }
    pos += skip;
  }
  return pos === end;
}
