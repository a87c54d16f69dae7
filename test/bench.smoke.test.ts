/**
 * The benchmark harness (docs/performance.md) still runs: `bench/run.js --smoke` in a child process, against
 * the built package, must finish with exit 0 and report every stack × scenario with zero fan-out
 * losses. Never asserts on speed: CI machines are shared and noisy.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'switchboard-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run { scenario: string; stack: string; ok: boolean; error?: string; metrics?: Record<string, number>; counts?: Record<string, unknown> }
interface Report { mode: string; runs: Run[]; machine: { loadAverage: { start: { one: number } } } }

/** Runs the smoke bench; kills its process (only that PID; it stops its own children) past the deadline. */
function smoke(deadlineMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, ['bench/run.js', '--smoke', `--results=${dir}`, `--out=${join(dir, 'smoke.json')}`], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, output });
    });
  });
}

describe('bench harness (smoke)', () => {
  it('runs every stack in every scenario, exits 0, writes the JSON, and loses no fan-out message', async () => {
    const { code, output } = await smoke(150_000);
    expect(code, output).toBe(0);
    const report = JSON.parse(readFileSync(join(dir, 'smoke.json'), 'utf8')) as Report;
    expect(report.mode).toBe('smoke');
    expect(typeof report.machine.loadAverage.start.one).toBe('number');
    // The bench is plain JS outside the type-checked tree: loaded by URL, typed here.
    const load = (p: string): Promise<unknown> => import(pathToFileURL(resolve(root, p)).href);
    const { SCENARIOS } = (await load('bench/scenarios/index.js')) as { SCENARIOS: { name: string; stacks?: string[]; skip?: string }[] };
    // The stacks each scenario runs in smoke mode (the Bun stacks are left out of it: they run in
    // --quick and full runs, skipped with a printed reason where the Bun binary cannot run).
    const { stacksFor } = (await load('bench/stacks/index.js')) as { stacksFor: (sc: unknown, mode: string) => string[] };
    for (const sc of SCENARIOS) {
      // Skipped on this machine (the Redis scale-out scenarios without a Redis): said in the output.
      if (sc.skip) {
        expect(output).toContain(`skip ${sc.name}: ${sc.skip}`);
        continue;
      }
      // Left out of smoke runs by the scenario itself (it reads --smoke in the bench's process, not
      // in this one): said in the output too.
      if (output.includes(`skip ${sc.name}: `)) continue;
      for (const stack of stacksFor(sc, 'smoke')) {
        const runs = report.runs.filter((r) => r.scenario === sc.name && r.stack === stack);
        expect(runs.length, `${sc.name} × ${stack}`).toBeGreaterThan(0);
        for (const r of runs) expect(r.ok, `${sc.name} × ${stack}: ${r.error}`).toBe(true);
      }
    }
    for (const r of report.runs.filter((x) => x.scenario.startsWith('fanout'))) {
      expect(r.metrics!.losses, `fan-out losses, ${r.stack}`).toBe(0);
      expect(r.counts!.duplicates, `fan-out duplicates, ${r.stack}`).toBe(0);
    }
  }, 180_000);
});
