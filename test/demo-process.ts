/**
 * The demo (`node demo/server.js`) as a child process, for the suites that drive it in real
 * browsers: started on a port (0 for a free one), its URL read from its first line, its trace (JSON
 * lines on stderr with `SWITCHBOARD_DEMO_LOG=debug`) parsed for what the server saw on the wire,
 * and stopped with SIGTERM — only this process, by its handle.
 *
 * It runs against `dist/` (the build must have run: `npm test` does it) and builds the apps first
 * when their build is missing or stale (demo/lib/build-apps.js), hence the generous start deadline.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { within } from './helpers.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
/** The line the demo prints once it listens. */
export const URL_LINE = /^Switchboard demo: (http:\/\/localhost:(\d+)\/)$/m;
/** Long enough for a first Vite build of the apps on a loaded two-core machine. */
const START_DEADLINE_MS = 90_000;

/** One line of the demo's trace (demo/lib/logger.js). */
export interface TraceLine {
  level: string;
  msg: string;
  clientId?: string;
  member?: string;
  topic?: string;
  outcome?: string;
  direction?: 'in' | 'out';
  kind?: string;
}

export interface DemoProcess {
  child: ChildProcessByStdio<null, Readable, Readable>;
  /** `http://localhost:<port>/` */
  url: string;
  port: number;
  stdout(): string;
  stderr(): string;
  /** The trace so far (empty unless started with `trace: true`). */
  trace(): TraceLine[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then waits for the exit (SIGKILL after 10 s); nothing if it already exited. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the demo; resolves once it printed its URL. */
export async function startDemo(opts: { port?: number; trace?: boolean; env?: Record<string, string> } = {}): Promise<DemoProcess> {
  const child = spawn(process.execPath, ['demo/server.js'], {
    cwd: REPO,
    env: { ...process.env, PORT: String(opts.port ?? 0), ...(opts.trace ? { SWITCHBOARD_DEMO_LOG: 'debug' } : {}), ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const printed = new Promise<RegExpExecArray>((resolve, reject) => {
    const check = () => {
      const m = URL_LINE.exec(out);
      if (m) resolve(m);
    };
    child.stdout.on('data', check);
    child.once('error', reject);
    void exited.then(({ code, signal }) => reject(new Error(`demo exited (${code ?? signal}) before printing its URL`)));
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      try {
        return await within(exited, 'the demo to exit after SIGTERM', 10_000);
      } catch (e) {
        child.kill('SIGKILL');
        throw e;
      }
    }
    return exited;
  };
  try {
    const m = await within(printed, 'the demo to print its URL', START_DEADLINE_MS);
    const trace = () =>
      err
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as TraceLine);
    return { child, url: m[1]!, port: Number(m[2]), stdout: () => out, stderr: () => err, trace, exited, stop };
  } catch (e) {
    await stop().catch(() => {});
    throw new Error(`${(e as Error).message} (did \`npm run build\` run?)\nstdout:\n${out}\nstderr:\n${err}`);
  }
}

/**
 * What the server saw of the connections of `member` in `trace`: per connection, the topics it
 * subscribed (outcome `subscribed`, in order) and how many `sub`, `unsub`, `stream` and `cancel`
 * frames it sent.
 */
export function wireOf(trace: readonly TraceLine[], member: string): { clientId: string; subscribed: string[]; denied: string[]; frames: Record<string, number> }[] {
  const ids = trace.filter((l) => l.msg === 'connection opened' && l.member === member).map((l) => l.clientId!);
  return ids.map((clientId) => {
    const mine = trace.filter((l) => l.clientId === clientId);
    const frames: Record<string, number> = { sub: 0, unsub: 0, stream: 0, cancel: 0 };
    for (const l of mine) if (l.msg === 'frame' && l.kind) frames[l.kind] = (frames[l.kind] ?? 0) + 1;
    return {
      clientId,
      subscribed: mine.filter((l) => l.msg === 'subscription' && l.outcome === 'subscribed').map((l) => l.topic!),
      denied: mine.filter((l) => l.msg === 'subscription' && l.outcome !== 'subscribed').map((l) => l.topic!),
      frames,
    };
  });
}
