/**
 * The one nesting limit of every payload value (docs/protocol.md §2.6). Every codec encodes and
 * decodes values up to this depth, and every peer refuses a deeper value where it enters — before
 * anything is delivered — so a value is never delivered under one codec and lost under another.
 * Pure: no I/O.
 */
import * as ErrorCode from './error-code-values.js';
import { SwitchboardError } from './errors.js';

/**
 * Most containers (arrays, maps/objects) a payload value may nest: `5` nests 0, `[5]` 1,
 * `{"a":[5]}` 2. Binary values and dates are leaves. Far beyond any real payload, and shallow
 * enough for every codec's recursive encoder (MessagePack's stops at 100 unless told otherwise).
 */
export const MAX_DEPTH = 1_000;

/**
 * Containers a frame adds around a value at most: the frame itself and the `items` array of an
 * `item` frame. The codecs accept frames up to {@link MAX_FRAME_DEPTH} containers deep.
 */
export const FRAME_DEPTH = 2;

/** Most containers one frame may nest, counting the frame itself. */
export const MAX_FRAME_DEPTH = MAX_DEPTH + FRAME_DEPTH;

/** Whether `v` is a container: an object that is neither binary nor a date. */
function isContainer(v: unknown): v is object {
  return typeof v === 'object' && v !== null && !ArrayBuffer.isView(v) && !(v instanceof ArrayBuffer) && !(v instanceof Date);
}

/** Whether `v` nests more than `room` containers; never recurses more than `room` + 1 levels. */
function over(v: object, room: number): boolean {
  if (room === 0) return true;
  if (Array.isArray(v)) {
    for (const x of v) if (isContainer(x) && over(x, room - 1)) return true;
    return false;
  }
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k];
    if (isContainer(x) && over(x, room - 1)) return true;
  }
  return false;
}

/**
 * Whether `value` nests more than `limit` containers (by default {@link MAX_DEPTH}). Walks at most
 * `limit` + 1 levels, so it is safe on any input, however deep.
 */
export function exceedsDepth(value: unknown, limit = MAX_DEPTH): boolean {
  return isContainer(value) && over(value, limit);
}

/** The error a value past the limit is refused with: `BAD_REQUEST`, naming what was too deep. */
export function tooDeep(what: string): SwitchboardError {
  return new SwitchboardError(ErrorCode.BAD_REQUEST, `${what} is nested deeper than ${MAX_DEPTH} levels`, { limit: 'depth', value: MAX_DEPTH });
}

/**
 * Throws {@link tooDeep} when `value` nests more than {@link MAX_DEPTH} containers.
 *
 * @example
 * assertDepth(data, 'data'); // before publishing: nothing deeper reaches any subscriber
 */
export function assertDepth(value: unknown, what: string): void {
  if (exceedsDepth(value)) throw tooDeep(what);
}
