/**
 * Argument parsing shared by every subcommand: `node:util.parseArgs` in strict mode, turned into
 * {@link UsageError}s (exit code 2, docs/cli.md "Exit codes"), and the value parsers for flags
 * (durations, counts, JSON).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command line the CLI cannot run: exit code 2, with the message and a pointer to `--help`. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The options a subcommand declares, in `parseArgs`'s form. */
export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** What {@link parse} returns: flag values by name, and positionals. */
export interface Parsed {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/**
 * Parses `args` against `options` (every subcommand also takes `--help`). An unknown flag, a
 * missing value or a value given to a boolean flag is a {@link UsageError} naming the flag.
 */
export function parse(command: string, args: readonly string[], options: OptionSpec, allowPositionals = true): Parsed {
  try {
    const { values, positionals } = parseArgs({ args: [...args], options: { help: { type: 'boolean', short: 'h' }, ...options }, strict: true, allowPositionals });
    return { values: values as Parsed['values'], positionals };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS')) throw err;
    const message = (err as Error).message;
    // parseArgs's own text for an unknown flag explains `--` at length; name the flag and the help.
    const unknown = /^Unknown option '([^']+)'/.exec(message);
    const text = unknown ? `unknown option ${unknown[1]}` : message.split('. ')[0]!.replace(/^Unexpected argument/, 'unexpected argument');
    throw new UsageError(`${text} (see: switchboard ${command} --help)`);
  }
}

/** The string value of `--name`, if given. */
export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

/** Every value of a repeatable `--name`. */
export function list(p: Parsed, name: string): string[] {
  const v = p.values[name];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : [];
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration in ms from `90`, `90s`, `500ms`, `15m`, `1h` or `7d`. A bare number is seconds, as in
 * `curl --max-time` and JWT lifetimes. Anything else, zero or negative, is a {@link UsageError}.
 */
export function durationMs(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  const ms = m ? Number(m[1]) * UNITS[m[2] ?? 's']! : NaN;
  if (!(ms > 0) || !Number.isFinite(ms)) throw new UsageError(`--${flag} must be a positive duration such as 30s, 15m, 1h or 7d, got ${JSON.stringify(text)}`);
  return ms;
}

/** A positive integer flag value, or a {@link UsageError} naming the flag. */
export function positiveCount(flag: string, text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${flag} must be a positive integer, got ${JSON.stringify(text)}`);
  return n;
}

/** A port (0–65535; 0 picks a free one), or a {@link UsageError}. */
export function port(text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(n >= 0 && n <= 65_535)) throw new UsageError(`--port must be an integer from 0 to 65535, got ${JSON.stringify(text)}`);
  return n;
}

/** Parses JSON given on the command line; `what` names where it came from in the error. */
export function json(what: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const hint = /^[A-Za-z_]/.test(text.trim()) && !/^(true|false|null)\b/.test(text.trim()) ? ' (a string needs quotes: \'"hi"\')' : '';
    throw new UsageError(`${what} is not JSON: ${(err as Error).message}${hint}`);
  }
}

/** Prints `text` when `--help` was given; returns whether it was. */
export function helpWanted(p: Parsed, text: string, out: NodeJS.WritableStream): boolean {
  if (p.values.help !== true) return false;
  out.write(text.endsWith('\n') ? text : `${text}\n`);
  return true;
}
