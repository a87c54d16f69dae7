/**
 * The Redis engine when links fail (regressions found in review): a node whose pub/sub
 * connection drops loses nothing; the replay/live join is exact on the wire with two nodes and
 * concurrent subscribes; presence has no ghosts after a partition and no lost members after a
 * stall; a keyed call slower than its lease runs once; listen() can be retried once Redis is up.
 * Needs a real Redis; skipped with a printed reason where none answers.
 */
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import type { Client, ClientOptions } from '../src/client/node.js';
import { redisEmitter, redisEngine } from '../src/engines/redis/index.js';
import { createServer, silentLogger, type Server, type ServerOptions } from '../src/server/index.js';
import { createChaosProxy } from './chaos-proxy.js';
import { createTestScope, until, within } from './helpers.js';
import { record } from './record.js';
import { dropPrefix, REDIS_URL, requireRedis, testPrefix } from './redis-helpers.js';

const hasRedis = await requireRedis('test/redis-resilience.test.ts');
const scope = createTestScope();

const H = { size: 10_000, ttlMs: 60_000 };
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A client that reconnects fast and forever, its errors expected. */
function client(url: string, opts: ClientOptions = {}): Client {
  const c = scope.client(url, { reconnect: { initialDelayMs: 5, maxDelayMs: 50, maxAttempts: Infinity, stableAfterMs: 1_000 }, ...opts });
  c.on('error', () => {});
  return c;
}

/** A fresh key prefix, dropped after the test. */
function prefix(): string {
  const p = testPrefix();
  scope.defer(() => dropPrefix(p));
  return p;
}

/** A server on `engine`; the engine is closed after the server. */
async function node(engine: ReturnType<typeof redisEngine>, setup: (s: Server<string>) => void, options: ServerOptions<string> = {}) {
  scope.track(engine);
  return scope.server<string>({ engine, authenticate: (_req, token) => token ?? null, limits: { rate: false }, ...options }, setup);
}

describe.skipIf(!hasRedis)('redis engine when links fail', () => {
  it('loses nothing when a node’s pub/sub connection is dropped by Redis and comes back', async () => {
    const pfx = prefix();
    const name = `sbtest-${Math.random().toString(36).slice(2, 8)}`;
    const cmd = new Redis(REDIS_URL, { connectionName: name, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    scope.defer(() => cmd.disconnect());
    await new Promise((r) => cmd.once('ready', r));
    const engine = redisEngine({ client: cmd, prefix: pfx, logger: silentLogger });
    const { url } = await node(engine, (s) => s.topic('room:*', { subscribe: true, history: H }));
    const emitter = await redisEmitter({ url: REDIS_URL, prefix: pfx, logger: silentLogger, history: H });
    scope.track(emitter);
    const r = record(client(url, { token: 'u' }), 'room:x');
    await within(r.sub.ready, 'subscribed');
    let n = 0;
    let stop = false;
    const publishing = (async () => {
      while (!stop && n < 5_000) {
        await emitter.publish('room:x', ++n);
        await pause(1);
      }
    })();
    await until(() => r.got.length > 50, 'flowing');
    // Redis drops this node's subscriber connection (as client-output-buffer-limit would).
    // Its subscriber connection: the one with channels (the topic and the control channel, docs/scaling.md).
    const admin = new Redis(REDIS_URL);
    scope.defer(() => admin.disconnect());
    const line = ((await admin.client('LIST')) as string).split('\n').find((l) => l.includes(`name=${name}`) && / sub=[1-9]\d* /.test(l));
    expect(line, 'the node’s subscriber connection').toBeTruthy();
    await admin.client('KILL', 'ID', /id=(\d+)/.exec(line!)![1]!);
    await until(() => !engine.health!().healthy || r.got.length > n, 'drop noticed', 2_000).catch(() => {});
    await pause(300);
    stop = true;
    await publishing;
    await until(() => r.got.at(-1)?.meta.offset === n, 'every message', 5_000);
    expect(r.offsets()).toEqual(Array.from({ length: n }, (_, k) => k + 1));
    expect(r.gaps).toEqual([]);
  });

  it('keeps the replay/live join exact on the wire: two nodes, concurrent sub/unsub, steady publishing', { timeout: 30_000 }, async () => {
    const pfx = prefix();
    const nodes = await Promise.all([0, 1].map(() => node(redisEngine({ url: REDIS_URL, prefix: pfx, logger: silentLogger }), (s) => s.topic('room:*', { subscribe: true, history: H }))));
    const emitter = await redisEmitter({ url: REDIS_URL, prefix: pfx, history: H, logger: silentLogger });
    scope.track(emitter);
    const topics = ['room:a', 'room:b'];
    let stop = false;
    let published = 0;
    const publishing = (async () => {
      while (!stop && published < 20_000) {
        await Promise.all(topics.map((t) => emitter.publish(t, published)));
        if (++published % 4 === 0) await pause(1);
      }
    })();
    await pause(100);
    const problems: string[] = [];
    let sessions = 0;
    // Raw peers check §2.7 frame by frame: after `ok` with position P come P+1, P+2, … exactly.
    const worker = async (w: number) => {
      const ws = new WebSocket(nodes[w % 2]!.url, ['switchboard.v1.json', 'switchboard.auth.dw']);
      scope.defer(() => ws.terminate());
      type Frame = Record<string, any>;
      const session = new Map<string, { next: number; epoch: string; mode: string; position: number; node: number }>();
      const last = new Map<string, { epoch: string; offset: number }>();
      const pending = new Map<number, { f: Frame; done: () => void }>();
      ws.on('message', (d) => {
        const f = JSON.parse(String(d)) as Frame;
        if (f.t === 'ok' || f.t === 'err') {
          const p = pending.get(f.id)!;
          pending.delete(f.id);
          if (f.t === 'err') problems.push(`w${w}: ${JSON.stringify(f)}`);
          else if (p.f.t === 'sub') {
            const mode = p.f.since ? `since ${p.f.since.offset}` : p.f.history ? `history ${p.f.history}` : 'plain';
            session.set(p.f.topic, { next: f.output.position.offset + 1, epoch: f.output.position.epoch, mode, position: f.output.position.offset, node: w % 2 });
            sessions++;
          } else if (p.f.t === 'unsub') session.delete(p.f.topic);
          return p.done();
        }
        if (f.t !== 'msg') return;
        const s = session.get(f.topic);
        if (!s) return void problems.push(`w${w}: ${f.topic}#${f.meta.offset} outside a subscription`);
        if (f.meta.epoch !== s.epoch || f.meta.offset !== s.next) {
          // Enough to diagnose a failure: how the session started, on which node.
          problems.push(`w${w} ${f.topic} [${s.mode}, ok position ${s.position}, node ${s.node}]: expected ${s.next}, got ${f.meta.offset}`);
        }
        s.next = f.meta.offset + 1;
        last.set(f.topic, { epoch: f.meta.epoch, offset: f.meta.offset });
      });
      await new Promise((r) => ws.once('message', r));
      let id = 1;
      const req = (f: Frame) =>
        new Promise<void>((done) => {
          const i = id++;
          pending.set(i, { f, done });
          ws.send(JSON.stringify({ ...f, id: i }));
        });
      const end = Date.now() + 2_500;
      for (let k = 0; Date.now() < end; k++) {
        const topic = topics[(w + k) % 2]!;
        const f: Frame = { t: 'sub', topic };
        if (k % 3 === 1 && last.get(topic)) f.since = last.get(topic);
        if (k % 3 === 2) f.history = 1 + (k % 50);
        await req(f);
        await pause(Math.random() * 30);
        await req({ t: 'unsub', topic });
      }
      ws.close();
    };
    await Promise.all(Array.from({ length: 12 }, (_, w) => worker(w)));
    stop = true;
    await publishing;
    expect(sessions).toBeGreaterThan(100);
    expect(problems.slice(0, 5)).toEqual([]);
  });

  it('leaves no ghost when a member leaves while its node is cut off from Redis', { timeout: 20_000 }, async () => {
    const pfx = prefix();
    const proxy = await createChaosProxy(Number(new URL(REDIS_URL).port || 6379));
    scope.track(proxy);
    const setup = (s: Server<string>) => s.topic('room:*', { subscribe: true, presence: true });
    const a = await node(redisEngine({ url: `redis://127.0.0.1:${proxy.port}`, prefix: pfx, nodeTtlMs: 600, logger: silentLogger }), setup);
    const b = await node(redisEngine({ url: REDIS_URL, prefix: pfx, nodeTtlMs: 600, logger: silentLogger }), setup);
    const alice = client(a.url, { token: 'alice' });
    await within(alice.subscribe('room:p', () => {}).ready, 'alice in');
    const bob = client(b.url, { token: 'bob' });
    const bs = bob.subscribe('room:p', () => {});
    await within(bs.ready, 'bob in');
    proxy.pause();
    await until(() => !a.server.health().engine.healthy, 'A cut off');
    alice.close(); // she leaves while A cannot tell Redis
    await pause(200);
    proxy.resume();
    await until(() => a.server.health().engine.healthy, 'A back', 10_000);
    await until(() => bs.members().length === 1, 'bob hears alice leave', 5_000);
    expect((await b.server.presence('room:p')).map((m) => m.id)).toEqual(['bob']);
  });

  it('brings back the members of a node that stalled longer than the node TTL', async () => {
    const pfx = prefix();
    const setup = (s: Server<string>) => s.topic('room:*', { subscribe: true, presence: true });
    const b = await node(redisEngine({ url: REDIS_URL, prefix: pfx, nodeTtlMs: 300, logger: silentLogger }), setup);
    const a = await node(redisEngine({ url: REDIS_URL, prefix: pfx, nodeTtlMs: 300, logger: silentLogger }), setup);
    const alice = client(a.url, { token: 'alice' });
    await within(alice.subscribe('room:p', () => {}).ready, 'alice in');
    // This whole process stalls for 600 ms (> TTL): afterwards node B may clean node A up first.
    const t = Date.now();
    while (Date.now() - t < 600) {
      /* event-loop stall */
    }
    await until(() => false, 'let heartbeats run', 1_500).catch(() => {});
    expect((await b.server.presence('room:p')).map((m) => m.id)).toEqual(['alice']);
  });

  it('runs a keyed call slower than its lease once, across nodes', async () => {
    const pfx = prefix();
    const runs: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const make = (name: string) =>
      node(redisEngine({ url: REDIS_URL, prefix: pfx, logger: silentLogger }), (s) =>
        s.command('charge', async () => {
          runs.push(name);
          await released;
          return name;
        }),
      { idempotency: { leaseMs: 200 } });
    const [a, b] = [await make('A'), await make('B')];
    const p1 = client(a.url, { token: 'u' }).call('charge', 5, { idempotencyKey: 'order-42' });
    await until(() => runs.length === 1, 'first running');
    await pause(300); // past the lease: only renewal keeps the key
    const p2 = client(b.url, { token: 'u' }).call('charge', 5, { idempotencyKey: 'order-42' });
    // The repeat keeps waiting, well past lease + poll interval, for as long as the first runs.
    await pause(1_200);
    release();
    expect(await within(Promise.all([p1, p2]), 'both answered')).toEqual(['A', 'A']);
    expect(runs).toEqual(['A']);
  });

  it('lets listen() be retried after Redis was unreachable at start', async () => {
    const pfx = prefix();
    const proxy = await createChaosProxy(Number(new URL(REDIS_URL).port || 6379));
    scope.track(proxy);
    proxy.pause();
    const engine = redisEngine({ url: `redis://127.0.0.1:${proxy.port}`, prefix: pfx, logger: silentLogger });
    scope.track(engine);
    const server = scope.track(createServer({ host: '127.0.0.1', logger: silentLogger, engine }));
    await expect(server.listen()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    proxy.resume();
    await expect(within(server.listen(), 'second listen', 8_000)).resolves.toMatchObject({ port: expect.any(Number) });
    expect(engine.health!().healthy).toBe(true);
  });
});
