/**
 * Processes a test starts for itself (a private redis-server, nats-server, Xvfb): a free loopback
 * port for them, and the start/wait/kill shape they share. Only the process started here is ever
 * signalled, by its own pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** A TCP port free on 127.0.0.1 now (the OS's pick for port 0, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A service process of a test's own, which the test may stop and start again. */
export interface PrivateProcess {
  /** The running process, if any. */
  readonly child: ChildProcess | undefined;
  /** Spawns it and resolves once `ready()` says it answers (5 s deadline). */
  start(): Promise<void>;
  /** Kills it (SIGKILL, after a SIGCONT in case it was frozen) and waits for its exit. */
  stop(): Promise<void>;
}

/** `what` names it in errors; `ready` polls whether it answers yet. */
export function privateProcess(what: string, bin: string, args: readonly string[], ready: () => Promise<boolean>): PrivateProcess {
  let child: ChildProcess | undefined;
  return {
    get child() {
      return child;
    },
    async start() {
      child = spawn(bin, args, { stdio: 'ignore' });
      const deadline = Date.now() + 5_000;
      while (!(await ready())) {
        if (Date.now() > deadline) throw new Error(`${what} did not start`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      // Continued first: the test may have frozen it (SIGSTOP).
      c.kill('SIGCONT');
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGKILL');
      await exited;
    },
  };
}
