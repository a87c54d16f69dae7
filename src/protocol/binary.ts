/**
 * Binary values inside JSON frames (docs/protocol.md §2.6). A frame that holds `Uint8Array`,
 * `ArrayBuffer` or Node `Buffer` values travels as ONE binary WebSocket message: a JSON header that
 * names, by path, where each binary value goes, followed by the raw bytes — never base64. Paths are
 * explicit, so no user object can be mistaken for a placeholder (unlike Socket.IO's
 * `{ _placeholder: true }`). Isomorphic: no Node APIs.
 *
 * Layout: `0xB1` · u32 BE header length · UTF-8 JSON `{ "f": frame, "b": [[path, byteLength], …] }`
 * · attachment bytes in `b` order. In `f` each binary value is replaced by `null`.
 */

import { MAX_FRAME_DEPTH, tooDeep } from './depth.js';
import { utf8Encoder as enc, utf8StrictDecoder as dec } from './utf8.js';

/** First byte of an envelope; anything else in a binary message is refused. */
export const ENVELOPE_MAGIC = 0xb1;
/**
 * Most containers a frame may nest, the frame included (docs/protocol.md §2.6): values are refused
 * past `MAX_DEPTH` where they enter, so only a frame built around a value that skipped that check
 * gets here, and it fails to encode — under every codec alike.
 */
const MAX_DEPTH = MAX_FRAME_DEPTH;

type Path = (string | number)[];
type Attachment = { path: Path; bytes: Uint8Array };

/**
 * The one walk over a frame's values, in two modes. Without `out` it tells whether `value` holds a
 * binary value (`true`/`false`, stopping at the first one) and allocates nothing; with `out` it
 * returns a copy of `value` in which each binary value is `null`, and pushes each binary value with
 * its path to `out`. Objects with `toJSON` (Date…) are plain data to JSON: leaves. A value nesting
 * more than `MAX_FRAME_DEPTH` containers throws a `BAD_REQUEST` `SwitchboardError`.
 */
function walk(value: unknown, depth: number, out?: Attachment[], path?: Path): unknown {
  if (value === null || typeof value !== 'object') return out ? value : false;
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    if (!out) return true;
    out.push({ path: path!, bytes: value instanceof ArrayBuffer ? new Uint8Array(value) : new Uint8Array(value.buffer, value.byteOffset, value.byteLength) });
    return null;
  }
  const array = Array.isArray(value);
  if (!array && typeof (value as { toJSON?: unknown }).toJSON === 'function') return out ? value : false;
  if (depth >= MAX_DEPTH) throw tooDeep('the frame');
  if (array) {
    if (out) return value.map((v, i) => walk(v, depth + 1, out, [...path!, i]));
    return value.some((v) => walk(v, depth + 1));
  }
  const copy: Record<string, unknown> = {};
  for (const k in value) {
    const r = walk((value as Record<string, unknown>)[k], depth + 1, out, out && [...path!, k]);
    if (out) copy[k] = r;
    else if (r) return true;
  }
  return out ? copy : false;
}

/**
 * Whether `value` holds a binary value anywhere (Socket.IO's `hasBinary` walk). Throws a
 * `BAD_REQUEST` `SwitchboardError` for a frame nesting more than `MAX_FRAME_DEPTH` containers.
 */
export function hasBinary(value: unknown, depth = 0): boolean {
  return walk(value, depth) as boolean;
}

/** Encodes a frame that holds binary values as an envelope. */
export function encodeEnvelope(frame: unknown): Uint8Array {
  const bins: Attachment[] = [];
  const f = walk(frame, 0, bins, []);
  const header = enc.encode(JSON.stringify({ f, b: bins.map((b) => [b.path, b.bytes.byteLength]) }));
  const parts = [header, ...bins.map((b) => b.bytes)];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 5));
  out[0] = ENVELOPE_MAGIC;
  new DataView(out.buffer).setUint32(1, header.byteLength);
  let at = 5;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Thrown by {@link decodeEnvelope} for a malformed envelope. */
export class EnvelopeError extends Error {}

function isPath(p: unknown): p is Path {
  return Array.isArray(p) && p.length > 0 && p.length <= MAX_DEPTH && p.every((k) => typeof k === 'string' || (Number.isSafeInteger(k) && k >= 0));
}

/**
 * Throws {@link EnvelopeError} unless `ok`. One message for every fault: the codec answers any of
 * them alike (close 1007, "malformed binary envelope"), so per-check texts would only be bytes that
 * every browser app downloads and no one reads (docs/performance.md, "Bundle size").
 */
function need(ok: unknown): asserts ok {
  if (!ok) throw new EnvelopeError('malformed binary envelope');
}

/**
 * Decodes an envelope; binary values come back as `Uint8Array` views of `data` (no copy).
 * Throws {@link EnvelopeError} when anything does not add up.
 */
export function decodeEnvelope(data: Uint8Array): unknown {
  need(data.byteLength >= 5 && data[0] === ENVELOPE_MAGIC);
  const headerLength = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(1);
  let at = 5 + headerLength;
  need(at <= data.byteLength);
  let header: { f?: unknown; b?: unknown };
  try {
    header = JSON.parse(dec.decode(data.subarray(5, at)));
  } catch {
    need(false);
  }
  need(typeof header === 'object' && header !== null && Array.isArray(header.b));
  const root = { f: header.f };
  for (const entry of header.b as unknown[]) {
    need(Array.isArray(entry) && entry.length === 2 && isPath(entry[0]));
    const length = entry[1];
    need(Number.isSafeInteger(length) && length >= 0 && at + length <= data.byteLength);
    const bytes = data.subarray(at, (at += length));
    // Walk to the parent; only plain objects and arrays that the header itself created.
    let parent: unknown = root;
    const path: Path = ['f', ...entry[0]];
    const key = path.pop()!;
    for (const k of path) {
      parent = (parent as Record<string | number, unknown>)[k];
      need(typeof parent === 'object' && parent !== null);
    }
    need(key !== '__proto__' && Object.hasOwn(parent as object, key) && (parent as Record<string | number, unknown>)[key] === null);
    (parent as Record<string | number, unknown>)[key] = bytes;
  }
  need(at === data.byteLength);
  return root.f;
}
