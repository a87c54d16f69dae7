/**
 * Redis for the scale-out tests: the machine's Redis (SWITCHBOARD_TEST_REDIS_URL, default
 * redis://127.0.0.1:6379), each test under its own key prefix, removed afterwards; and private
 * redis-server processes for tests that stop and restart Redis (never the machine's own).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.SWITCHBOARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Whether a Redis answers PING at `url` within a second. */
export async function redisAnswers(url = REDIS_URL): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1_000 });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

/** Checks Redis once per file and prints why the file's tests are skipped when it is absent. */
export async function requireRedis(file: string): Promise<boolean> {
  const ok = await redisAnswers();
  if (!ok) console.warn(`SKIP ${file}: no Redis answers at ${REDIS_URL} (start redis-server, or set SWITCHBOARD_TEST_REDIS_URL)`);
  return ok;
}

/** A fresh key prefix; {@link dropPrefix} removes its keys. */
export function testPrefix(): string {
  return `sbtest:${randomUUID().slice(0, 8)}:`;
}

export async function dropPrefix(prefix: string, url = REDIS_URL): Promise<void> {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  r.on('error', () => {});
  try {
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
      if (keys.length) await r.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    r.disconnect();
  }
}

export const REDIS_SERVER = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A redis-server of our own, without persistence, that a test may stop and start again. */
export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Freezes the process (SIGSTOP on its own pid): its connections stay open, nothing is answered. */
  freeze(): void;
  /** Resumes a frozen process (SIGCONT). */
  thaw(): void;
}

export async function privateRedis(): Promise<PrivateRedis> {
  if (!REDIS_SERVER) throw new Error('no redis-server binary');
  const port = await freePort();
  let child: ChildProcess | undefined;
  const url = `redis://127.0.0.1:${port}`;
  const start = async () => {
    child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: 'ignore' });
    const deadline = Date.now() + 5_000;
    while (!(await redisAnswers(url))) {
      if (Date.now() > deadline) throw new Error(`private redis-server on ${port} did not start`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null) return;
    c.kill('SIGCONT');
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };
  const signal = (sig: NodeJS.Signals) => {
    if (!child?.pid || child.exitCode !== null) throw new Error('private redis-server is not running');
    process.kill(child.pid, sig);
  };
  await start();
  return { url, port, start, stop, freeze: () => signal('SIGSTOP'), thaw: () => signal('SIGCONT') };
}
