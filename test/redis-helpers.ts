/**
 * Redis for the scale-out tests: the machine's Redis (SWITCHBOARD_TEST_REDIS_URL, default
 * redis://127.0.0.1:6379), each test under its own key prefix, removed afterwards; and private
 * redis-server processes for tests that stop and restart Redis (never the machine's own).
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { freePort, privateProcess } from './processes.js';

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
  const url = `redis://127.0.0.1:${port}`;
  const proc = privateProcess(`private redis-server on ${port}`, REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], () => redisAnswers(url));
  const { start, stop } = proc;
  const signal = (sig: NodeJS.Signals) => {
    const child = proc.child;
    if (!child?.pid || child.exitCode !== null) throw new Error('private redis-server is not running');
    process.kill(child.pid, sig);
  };
  await start();
  return { url, port, start, stop, freeze: () => signal('SIGSTOP'), thaw: () => signal('SIGCONT') };
}
