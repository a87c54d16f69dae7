/**
 * `switchboard bench`: runs the benchmark suite (bench/run.js) of a Switchboard checkout with a
 * progress bar, and prints its table (docs/cli.md, "bench"). The published package ships neither
 * bench/ nor the stacks it compares against (socket.io and others are devDependencies), so from an
 * installed package it says what it needs instead.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { helpWanted, list, parse, positiveCount, str } from './args.js';
import { planStep, progressBar } from './progress.js';
import type { Style } from './style.js';

/** `switchboard bench --help`. */
export const BENCH_HELP = `Usage: switchboard bench [options] [-- runner options]

Runs Switchboard's benchmark suite against raw ws and Socket.IO (bench/run.js), shows a progress
bar, and prints the table (figures also go to bench/results/). Needs a checkout of the Switchboard
repository with its devDependencies installed (npm ci): the published package has no bench/.

Options:
  --quick        a smoke run, under a minute
  --smoke        smaller still
  --reps N       repetitions of each run (default: 3 for a full run, 1 otherwise)
  --only LIST    scenarios, comma-separated (rpc,fanout,…)
  --stacks LIST  stacks, comma-separated (ws,switchboard-json,…)
  -h, --help     this help
Anything after -- goes to bench/run.js as is (see the top of bench/run.js).
`;

/** What `bench` prints when there is no suite beside the CLI. */
export const NO_SUITE = `switchboard bench runs the benchmark suite of a Switchboard checkout, and this installed
package has none: the suite (bench/) and the stacks it compares against (socket.io, centrifuge,
…) are not published. To run it:
  git clone <the Switchboard repository> && cd switchboard && npm ci && npx switchboard bench --quick
(npm run bench does the same without the progress bar). Published figures: docs/performance.md.
`;

/** The package root above dist/cli/, when it holds the benchmark runner (a checkout). */
export function suiteRoot(): string | undefined {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  return existsSync(join(root, 'bench', 'run.js')) ? root : undefined;
}

/** Runs `switchboard bench`; resolves the runner's exit code. */
export async function runBench(args: readonly string[], out: NodeJS.WritableStream, err: NodeJS.WriteStream, style: Style): Promise<number> {
  const p = parse('bench', args, {
    quick: { type: 'boolean' },
    smoke: { type: 'boolean' },
    reps: { type: 'string' },
    only: { type: 'string' },
    stacks: { type: 'string' },
  });
  if (helpWanted(p, BENCH_HELP, out)) return 0;
  const root = suiteRoot();
  if (root === undefined) {
    err.write(NO_SUITE);
    return 1;
  }
  const runArgs = [
    ...(p.values.smoke === true ? ['--smoke'] : p.values.quick === true ? ['--quick'] : []),
    ...(str(p, 'reps') !== undefined ? [`--reps=${positiveCount('reps', str(p, 'reps')!)}`] : []),
    ...list(p, 'only').map((v) => `--only=${v}`),
    ...list(p, 'stacks').map((v) => `--stacks=${v}`),
    ...p.positionals,
  ];
  // stderr is piped, so the runner prints one plan line per run instead of redrawing its own line;
  // those lines become the bar here (when stderr is a terminal), everything else passes through.
  const child = spawn(process.execPath, [join(root, 'bench', 'run.js'), ...runArgs], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const bar = err.isTTY === true;
  let drawn = '';
  let partial = '';
  const redraw = () => drawn && err.write(`\r\x1b[K${style.accent(drawn)}`);
  const onLine = (line: string) => {
    const step = bar ? planStep(line) : undefined;
    if (step) {
      drawn = progressBar(step.step, step.total, step.label, err.columns || 100);
      return redraw();
    }
    if (line === '') return;
    err.write(`${drawn ? '\r\x1b[K' : ''}${line}\n`);
    redraw();
  };
  // The runner writes its table to stdout when every run is done: the bar makes way for it.
  child.stdout.on('data', (chunk: Buffer) => {
    if (drawn) err.write('\r\x1b[K');
    drawn = '';
    out.write(chunk);
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    const lines = (partial + chunk).split(/\r?\n|\r/);
    partial = lines.pop()!;
    lines.forEach(onLine);
  });
  // Ctrl-C reaches the runner too (one process group); wait for it to stop its own children.
  const ignore = () => {};
  const forward = () => child.kill('SIGTERM');
  process.on('SIGINT', ignore);
  process.on('SIGTERM', forward);
  try {
    const code = await new Promise<number>((resolve) => child.on('close', (c, signal) => resolve(c ?? 128 + (signal ? constants.signals[signal] : 0))));
    if (partial) onLine(partial);
    if (drawn) err.write('\r\x1b[K');
    return code;
  } finally {
    process.off('SIGINT', ignore);
    process.off('SIGTERM', forward);
  }
}
