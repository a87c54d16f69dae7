/**
 * The cross-runtime harness: the server of test/fixtures/runtime-server.mjs in a child process on
 * Node or on Bun, ended by PID by the test scope. The suites test/runtime-*.test.ts run the same
 * cases against every entry of RUNTIMES with `describe.each`; the Node client stays the peer.
 * Bun comes from the `@oven/bun-linux-x64` devDependency (or SWITCHBOARD_TEST_BUN); where it
 * cannot run, its entry carries the reason, printed once, and the suites skip it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { runCleanups, within, type Closable, type TestScope } from './helpers.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/runtime-server.mjs', import.meta.url));
const DIST = fileURLToPath(new URL('../dist/server/index.js', import.meta.url));

/** A runtime the fixture server runs on. */
export interface Runtime {
  name: 'node' | 'bun';
  /** The executable. */
  bin: string;
  /** Why this runtime is skipped here, if it is. */
  skip?: string;
}

/** The Bun binary: SWITCHBOARD_TEST_BUN, else the one the devDependency installed. */
function bunBinary(): string | undefined {
  if (process.env.SWITCHBOARD_TEST_BUN) return process.env.SWITCHBOARD_TEST_BUN;
  try {
    const pkg = createRequire(import.meta.url).resolve('@oven/bun-linux-x64/package.json');
    return fileURLToPath(new URL('./bin/bun', `file://${pkg}`));
  } catch {
    return undefined;
  }
}

/** Whether `bin --version` runs; the reason when it does not (npm skips the package off linux-x64). */
function bunSkipReason(bin: string | undefined): string | undefined {
  if (!bin) return 'no Bun binary: @oven/bun-linux-x64 is not installed (it installs on Linux x64 with glibc only; set SWITCHBOARD_TEST_BUN to another)';
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status === 0) return undefined;
  return `the Bun binary ${bin} does not run here (${r.error?.message ?? (r.stderr.trim() || `exit ${r.status}`)})`;
}

const bun = bunBinary();
const bunSkip = bunSkipReason(bun);

/** Node always; Bun when its binary runs here. */
export const RUNTIMES: Runtime[] = [
  { name: 'node', bin: process.execPath },
  { name: 'bun', bin: bun ?? 'bun', ...(bunSkip ? { skip: bunSkip } : {}) },
];

let warned = false;
/** Prints, once per file, why a runtime is skipped. */
export function warnSkippedRuntimes(file: string): void {
  if (warned) return;
  warned = true;
  for (const r of RUNTIMES) if (r.skip) console.warn(`SKIP ${file} on ${r.name}: ${r.skip}`);
}

/** What the fixture server is configured with (one JSON argument); every field is optional. */
export interface RuntimeServerConfig {
  /** Port to listen on. @default 0 */
  port?: number;
  /** Passed as the server's `runtime` option when given; omitted otherwise (the server's default). */
  runtime?: 'auto' | 'node' | 'bun';
  /** `ServerOptions.limits`, JSON-shaped. */
  limits?: Record<string, unknown>;
  heartbeat?: { intervalMs?: number; timeoutMs?: number };
  history?: { size?: number; ttlMs?: number } | false;
  compression?: boolean;
  idempotency?: { ttlMs?: number; leaseMs?: number };
  /** Authenticate with HS256 JWTs signed with this secret; otherwise the token itself is the identity. */
  authSecret?: string;
  /** `ServerOptions.health`. */
  health?: boolean | { liveness?: string; readiness?: string };
  /** SIGTERM drains with `drainOnSignals(server, { timeoutMs })` instead of closing. */
  drain?: { timeoutMs: number };
  /** The SSE fallback (docs/protocol.md §8). @default off */
  sse?: boolean;
  /** @default { kind: 'memory' } */
  engine?: { kind: 'memory' } | { kind: 'redis' | 'nats'; url: string; prefix: string; nodeTtlMs?: number };
}

/** A fixture server running in a child process. */
export interface RuntimeServer {
  runtime: Runtime['name'];
  port: number;
  pid: number;
  /** `ws://127.0.0.1:<port>/ws` */
  url: string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /** Sends SIGKILL: the process dies without a goodbye (no close frames, no engine cleanup). */
  kill(): Promise<number | string>;
  /** SIGTERM, then SIGKILL after 5 s; resolves the exit code. The test scope calls this. */
  close(): Promise<number | string>;
}

/**
 * Starts the fixture server on `runtime` with `config`, and hands it to `scope` to be ended (by its
 * PID) after the test. Rejects with the child's stderr when it exits or stays silent before
 * printing its port.
 */
export async function runtimeServer(scope: Pick<TestScope, 'track'>, runtime: Runtime, config: RuntimeServerConfig = {}): Promise<RuntimeServer> {
  if (!existsSync(DIST)) throw new Error(`${DIST} is missing: run \`npm run build\` first (the fixture server runs the built package)`);
  const child: ChildProcess = spawn(runtime.bin, [FIXTURE, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4_000)));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const close = async (): Promise<number | string> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      try {
        return await exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return exited;
  };
  scope.track({ close });
  const lines = createInterface({ input: child.stdout! });
  const first = new Promise<string>((resolve, reject) => {
    lines.once('line', resolve);
    void exited.then((code) => reject(new Error(`the ${runtime.name} fixture server exited (${code}) before listening: ${stderr}`)));
  });
  const line = await within(first, `the ${runtime.name} fixture server to print its port`, 15_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${stderr}`);
  });
  lines.close();
  child.stdout!.resume();
  const { port, pid, runtime: actual } = JSON.parse(line) as { port: number; pid: number; runtime: Runtime['name'] };
  if (actual !== runtime.name) throw new Error(`asked for ${runtime.name}, the fixture runs on ${actual}`);
  return {
    runtime: actual,
    port,
    pid,
    url: `ws://127.0.0.1:${port}/ws`,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
      return exited;
    },
    close,
  };
}

/**
 * One fixture server for a whole `describe` block (started in its beforeAll, ended by PID in its
 * afterAll), for the many cases that only need a fresh connection: returns a getter.
 */
export function sharedRuntimeServer(runtime: Runtime, config: RuntimeServerConfig = {}): () => RuntimeServer {
  let server: RuntimeServer | undefined;
  const closables: Closable[] = [];
  beforeAll(async () => {
    server = await runtimeServer({ track: (c) => (closables.push(c), c) }, runtime, config);
  });
  afterAll(() => runCleanups(closables.splice(0).map((c) => () => c.close())));
  return () => {
    if (!server) throw new Error(`the shared ${runtime.name} fixture server did not start`);
    return server;
  };
}
