/**
 * Draining a node (docs/server.md, "Draining"): new upgrades refused 503, readiness 503, each
 * connection closed with MOVED (4002) once nothing of it is in flight — a running call is answered
 * first, a live stream ends first — and cut at the deadline otherwise; the client reconnects at
 * once, to the next URL it has. `drainOnSignals` in a child process: SIGTERM drains and exits 0,
 * a second SIGTERM ends the process at once.
 */
import { describe, expect, it } from 'vitest';
import { CloseCode, type ClientEvents } from '../src/client/node.js';
import { drainOnSignals, type Server } from '../src/server/index.js';
import { createTestScope, guardUnhandledRejections, handshakeStatus, until, within } from './helpers.js';
import { RUNTIMES, runtimeServer } from './runtime-server.js';

guardUnhandledRejections();
const scope = createTestScope();

/** A call that answers when the test says so, and a stream that ends when the test says so. */
function gated(server: Server) {
  const gates: { release: () => void }[] = [];
  const gate = () => new Promise<void>((resolve) => gates.push({ release: resolve }));
  server
    .command('where', () => 'A')
    .command('slow', async () => {
      await gate();
      return 'finished';
    })
    .stream('ticks', async function* () {
      yield 1;
      await gate();
      yield 2;
    });
  return { releaseAll: () => gates.splice(0).forEach((g) => g.release()), pending: () => gates.length };
}

/** The close and reconnecting events of a client. */
function watch(c: { on<K extends keyof ClientEvents>(e: K, cb: (a: ClientEvents[K]) => void): () => void }) {
  const closes: ClientEvents['close'][] = [];
  const delays: number[] = [];
  c.on('close', (e) => closes.push(e));
  c.on('reconnecting', (e) => delays.push(e.delayMs));
  return { closes, delays };
}

describe('server.drain()', () => {
  it('moves an idle connection at once with MOVED; the client reconnects within the first attempt\'s jitter to the next URL', async () => {
    const a = await scope.server({ health: true }, (s) => void s.command('where', () => 'A'));
    const b = await scope.server({}, (s) => void s.command('where', () => 'B'));
    const c = scope.client([a.url, b.url]);
    const w = watch(c);
    expect(await c.call('where')).toBe('A');
    const report = await within(a.server.drain({ timeoutMs: 5_000 }), 'the drain');
    expect(report).toMatchObject({ moved: 1, cut: 0 });
    expect(w.closes[0]).toMatchObject({ code: CloseCode.MOVED, reason: 'server draining', willReconnect: true });
    // A random delay below initialDelayMs (500 ms), never a grown backoff: the clients of a drained node spread.
    expect(w.delays).toHaveLength(1);
    expect(w.delays[0]).toBeLessThan(500);
    expect(await c.call('where')).toBe('B');
  });

  it('waits for a running call and a live stream: answered, ended, then moved; meanwhile upgrades get 503 and readiness 503', async () => {
    const a = await scope.server({ health: true });
    const gates = gated(a.server);
    const b = await scope.server({}, (s) => void s.command('where', () => 'B'));
    const caller = scope.client([a.url, b.url]);
    const streamer = scope.client([a.url, b.url]);
    const wc = watch(caller);
    const call = caller.call('slow');
    const ticks: unknown[] = [];
    const reading = (async () => {
      for await (const t of streamer.stream('ticks')) ticks.push(t);
    })();
    await until(() => gates.pending() === 2 && ticks.length === 1, 'the call and the stream running');
    expect(a.server.health().inFlight).toBe(2);
    const drained = a.server.drain({ timeoutMs: 10_000 });
    // Refused while draining, with a body that says where to go; readiness says why.
    expect(await handshakeStatus(a.url)).toBe(503);
    const ready = await fetch(`http://127.0.0.1:${a.port}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'unavailable', reasons: ['draining'], draining: true, inFlight: 2 });
    expect(wc.closes).toEqual([]);
    gates.releaseAll();
    expect(await within(call, 'the call answered before the move')).toBe('finished');
    await within(reading, 'the stream ended before the move');
    expect(ticks).toEqual([1, 2]);
    expect(await within(drained, 'the drain')).toMatchObject({ moved: 2, cut: 0 });
    expect(wc.closes[0]).toMatchObject({ code: CloseCode.MOVED, willReconnect: true });
    expect(await caller.call('where')).toBe('B');
  });

  it('cuts what is still in flight at the deadline (DISCONNECTED for the caller), then closes; drain() again is the same promise', async () => {
    const a = await scope.server();
    gated(a.server);
    const c = scope.client(a.url, { reconnect: false });
    c.on('error', () => {}); // CONNECTION_FAILED once closed: expected here
    const call = c.call('slow').catch((err: unknown) => err);
    await until(() => a.server.health().inFlight === 1, 'the call running');
    const drained = a.server.drain({ timeoutMs: 100 });
    expect(a.server.drain()).toBe(drained);
    expect(await within(drained, 'the drain')).toMatchObject({ moved: 0, cut: 1 });
    expect(await call).toMatchObject({ code: 'DISCONNECTED' });
    expect(a.server.health()).toMatchObject({ closing: true, draining: true, connections: 0 });
  });

  it('close() during a drain ends it: the rest are closed with GOING_AWAY', async () => {
    const a = await scope.server();
    gated(a.server);
    const c = scope.client(a.url, { reconnect: false });
    c.on('error', () => {}); // CONNECTION_FAILED once closed: expected here
    const w = watch(c);
    void c.call('slow').catch(() => {});
    await until(() => a.server.health().inFlight === 1, 'the call running');
    const drained = a.server.drain({ timeoutMs: 60_000 });
    await a.server.close();
    expect(await within(drained, 'the drain')).toMatchObject({ moved: 0, cut: 0 });
    expect(w.closes[0]).toMatchObject({ code: CloseCode.GOING_AWAY });
  });

  it('checks its options', () => {
    const server = { drain: () => Promise.resolve({ moved: 0, cut: 0, durationMs: 0 }) };
    expect(() => drainOnSignals(server, { signals: [] })).toThrow('signals must be a non-empty list of signal names');
    expect(() => drainOnSignals(server, { timeoutMs: -1 })).toThrow(/timeoutMs must be a non-negative number/);
    expect(() => drainOnSignals(server, { timeout: 5_000 } as never)).toThrow(new TypeError('timeout is not an option (signals, timeoutMs, beforeExit, exit, logger)'));
  });

  it('server.drain() refuses a key that is not an option, before draining anything', async () => {
    const a = await scope.server({});
    expect(() => a.server.drain({ timeout: 5_000 } as never)).toThrow(new TypeError('drain.timeout is not an option (timeoutMs)'));
    expect(a.server.health().draining).toBe(false);
  });
});

describe('drainOnSignals (child process)', () => {
  const node = RUNTIMES.find((r) => r.name === 'node')!;

  it('SIGTERM drains (an idle client moves with MOVED) and exits 0', async () => {
    const child = await runtimeServer(scope, node, { drain: { timeoutMs: 5_000 } });
    const c = scope.client(child.url);
    const w = watch(c);
    expect(await c.call('pid')).toBe(child.pid);
    process.kill(child.pid, 'SIGTERM');
    expect(await within(child.exited, 'the drained process to exit')).toBe(0);
    expect(w.closes[0]).toMatchObject({ code: CloseCode.MOVED, reason: 'server draining' });
  });

  it('a second SIGTERM during the drain ends the process at once', async () => {
    const child = await runtimeServer(scope, node, { drain: { timeoutMs: 30_000 }, health: true });
    const c = scope.client(child.url, { reconnect: false });
    c.on('error', () => {}); // the process ends under it: expected here
    void c.call('sleep', 30_000).catch(() => {});
    expect(await c.call('echo', 'running')).toBe('running');
    process.kill(child.pid, 'SIGTERM');
    // The first signal started the drain (readiness says so), which waits for the 30 s call.
    const draining = async () => ((await (await fetch(`http://127.0.0.1:${child.port}/readyz`)).json()) as { draining: boolean }).draining;
    await within(
      (async () => {
        while (!(await draining())) await new Promise((r) => setTimeout(r, 10));
      })(),
      'the child to start draining',
    );
    process.kill(child.pid, 'SIGTERM');
    expect(await within(child.exited, 'the process to end', 5_000)).toBe('SIGTERM');
  });
});
