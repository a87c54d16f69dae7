/**
 * The cross-runtime harness itself (test/runtime-server.ts): the fixture runs on the runtime asked
 * for, exits 0 on SIGTERM once the server closed, is gone by PID after the test scope's cleanup,
 * and a configuration the server refuses fails the start with the server's own TypeError.
 */
import { describe, expect, it } from 'vitest';
import { createTestScope, runCleanups, type Closable } from './helpers.js';
import { RUNTIMES, runtimeServer, warnSkippedRuntimes } from './runtime-server.js';

warnSkippedRuntimes('test/runtime-server.test.ts');
const scope = createTestScope();

/** Whether a process with `pid` exists (signal 0 checks without sending anything). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.each(RUNTIMES)('the fixture server on $name', (runtime) => {
  describe.skipIf(runtime.skip !== undefined)(runtime.skip ? `skipped: ${runtime.skip}` : 'in a child process', () => {
    it('runs on that runtime, answers over the wire, and exits 0 on SIGTERM after closing its clients', async () => {
      const own: Closable[] = [];
      const server = await runtimeServer({ track: (c) => (own.push(c), c) }, runtime);
      expect(server.runtime).toBe(runtime.name);
      expect(alive(server.pid)).toBe(true);
      const c = scope.client(server.url, { reconnect: false });
      expect(await c.call('pid')).toBe(server.pid);
      // Which transport carries the sockets, where the server says so (with the server's default
      // `runtime`, native Bun.serve under Bun once that adapter exists; Bun's node:http before).
      const health = (await c.call('health')) as { connections: number; runtime?: string };
      expect(health.connections).toBe(1);
      console.log(`fixture on ${runtime.name}: transport ${health.runtime ?? 'not named by this server (before the runtime option)'}`);
      const closed = new Promise<number>((resolve) => c.on('close', (e: { code: number }) => resolve(e.code)));
      // What the test scope does after each test: end it by PID.
      await runCleanups(own.map((s) => () => s.close()));
      expect(await server.exited).toBe(0);
      expect(alive(server.pid)).toBe(false);
      // A graceful shutdown: the client got a close frame (going away), not a dropped socket.
      expect(await closed).toBe(1001);
    });

    it('fails the start with the server\'s TypeError when the configuration is impossible', async () => {
      await expect(runtimeServer(scope, runtime, { limits: { maxPayload: -1 } })).rejects.toThrow(/TypeError[^\n]*maxPayload/);
    });
  });
});
