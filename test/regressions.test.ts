/**
 * Regressions found by review after the first suites were written: each test reproduces one
 * defect that the matching fix removed.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryEngine, createServer, silentLogger, type Engine } from '../src/server/index.js';
import { createTestScope, guardUnhandledRejections, until, within } from './helpers.js';

guardUnhandledRejections();
const scope = createTestScope();

describe('server streams', () => {
  it('an unencodable item in a batched stream fails that stream with INTERNAL, not the process', async () => {
    const { url } = await scope.server({}, (s) =>
      s
        .stream('bad', { batch: { maxItems: 10, maxDelayMs: 5 } }, async function* () {
          yield { n: 1n };
          await new Promise((r) => setTimeout(r, 100));
        })
        .command('ping', () => 'pong'),
    );
    const c = scope.client(url);
    const it = c.stream('bad');
    await expect(within(it.next(), 'stream to fail')).rejects.toMatchObject({ code: 'INTERNAL' });
    expect(await c.call('ping')).toBe('pong');
  });

  it('a synchronous producer with a huge credit does not block the event loop, and stops when its peer is gone', async () => {
    let produced = 0;
    let finished = false;
    const { url } = await scope.server({ limits: { sendBufferBytes: 256 * 1024 } }, (s) =>
      s
        .stream('flood', function* () {
          try {
            for (;;) {
              produced++;
              yield 'x'.repeat(100);
            }
          } finally {
            finished = true;
          }
        })
        .command('ping', () => 'pong'),
    );
    const bystander = scope.client(url);
    await bystander.call('ping');
    const greedy = await scope.peer(url).ready();
    // Stop reading, then grant everything.
    (greedy.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    greedy.send({ t: 'stream', id: 1, name: 'flood', credit: 2 ** 31 - 1 });
    // The bystander is still served while the producer runs.
    const started = Date.now();
    expect(await within(bystander.call('ping'), 'bystander call during the flood', 2_000)).toBe('pong');
    expect(Date.now() - started).toBeLessThan(2_000);
    // The greedy peer is dropped as a slow consumer and the generator is closed.
    await until(() => finished, 'generator finally after the peer is gone', 10_000);
    const total = produced;
    expect(await bystander.call('ping')).toBe('pong');
    expect(produced).toBe(total); // nothing pulled after the stop
  });
});

describe('client', () => {
  it('a queued request that cannot be encoded fails alone; the rest of the queue and open still happen', async () => {
    const { url } = await scope.server({}, (s) => s.command('echo', (x: unknown) => x));
    const c = scope.client(url);
    const opened = new Promise((r) => c.on('open', r));
    const bad = c.call('echo', { n: 1n });
    const good = c.call('echo', 'fine');
    await expect(bad).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    expect(await good).toBe('fine');
    await within(opened, 'open event');
  });

  it('stream() then close() in the same tick rejects the iterator with CLOSED', async () => {
    const { url } = await scope.server({}, (s) => s.stream('s', async function* () { yield 1; }));
    const c = scope.client(url);
    await until(() => c.state === 'open', 'open');
    const it = c.stream('s');
    c.close();
    await expect(within(it.next(), 'iterator to settle')).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('an upload that times out cancels its server handler and frees its pending slot', async () => {
    let aborted = 0;
    const { url } = await scope.server({ limits: { maxPendingCalls: 2 } }, (s) =>
      s
        .upload('slow', async (_i, items: AsyncIterable<unknown>, ctx) => {
          ctx.signal.addEventListener('abort', () => aborted++);
          for await (const _ of items) void _;
          return 'done';
        })
        .command('ping', () => 'pong'),
    );
    const c = scope.client(url);
    const never = async function* () {
      await new Promise(() => {});
      yield 1;
    };
    await expect(c.upload('slow', never(), { timeoutMs: 100 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await expect(c.upload('slow', never(), { timeoutMs: 100 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    await until(() => aborted === 2, 'both server handlers aborted');
    expect(await c.call('ping')).toBe('pong');
  });
});

describe('server lifecycle and engines', () => {
  it('close() during listen() leaves nothing listening', async () => {
    const server = createServer({ host: '127.0.0.1', logger: silentLogger });
    const listening = server.listen();
    await server.close();
    await expect(listening).rejects.toThrow(/closed/);
  });

  it('a connection that closes during an async engine call leaves no ghost presence member', async () => {
    const memory = createMemoryEngine();
    let inFlight = 0;
    const slow = <A extends unknown[], R>(f: (...a: A) => R) => async (...a: A): Promise<Awaited<R>> => {
      inFlight++;
      try {
        await new Promise((r) => setTimeout(r, 50));
        return await f(...a);
      } finally {
        inFlight--;
      }
    };
    const engine: Engine = {
      ...memory,
      attach: (n) => memory.attach(n),
      publish: (t, e) => memory.publish(t, e),
      subscribe: slow((t: string) => memory.subscribe(t)),
      unsubscribe: (t) => memory.unsubscribe(t),
      presenceAdd: slow((e: Parameters<Engine['presenceAdd']>[0]) => memory.presenceAdd(e)),
      presenceRemove: (e) => memory.presenceRemove(e),
      presenceList: (t) => memory.presenceList(t),
      close: () => memory.close(),
    };
    const { url, server } = await scope.server({ engine, authenticate: (_r, t) => t ?? null }, (s) =>
      s.topic('room', { subscribe: true, presence: true }),
    );
    const p = await scope.peer(url, ['switchboard.v1.json', 'switchboard.auth.Z2hvc3Q']).ready();
    p.send({ t: 'sub', id: 1, topic: 'room' });
    setTimeout(() => p.ws.terminate(), 20);
    await until(() => server.connections === 0, 'connection gone');
    // Once the slow engine calls are done, nobody may be present.
    await until(() => inFlight === 0, 'slow engine calls to finish');
    await new Promise((r) => setImmediate(r));
    expect(await server.presence('room')).toEqual([]);
  });
});
