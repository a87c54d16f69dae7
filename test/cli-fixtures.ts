/**
 * The CLI as users run it: `node dist/cli/index.js …` in a child process (built by `npm run build`,
 * which `npm test` runs first). Every child is ended after the test by its PID, with a deadline;
 * tests wait on its output, never on time.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { until, within, type TestScope } from './helpers.js';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CLI = resolve(root, 'dist/cli/index.js');

/** A running `switchboard` process. */
export interface CliRun {
  readonly child: ChildProcessWithoutNullStreams;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** Writes to its stdin. */
  write(text: string): void;
  /** Resolves the first match of `re` in stdout (or stderr), waiting up to `timeoutMs`. */
  waitFor(re: RegExp, timeoutMs?: number, stream?: 'stdout' | 'stderr'): Promise<RegExpMatchArray>;
  /** Resolves its exit code (or the signal that ended it) once it exited and its output ended, within `timeoutMs`. */
  exited(timeoutMs?: number): Promise<number | NodeJS.Signals>;
}

/** An environment without the variables the CLI reads, so the machine's settings cannot leak in. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['NO_COLOR', 'FORCE_COLOR', 'SWITCHBOARD_TOKEN', 'SWITCHBOARD_JWT_SECRET', 'SWITCHBOARD_REDIS_URL']) delete env[k];
  return { ...env, SWITCHBOARD_HISTORY: '', ...extra };
}

/** Starts the CLI with `args`; the scope stops it after the test (SIGTERM, then SIGKILL after 3 s). */
export function runCli(scope: TestScope, args: string[], opts: { env?: NodeJS.ProcessEnv; script?: string; command?: string } = {}): CliRun {
  expect(existsSync(CLI), 'dist/cli/index.js is missing: run npm run build').toBe(true);
  // `command`: another program that runs the CLI itself (script(1) for a pseudo-terminal).
  const [file, argv] = opts.command ? [opts.command, args] : [process.execPath, [opts.script ?? CLI, ...args]];
  const child = spawn(file, argv, { cwd: root, env: opts.env ?? cleanEnv() });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.stdin.on('error', () => {}); // a child that already exited closes its stdin
  // 'close', not 'exit': it comes after the child's stdout and stderr were read to their end.
  const exit = once(child, 'close').then(([code, signal]) => (code ?? signal) as number | NodeJS.Signals);
  scope.defer(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    try {
      await within(exit, 'the CLI to exit after SIGTERM', 3_000);
    } catch {
      child.kill('SIGKILL');
      await exit;
    }
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    write: (text) => void child.stdin.write(text),
    async waitFor(re, timeoutMs = 10_000, stream = 'stdout') {
      const text = () => (stream === 'stdout' ? out : err);
      await until(() => re.test(text()) || child.exitCode !== null, `${re} in the CLI's ${stream}`, timeoutMs).catch((e: Error) => {
        throw new Error(`${e.message}\n--- stdout:\n${out}\n--- stderr:\n${err}`);
      });
      const m = re.exec(text());
      if (!m) throw new Error(`the CLI exited (${child.exitCode}) before printing ${re}\n--- stdout:\n${out}\n--- stderr:\n${err}`);
      return m;
    },
    exited: (timeoutMs = 10_000) =>
      within(exit, 'the CLI to exit', timeoutMs).catch((e: Error) => {
        throw new Error(`${e.message}\n--- stdout:\n${out}\n--- stderr:\n${err}`);
      }),
  };
}

/** Runs the CLI to its end; resolves its exit code and output. */
export async function runCliToEnd(scope: TestScope, args: string[], opts: { env?: NodeJS.ProcessEnv; stdin?: string; script?: string; timeoutMs?: number } = {}): Promise<{ code: number | NodeJS.Signals; stdout: string; stderr: string }> {
  const run = runCli(scope, args, opts);
  if (opts.stdin !== undefined) run.write(opts.stdin);
  run.child.stdin.end();
  const code = await run.exited(opts.timeoutMs);
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/** `switchboard serve` with `args` on 127.0.0.1, port 0; resolves once it printed its URL. */
export async function serveCli(scope: TestScope, args: string[] = [], env?: NodeJS.ProcessEnv): Promise<CliRun & { url: string; port: number }> {
  const run = runCli(scope, ['serve', '--port', '0', ...args], env ? { env } : {});
  const m = await run.waitFor(/listening on (ws:\/\/127\.0\.0\.1:(\d+)\/\S*)/);
  return Object.assign(run, { url: m[1]!, port: Number(m[2]) });
}
