/**
 * The limits of docs/security.md against a server process on every runtime of
 * test/runtime-server.ts: payload size, compression off by default, the request rate, connection
 * counts in all and per address, the handshake deadline (slowloris), per-connection subscriptions
 * and pending calls, and slow consumers. Each abuse has a well-behaved bystander beside it whose
 * calls must keep working. What needs the server's insides (memory, logs) stays in
 * test/security-limits.test.ts.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestScope, handshakeStatus, until, within, type RawPeer } from './helpers.js';
import { RUNTIMES, runtimeServer, sharedRuntimeServer, warnSkippedRuntimes } from './runtime-server.js';

warnSkippedRuntimes('test/runtime-security-limits.test.ts');
const scope = createTestScope();
const MiB = 1024 * 1024;

async function ready(url: string, opts?: WebSocket.ClientOptions, protocols?: string[]): Promise<RawPeer> {
  return scope.peer(url, protocols, opts).ready();
}
/** A well-behaved peer whose `check()` makes one echo call that must succeed. */
async function bystander(url: string) {
  const p = await ready(url);
  let id = 0;
  return {
    async check(): Promise<void> {
      const n = ++id;
      expect(await p.request({ t: 'call', id: n, name: 'echo', input: n })).toEqual({ t: 'ok', id: n, output: n });
    },
  };
}

/**
 * Publishes `n` messages of 64 KiB on `topic` in batches of 8 (512 KiB), each once the good
 * subscriber has the one before: the good one never holds more than a batch (< sendBufferBytes)
 * outstanding, so only the peer that stopped reading can pass the bound.
 */
async function publishPaced(control: { call(name: string, input: unknown): Promise<unknown> }, topic: string, n: number, good: { seqs: number[] }) {
  for (let from = 0; from < n; from += 8) {
    await control.call('burst', { topic, from, n: 8, size: 64 * 1024 });
    await until(() => good.seqs.at(-1)! >= from + 7, `the good subscriber to receive batch ${from / 8}`);
  }
}

/** A subscriber that keeps only the sequence numbers of the fixture's `burst` messages, and whose socket can be paused. */
async function seqPeer(url: string, topic: string) {
  const ws = new WebSocket(url, ['switchboard.v1.json']);
  scope.defer(() => ws.terminate());
  const state = { seqs: [] as number[], markers: 0, closeCode: undefined as number | undefined, subscribed: false, socket: undefined as Socket | undefined, ws };
  ws.once('upgrade', (res) => (state.socket = res.socket as Socket));
  ws.on('message', (data) => {
    const f = JSON.parse(data.toString()) as Record<string, unknown>;
    if (f.t === 'welcome') ws.send(JSON.stringify({ t: 'sub', id: 1, topic }));
    else if (f.t === 'ok' && f.id === 1) state.subscribed = true;
    else if (f.t === 'msg' && typeof f.data === 'number') state.markers++;
    else if (f.t === 'msg') state.seqs.push((f.data as { seq: number }).seq);
  });
  ws.on('close', (code) => (state.closeCode = code));
  ws.on('error', () => {});
  await until(() => state.subscribed, `subscribed to ${topic}`);
  return state;
}

describe.each(RUNTIMES)('security limits on $name', (runtime) => {
  describe.skipIf(runtime.skip !== undefined)(runtime.skip ? `skipped: ${runtime.skip}` : 'against a server process', () => {
    const shared = sharedRuntimeServer(runtime);

    it('limits.maxPayload is 1 MiB by default: one byte more closes with 1009, and only that connection', async () => {
      const by = await bystander(shared().url);
      const frame = (n: number) => {
        const base = JSON.stringify({ t: 'call', id: 1, name: 'echo', input: '' });
        return JSON.stringify({ t: 'call', id: 1, name: 'echo', input: 'a'.repeat(n - base.length) });
      };
      const at = await ready(shared().url);
      at.send(frame(MiB));
      expect(await at.answer(1)).toMatchObject({ t: 'ok' });
      const over = await ready(shared().url);
      over.send(frame(MiB + 1));
      expect(await over.closed()).toBe(1009);
      await by.check();
    });

    it('compression is off by default: an offered permessage-deflate is not negotiated', async () => {
      const ws = new WebSocket(shared().url, ['switchboard.v1.json'], { perMessageDeflate: true });
      scope.defer(() => ws.terminate());
      ws.on('error', () => {});
      await within(once(ws, 'open'), 'open');
      expect(ws.extensions).toBe('');
    });

    it('limits.rate: a burst gets ok, then RATE_LIMITED with retryAfterMs, then 1008; a paced connection beside it keeps working', async () => {
      const { url } = await runtimeServer(scope, runtime, { limits: { rate: { perSecond: 10, burst: 20 } } });
      const by = await bystander(url);
      const flood = await ready(url);
      for (let id = 1; id <= 200 && flood.ws.readyState === WebSocket.OPEN; id++) flood.send({ t: 'call', id, name: 'echo', input: id });
      expect(await flood.closed()).toBe(1008);
      const answers = flood.frames.filter((f) => f.t === 'ok' || f.t === 'err');
      const ok = answers.filter((f) => f.t === 'ok').length;
      const limited = answers.filter((f) => f.code === 'RATE_LIMITED');
      expect(ok).toBeGreaterThanOrEqual(20);
      expect(ok).toBeLessThan(40);
      expect(limited.length).toBeGreaterThan(0);
      expect(limited[0]).toMatchObject({ details: { retryAfterMs: expect.any(Number) } });
      await by.check();
    });

    it('limits.maxConnections (503) and limits.maxConnectionsPerIp (429) refuse the one too many, and a freed slot lets one in again', async () => {
      const { url } = await runtimeServer(scope, runtime, { limits: { maxConnections: 3, maxConnectionsPerIp: 2 } });
      const a = await ready(url);
      await ready(url);
      expect(await handshakeStatus(url)).toBe(429);
      const c = await ready(url, { localAddress: '127.0.0.2' });
      expect(await handshakeStatus(url, { localAddress: '127.0.0.3' })).toBe(503);
      a.ws.close();
      await a.closed();
      // Nothing on the wire says when the server has freed the slot: retry, bounded.
      let status = 0;
      const deadline = Date.now() + 5_000;
      while ((status = await handshakeStatus(url)) !== 101) {
        if (Date.now() > deadline) throw new Error(`the freed slot was never reused (last status ${status})`);
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(await c.request({ t: 'call', id: 1, name: 'echo', input: 1 })).toEqual({ t: 'ok', id: 1, output: 1 });
    });

    it('slowloris sockets (silent, half a request, a byte at a time) are closed without taking slots: on Node by limits.handshakeTimeoutMs with 408', async () => {
      const timeout = 300;
      const { url, port } = await runtimeServer(scope, runtime, { limits: { handshakeTimeoutMs: timeout, maxConnectionsPerIp: 2 } });
      const by = await bystander(url);
      if (runtime.name === 'bun') {
        // Bun.serve gives no hook before a request is parsed: its own HTTP idle timer (about 10-12 s,
        // whatever `idleTimeout` says) ends silent and half-sent requests, without a 408, and a
        // request dripped a byte at a time re-arms it (docs/server.md, "Running on Bun").
        const silent = await scope.tcp(port);
        const half = await scope.tcp(port);
        half.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upg`);
        const other = await bystander(url); // neither holds an admission slot
        await within(Promise.all([once(silent, 'close'), once(half, 'close')]), 'Bun to close both sockets', 15_000);
        await by.check();
        await other.check();
        return;
      }
      const peers = await scope.slowloris(port, '/ws');
      const other = await bystander(url); // the three hold no admission slot
      for (const { text, ms } of await peers.closed()) {
        expect(text).toMatch(/^HTTP\/1\.1 408 /);
        expect(ms).toBeGreaterThanOrEqual(timeout - 20);
        expect(ms).toBeLessThan(3_000);
      }
      await by.check();
      await other.check();
    }, 20_000);

    it('maxSubscriptionsPerConnection and maxPendingCalls refuse the one too many with LIMIT_EXCEEDED, and free their place', async () => {
      const { url } = await runtimeServer(scope, runtime, { limits: { maxSubscriptionsPerConnection: 3, maxPendingCalls: 2 } });
      const p = await ready(url);
      for (let i = 1; i <= 3; i++) expect(await p.request({ t: 'sub', id: i, topic: `room:${i}` })).toMatchObject({ t: 'ok' });
      expect(await p.request({ t: 'sub', id: 4, topic: 'room:4' })).toMatchObject({ t: 'err', code: 'LIMIT_EXCEEDED' });
      expect(await p.request({ t: 'sub', id: 5, topic: 'room:1' })).toMatchObject({ t: 'ok' });
      expect(await p.request({ t: 'unsub', id: 6, topic: 'room:1' })).toMatchObject({ t: 'ok' });
      expect(await p.request({ t: 'sub', id: 7, topic: 'room:4' })).toMatchObject({ t: 'ok' });
      p.send({ t: 'call', id: 10, name: 'sleep', input: 300 });
      p.send({ t: 'call', id: 11, name: 'sleep', input: 300 });
      expect(await p.request({ t: 'call', id: 12, name: 'echo', input: 1 })).toMatchObject({ t: 'err', code: 'LIMIT_EXCEEDED' });
      await p.answer(10);
      await p.answer(11);
      expect(await p.request({ t: 'call', id: 13, name: 'echo', input: 1 })).toEqual({ t: 'ok', id: 13, output: 1 });
    });

    it('a subscriber that stops reading is disconnected (4001, or 1006 behind its backlog); everyone else gets everything in order', async () => {
      const { url } = await runtimeServer(scope, runtime, { limits: { sendBufferBytes: MiB, slowConsumerGraceMs: 500 } });
      const control = scope.client(url);
      const slow = await seqPeer(url, 'chaos:slow');
      const good = await seqPeer(url, 'chaos:slow');
      slow.socket!.pause();
      const n = 160; // 160 × 64 KiB = 10 MiB, past the hard cap of 4 × sendBufferBytes
      await publishPaced(control, 'chaos:slow', n, good);
      expect(good.seqs).toEqual(Array.from({ length: n }, (_, i) => i));
      // control, good (and slow until it is cut)
      const deadline = Date.now() + 10_000;
      while (((await control.call('connections')) as number) !== 2) {
        if (Date.now() > deadline) throw new Error('the slow consumer was never disconnected');
        await new Promise((r) => setTimeout(r, 20));
      }
      slow.socket!.resume();
      await until(() => slow.closeCode !== undefined, 'the slow peer to observe the close');
      expect([4001, 1006]).toContain(slow.closeCode);
      expect(slow.seqs.length).toBeLessThan(n);
      expect(slow.seqs).toEqual(Array.from({ length: slow.seqs.length }, (_, i) => i));
      expect(good.closeCode).toBeUndefined();
    });

    it('on a volatile topic the slow subscriber is not disconnected, only misses messages', async () => {
      const { url } = await runtimeServer(scope, runtime, { limits: { sendBufferBytes: MiB, slowConsumerGraceMs: 500 } });
      const control = scope.client(url);
      const slow = await seqPeer(url, 'vol:x');
      const good = await seqPeer(url, 'vol:x');
      slow.socket!.pause();
      const n = 160;
      await publishPaced(control, 'vol:x', n, good);
      expect(good.seqs).toEqual(Array.from({ length: n }, (_, i) => i));
      slow.socket!.resume();
      // Once it reads again, new messages reach it: publish markers (volatile too, so they may be
      // dropped while its backlog drains) until one arrives. Bounded in count and time.
      for (let i = 0; slow.markers === 0; i++) {
        if (i === 200) throw new Error('no marker reached the resumed subscriber');
        await control.call('publish', { topic: 'vol:x', from: 1, to: 1 });
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(slow.seqs.length).toBeLessThan(n);
      expect(slow.seqs.every((s, i) => i === 0 || s > slow.seqs[i - 1]!)).toBe(true);
      expect(slow.closeCode).toBeUndefined();
      expect(await control.call('connections')).toBe(3);
    });
  });
});
