import { createServer as createNet } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ServerError } from '../src/server/index.js';
import { createTestScope, recordingLogger, silentTcpServer, until, within } from './helpers.js';

const scope = createTestScope();

async function setup() {
  const logger = recordingLogger();
  let release: (() => void) | undefined;
  const { server, url, port } = await scope.server({ logger }, (s) => {
    s.command('add', ({ a, b }: { a: number; b: number }) => a + b)
      .command('echo', async (input: unknown) => input)
      .command('fail', () => {
        throw new ServerError('INSUFFICIENT_FUNDS', 'Balance too low', { balance: 3 });
      })
      .command('crash', () => {
        throw new Error('db password is hunter2');
      })
      .command('hang', () => new Promise<void>((r) => (release = r)))
      .command('whoami', (_i: undefined, ctx) => ctx.clientId);
  });
  return { server, url, port, logger, release: () => release?.() };
}

describe('client.call', () => {
  it('resolves results, including after awaiting in the handler', async () => {
    const { url } = await setup();
    const c = scope.client(url);
    expect(await c.call('add', { a: 2, b: 3 })).toBe(5);
    expect(await c.call('echo', { deep: [1, { x: 'é' }] })).toEqual({ deep: [1, { x: 'é' }] });
    expect(await c.call('whoami')).toBe(c.clientId);
  });

  it('rejects with NOT_FOUND, the ServerError code, or INTERNAL without internal text', async () => {
    const { url, logger } = await setup();
    const c = scope.client(url);
    await expect(c.call('missing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(c.call('fail')).rejects.toMatchObject({
      code: 'INSUFFICIENT_FUNDS',
      message: 'Balance too low',
      details: { balance: 3 },
    });
    const err = (await c.call('crash').catch((e: unknown) => e)) as Error & { code: string };
    expect(err.code).toBe('INTERNAL');
    expect(err.message).not.toContain('hunter2');
    expect(logger.lines.some((l) => l.level === 'error' && String((l.obj as { err?: Error }).err?.message).includes('hunter2'))).toBe(true);
  });

  it('queues calls made while connecting and sends them on open', async () => {
    const { url } = await setup();
    const c = scope.client(url);
    expect(c.state).toBe('connecting');
    const results = await Promise.all([c.call('add', { a: 1, b: 1 }), c.call('add', { a: 2, b: 2 })]);
    expect(results).toEqual([2, 4]);
    expect(c.state).toBe('open');
  });

  it('rejects at once with QUEUE_FULL when the offline queue is full, and never grows it', async () => {
    // A port with no listener: the client stays in connecting/reconnecting.
    const net = createNet();
    await new Promise<void>((r) => net.listen(0, '127.0.0.1', r));
    const port = (net.address() as { port: number }).port;
    await new Promise<void>((r) => net.close(() => r()));
    const c = scope.client(`ws://127.0.0.1:${port}/ws`, { maxQueue: 2, reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
    const a = c.call('x', undefined, { timeoutMs: 2_000 });
    const b = c.call('x', undefined, { timeoutMs: 2_000 });
    await expect(c.call('x')).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    c.close();
    await expect(a).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(b).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('counts timeoutMs from the call, queued time included', async () => {
    const { port, stop } = await silentTcpServer();
    scope.defer(stop);
    const c = scope.client(`ws://127.0.0.1:${port}/ws`);
    await expect(c.call('x', undefined, { timeoutMs: 150 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(c.state).not.toBe('open');
  });

  it('cancels a queued call with its AbortSignal (ABORTED) and the call is never sent', async () => {
    const { url, server } = await setup();
    let calls = 0;
    server.command('count', () => ++calls);
    const c = scope.client(url);
    const ac = new AbortController();
    const p = c.call('count', undefined, { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'ABORTED' });
    expect(await c.call('count')).toBe(1); // the aborted one never ran
    const pre = new AbortController();
    pre.abort();
    await expect(c.call('count', undefined, { signal: pre.signal })).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('rejects an in-flight call with DISCONNECTED when the connection drops', async () => {
    const { url, server } = await setup();
    const c = scope.client(url, { reconnect: false });
    await c.call('add', { a: 0, b: 0 });
    const p = c.call('hang');
    await until(() => server.connections === 1, 'connection');
    const closing = server.close();
    await expect(p).rejects.toMatchObject({ code: 'DISCONNECTED' });
    await closing;
  });

  it('refuses a request larger than the server maxPayload locally with PAYLOAD_TOO_LARGE and stays open', async () => {
    const { url } = await scope.server({ limits: { maxPayload: 1024 } }, (s) => s.command('echo', (i: unknown) => i));
    const c = scope.client(url);
    expect(await c.call('echo', 'x'.repeat(900))).toHaveLength(900);
    await expect(c.call('echo', 'é'.repeat(600))).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    expect(c.state).toBe('open');
    expect(await c.call('echo', 1)).toBe(1);
  });

  it('takes an option given as undefined as its default (numeric options included, nested ones too)', async () => {
    const { url } = await setup();
    const c = scope.client(url, {
      timeoutMs: undefined,
      connectTimeoutMs: undefined,
      maxQueue: undefined,
      reconnect: { initialDelayMs: undefined, maxDelayMs: undefined, maxAttempts: undefined, stableAfterMs: undefined },
      heartbeat: { intervalMs: undefined, timeoutMs: undefined },
      codec: undefined,
      tokenIn: undefined,
    });
    expect(await within(c.call('add', { a: 2, b: 3 }), 'call with every option undefined')).toBe(5);
    expect(c.state).toBe('open');
  });

  it('takes a timeout of Infinity, or longer than a timer holds, as no deadline (a timer would fire at once)', async () => {
    const { url, release } = await setup();
    const c = scope.client(url, { timeoutMs: Infinity });
    // Started while connecting: waits for the connection without a deadline.
    const pending = c.call('hang', undefined, { timeoutMs: 3e9 });
    const sum = c.call('add', { a: 1, b: 1 });
    expect(await sum).toBe(2);
    await new Promise((r) => setTimeout(r, 50));
    let settled = false;
    void pending.finally(() => (settled = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    release();
    await expect(pending).resolves.toBeUndefined();
  });

  it('rejects calls after close() with CLOSED and reports state closed', async () => {
    const { url } = await setup();
    const c = scope.client(url);
    await c.call('add', { a: 1, b: 2 });
    const closed = new Promise((r) => c.on('close', r));
    c.close();
    expect(c.state).toBe('closed');
    expect(await within(closed, 'close event')).toMatchObject({ code: 1000, willReconnect: false });
    await expect(c.call('add', { a: 1, b: 2 })).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('close() refuses a code or reason the WebSocket protocol does not allow, and stays open', async () => {
    const { url } = await setup();
    const c = scope.client(url);
    await c.call('add', { a: 1, b: 2 });
    for (const code of [1001, 1006, 2999, 5000, 3000.5]) expect(() => c.close(code), String(code)).toThrow(/close code must be 1000 or an integer in 3000-4999/);
    expect(() => c.close(4000, 'x'.repeat(124))).toThrow(/at most 123 bytes/);
    expect(c.state).toBe('open');
    expect(await c.call('add', { a: 2, b: 2 })).toBe(4);
    const closed = new Promise((r) => c.on('close', r));
    c.close(4000, 'moving on');
    expect(await within(closed, 'close event')).toMatchObject({ code: 4000, willReconnect: false });
  });
});
