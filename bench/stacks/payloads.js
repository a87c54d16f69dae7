/**
 * Payloads shared by every stack, so each one moves the same bytes.
 */

/** A ~100-byte JSON object (the RPC payload); `n` is set per call to check the echo. */
export function rpcPayload(n) {
  return { n, user: 'user-1234', name: 'Ada Lovelace', tags: ['alpha', 'beta'], score: 98.6, active: true };
}

/** A ~100-byte fan-out message: sequence number, send time (load process clock), filler. */
export function fanPayload(seq, ts) {
  return { seq, ts, body: 'x'.repeat(56) };
}

/** Stream items: ~100-byte objects and 64 KB binary chunks. */
export const STREAM_ITEM = { seq: 0, payload: 'x'.repeat(80) };
export const CHUNK = new Uint8Array(64 * 1024).map((_, i) => i & 0xff);
export const CHUNK_BYTES = CHUNK.byteLength;
export const ITEM_BYTES = 100;

/**
 * Milliseconds on a clock every bench process shares (the wall clock at process start plus the
 * monotonic time since), so a server process can stamp a message that the load process times.
 */
export const epochMs = () => performance.timeOrigin + performance.now();
