/**
 * How the CLI writes values: JSON lines for scripts, and the same JSON, compact, in the
 * interactive session, so any value shown can be pasted back as input (docs/cli.md, "Output").
 */
import { SwitchboardError } from '../protocol/errors.js';

/**
 * `JSON.stringify`'s replacer for what JSON cannot say: binary values (MessagePack carries them)
 * become `{ "$base64": "…" }`, bigints their decimal string.
 */
function replacer(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key]; // before toJSON (Buffer has one)
  if (raw instanceof ArrayBuffer) return { $base64: Buffer.from(raw).toString('base64') };
  if (ArrayBuffer.isView(raw)) return { $base64: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64') };
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** One value as a line of JSON (`undefined` as `null`), without the newline. */
export function jsonText(value: unknown): string {
  return JSON.stringify(value === undefined ? null : value, replacer) ?? 'null';
}

/** The code of an error, when it has one the protocol knows, and its message. */
export function errorParts(err: unknown): { code?: string; message: string; details?: unknown } {
  if (err instanceof SwitchboardError) return { code: err.code, message: err.message, ...(err.details !== undefined ? { details: err.details } : {}) };
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return typeof code === 'string' && /^[A-Z][A-Z_]+$/.test(code) ? { code, message } : { message };
}

/** `CODE: message` (and the details as JSON), the one line an error is reported with. */
export function errorText(err: unknown): string {
  const { code, message, details } = errorParts(err);
  return `${code ? `${code}: ` : ''}${message}${details !== undefined ? ` ${jsonText(details)}` : ''}`;
}
