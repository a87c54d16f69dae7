/**
 * How the NATS engine frames what it sends: the encoded event itself is the Redis engine's
 * (../redis/wire.ts), preceded by a few text lines instead of NATS headers (cheaper to write and
 * read, per message).
 *
 * - A stored message (the history stream): `<ttlMs>\n<event>`.
 * - A fan-out message (the topic's subject): `<epoch>\n<offset>\n<size> <ttlMs>\n<event>` for a
 *   message with history, `\n\n\n<event>` for anything else.
 */
import type { HistoryOptions } from '../engine.js';

/** `bytes` as a Buffer without copying. */
export function view(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function storedFrame(ttlMs: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${Math.ceil(ttlMs)}\n`, 'latin1'), payload]);
}

/** A stored frame's TTL and event bytes; `undefined` when it is not ours. */
export function splitStored(bytes: Uint8Array): { ttlMs: number; payload: Buffer } | undefined {
  const b = view(bytes);
  const i = b.indexOf(10);
  if (i < 0) return undefined;
  const ttlMs = Number(b.subarray(0, i).toString('latin1'));
  return Number.isFinite(ttlMs) ? { ttlMs, payload: b.subarray(i + 1) } : undefined;
}

export function fanoutFrame(payload: Buffer, pos?: { epoch: string; offset: number }, h?: HistoryOptions): Buffer {
  const head = pos && h ? `${pos.epoch}\n${pos.offset}\n${h.size} ${Math.ceil(h.ttlMs)}\n` : '\n\n\n';
  return Buffer.concat([Buffer.from(head, 'latin1'), payload]);
}

/** A fan-out frame's parts; `undefined` when it is not ours. */
export function splitFanout(bytes: Uint8Array): { epoch?: string; offset?: number; limits?: HistoryOptions; payload: Buffer } | undefined {
  const b = view(bytes);
  const i = b.indexOf(10);
  const j = i < 0 ? -1 : b.indexOf(10, i + 1);
  const k = j < 0 ? -1 : b.indexOf(10, j + 1);
  if (k < 0) return undefined;
  const payload = b.subarray(k + 1);
  if (i === 0) return { payload };
  const offset = Number(b.subarray(i + 1, j).toString('latin1'));
  const [size, ttlMs] = b.subarray(j + 1, k).toString('latin1').split(' ').map(Number);
  if (!Number.isSafeInteger(offset) || !(size! > 0) || !(ttlMs! > 0)) return undefined;
  return { epoch: b.subarray(0, i).toString('latin1'), offset, limits: { size: size!, ttlMs: ttlMs! }, payload };
}
