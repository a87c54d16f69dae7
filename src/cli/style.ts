/**
 * Colors for the CLI's human output, through `node:util.styleText` (Node ≥ 20.12; older Nodes get
 * plain text). Off when the stream is not a terminal or `NO_COLOR` is set (https://no-color.org);
 * `FORCE_COLOR` (not `0`) turns them on for a pipe. Only for text meant for people: JSON lines for
 * scripts are never colored (docs/cli.md, "Output").
 */
import * as util from 'node:util';

/** The few styles the CLI uses, by role rather than by color. */
export interface Style {
  readonly enabled: boolean;
  ok(text: string): string;
  warn(text: string): string;
  error(text: string): string;
  dim(text: string): string;
  accent(text: string): string;
  bold(text: string): string;
}

type Format = Parameters<typeof util.styleText>[0];
type StyleTextFn = (format: Format, text: string, options?: { validateStream?: boolean }) => string;

/** Whether output to `stream` should be colored, given the environment. */
export function colorWanted(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '') return env.FORCE_COLOR !== '0';
  return stream.isTTY === true && env.TERM !== 'dumb';
}

/** The styles for `stream`; identity functions when colors are off. */
export function createStyle(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Style {
  // Looked up at run time: `styleText` does not exist before Node 20.12 (the package supports 20.x).
  const styleText = (util as { styleText?: StyleTextFn }).styleText;
  const enabled = colorWanted(stream, env) && typeof styleText === 'function';
  // validateStream: false: the decision is made above, once; newer Nodes would otherwise check
  // process.stdout again and drop colors that FORCE_COLOR asked for.
  const paint = (format: Format) => (text: string) => (enabled ? styleText!(format, text, { validateStream: false }) : text);
  return { enabled, ok: paint('green'), warn: paint('yellow'), error: paint('red'), dim: paint('dim'), accent: paint('cyan'), bold: paint('bold') };
}
