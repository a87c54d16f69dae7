/**
 * Redis Cluster's key slot (the cluster specification's CRC16-XMODEM of the key's hash tag, modulo
 * 16384): which shard owns a key or a sharded channel. Pure, so the placement rules of keys.ts are
 * tested without a cluster (docs/scaling.md, "Redis Cluster").
 */

const TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/** The number of slots of a Redis Cluster. */
export const SLOTS = 16_384;

/**
 * The slot of `key`: the hash of its tag (the bytes between its first `{` and the next `}`) when
 * that tag is not empty, else of the whole key.
 */
export function keySlot(key: string | Buffer): number {
  let b = typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
  const open = b.indexOf(0x7b);
  if (open >= 0) {
    const close = b.indexOf(0x7d, open + 1);
    if (close > open + 1) b = b.subarray(open + 1, close);
  }
  let crc = 0;
  for (const byte of b) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc % SLOTS;
}
