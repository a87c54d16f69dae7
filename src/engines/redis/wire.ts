/**
 * How the Redis engine encodes what it puts in Redis: topic events (published and stored) and
 * idempotent-call records. JSON with the protocol's binary envelope (docs/protocol.md §2.6), so
 * binary values survive, `undefined` fields stay absent, and a "__proto__" key stays a plain key.
 */
import { jsonCodec } from '../../protocol/codec.js';
import { ENVELOPE_MAGIC } from '../../protocol/binary.js';
import type { Member, MessageMeta } from '../../protocol/frames.js';
import type { CallOutcome, EngineEvent } from '../engine.js';

/** The event without its position (which Redis assigns). */
interface WireEvent {
  k: 'msg' | 'join' | 'leave';
  d?: unknown;
  f?: string;
  s?: string;
  m?: Member;
}

export function encodeValue(value: unknown): Buffer {
  const out = jsonCodec.encode(value);
  return typeof out === 'string' ? Buffer.from(out) : Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/** Decodes what {@link encodeValue} made; `undefined` when it is not ours (never thrown). */
export function decodeValue(bytes: Buffer): unknown {
  const binary = bytes.length > 0 && bytes[0] === ENVELOPE_MAGIC;
  const d = jsonCodec.decode(binary ? bytes : bytes.toString('utf8'), binary);
  return d.ok ? d.value : undefined;
}

export function encodeEvent(event: EngineEvent): Buffer {
  const w: WireEvent =
    event.kind === 'msg'
      ? { k: 'msg', d: event.data, ...(event.meta.from ? { f: event.meta.from } : {}), ...(event.skip ? { s: event.skip } : {}) }
      : { k: event.kind, m: event.member };
  return encodeValue(w);
}

/** The event carried in `payload`, with its position when it has one. */
export function decodeEvent(payload: Buffer, epoch?: string, offset?: number): EngineEvent | undefined {
  const w = decodeValue(payload) as WireEvent | undefined;
  if (!w || typeof w !== 'object') return undefined;
  if (w.k === 'join' || w.k === 'leave') return w.m ? { kind: w.k, member: w.m } : undefined;
  if (w.k !== 'msg') return undefined;
  const meta: MessageMeta = {};
  if (w.f !== undefined) meta.from = w.f;
  if (epoch !== undefined && offset !== undefined) {
    meta.epoch = epoch;
    meta.offset = offset;
  }
  return { kind: 'msg', data: w.d, meta, ...(w.s ? { skip: w.s } : {}) };
}

/** A channel message for an event without a position (the publish script writes the others). */
export function channelMessage(payload: Buffer): Buffer {
  return Buffer.concat([NO_POSITION, payload]);
}

const NO_POSITION = Buffer.from('\n\n');

/**
 * Splits a channel message `epoch \n offset \n payload` (history) or `\n\n payload` (none).
 */
export function splitChannelMessage(message: Buffer): { epoch?: string; offset?: number; payload: Buffer } | undefined {
  const i = message.indexOf(10);
  const j = i < 0 ? -1 : message.indexOf(10, i + 1);
  if (j < 0) return undefined;
  const payload = message.subarray(j + 1);
  if (i === 0) return { payload };
  const offset = Number(message.subarray(i + 1, j).toString('latin1'));
  if (!Number.isSafeInteger(offset)) return undefined;
  return { epoch: message.subarray(0, i).toString('latin1'), offset, payload };
}

/** An idempotent-call record: running (with its input's fingerprint) or done (with the outcome). */
export type CallRecord = ['running', string] | ['done', string, CallOutcome];
