/**
 * Adversarial tests of the server's limits (src/server/options.ts `LimitOptions`, docs/security.md,
 * docs/protocol.md §1.2, §4, §5): oversize and compressed messages, rate-limit floods, connection
 * floods, slowloris, per-connection limits and slow consumers. Everything runs on real sockets on
 * 127.0.0.1 (raw TCP where a well-behaved client library would refuse to misbehave), and every test
 * keeps a well-behaved bystander beside the abuse whose calls must keep working.
 * SB_FIGURES=1 prints the measured figures (latency, memory) the assertions bound.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { setImmediate as nextTurn, setTimeout as delay } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { constants as zlib, deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { encodeTokenProtocol } from '../src/protocol/subprotocol.js';
import type { Server, ServerOptions } from '../src/server/index.js';
import { createTestScope, RawPeer, handshakeStatus, recordingLogger, until, within, guardUnhandledRejections } from './helpers.js';

const V1 = 'switchboard.v1.json';
const MiB = 1_048_576;

guardUnhandledRejections();
const scope = createTestScope();

/** Starts a server that always has an `echo` command (the bystander's), plus the test's setup. */
async function start<I>(options: ServerOptions<I> = {}, setup?: (s: Server<I>) => void) {
  return scope.server<I>(options, (s) => {
    s.command('echo', (x) => x);
    setup?.(s);
  });
}

function peer(url: string, opts?: WebSocket.ClientOptions, protocols: string[] = [V1]): RawPeer {
  return scope.peer(url, protocols, opts);
}

const ready = (url: string, opts?: WebSocket.ClientOptions, protocols?: string[]) => peer(url, opts, protocols).ready();

/**
 * A well-behaved client kept beside the abuse. `check()` makes one call and asserts its exact
 * answer: the abuse of others must never cost it an answer.
 */
async function bystander(url: string, opts?: WebSocket.ClientOptions, protocols?: string[]) {
  const p = await ready(url, opts, protocols);
  let id = 0;
  return {
    peer: p,
    checks: () => id,
    async check(): Promise<void> {
      const n = ++id;
      expect(await p.request({ t: 'call', id: n, name: 'echo', input: n })).toEqual({ t: 'ok', id: n, output: n });
    },
  };
}

/** Prints a measured figure when SB_FIGURES is set (for reports; tests assert bounds, not figures). */
const figure = (name: string, value: unknown) => void (process.env.SB_FIGURES && console.log(`[figure] ${name}: ${JSON.stringify(value)}`));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * `gc()` without `--expose-gc` on the command line (vitest's config is not ours to change): V8
 * accepts the flag at run time and a fresh context then exposes `gc`.
 */
const gc: () => void = (() => {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
})();

/**
 * The server runs in this process, so its memory is the process's: V8 heap plus `external`
 * (Buffers and zlib output live outside the V8 heap, so heapUsed alone would miss a buffered
 * backlog). Taken after two full collections so garbage does not count as growth.
 */
function settledMemory(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** Samples heap + external every few ms (no gc) and keeps the peak, for growth that is freed again. */
function peakSampler() {
  let peak = 0;
  const sample = () => {
    const m = process.memoryUsage();
    peak = Math.max(peak, m.heapUsed + m.external);
  };
  sample();
  const timer = setInterval(sample, 2);
  return {
    stop(): number {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Raw TCP WebSocket plumbing, for what the `ws` client will not do (pre-compressed frames, RSV1
// without negotiation) and for floods of upgrades that must not allocate a client each.

interface RawUpgrade {
  socket: Socket;
  status: number;
  headers: Record<string, string>;
  /** Bytes received after the response head (the first frames, or a refusal's body). */
  rest: Buffer;
}

/** Sends a WebSocket upgrade request on a raw TCP socket and resolves the response head. */
function rawUpgrade(port: number, o: { localAddress?: string; headers?: string[]; key?: string; protocols?: string[] } = {}): Promise<RawUpgrade> {
  const socket = connect({ port, host: '127.0.0.1', ...(o.localAddress ? { localAddress: o.localAddress } : {}) });
  scope.defer(() => socket.destroy());
  socket.on('error', () => {});
  socket.write(
    [
      'GET /ws HTTP/1.1',
      `Host: 127.0.0.1:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${o.key ?? randomBytes(16).toString('base64')}`,
      'Sec-WebSocket-Version: 13',
      `Sec-WebSocket-Protocol: ${(o.protocols ?? [V1]).join(', ')}`,
      ...(o.headers ?? []),
    ].join('\r\n') + '\r\n\r\n',
  );
  let buf = Buffer.alloc(0);
  return within(
    new Promise<RawUpgrade>((resolve, reject) => {
      const onData = (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        socket.off('close', onClose);
        socket.pause();
        const [statusLine, ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
        const headers: Record<string, string> = {};
        for (const l of lines) {
          const i = l.indexOf(':');
          headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
        }
        resolve({ socket, status: Number(statusLine!.split(' ')[1]), headers, rest: buf.subarray(end + 4) });
      };
      const onClose = () => reject(new Error(`socket closed before a response head: ${JSON.stringify(buf.toString('latin1'))}`));
      socket.on('data', onData);
      socket.once('close', onClose);
    }),
    'upgrade response head',
  );
}

/** A client frame (masked, RFC 6455 §5.2), optionally with RSV1 (permessage-deflate, RFC 7692 §6). */
function clientFrame(opcode: number, payload: Buffer, rsv1 = false): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.alloc(2) : len < 65_536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x80 | (rsv1 ? 0x40 : 0) | opcode;
  if (len < 126) head[1] = 0x80 | len;
  else if (len < 65_536) {
    head[1] = 0x80 | 126;
    head.writeUInt16BE(len, 2);
  } else {
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  const mask = randomBytes(4);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([head, mask, body]);
}

/** Reads the server's (unmasked) frames from an upgraded raw socket. */
class RawFrames {
  readonly frames: { opcode: number; rsv1: boolean; payload: Buffer }[] = [];
  closed = false;
  #buf: Buffer;

  constructor(readonly socket: Socket, rest: Buffer) {
    this.#buf = rest;
    socket.on('data', (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#parse();
    });
    socket.once('close', () => (this.closed = true));
    this.#parse();
    socket.resume();
  }

  #parse(): void {
    for (;;) {
      const b = this.#buf;
      if (b.length < 2) return;
      let len = b[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      if (b.length < off + len) return;
      this.frames.push({ opcode: b[0]! & 0x0f, rsv1: (b[0]! & 0x40) !== 0, payload: b.subarray(off, off + len) });
      this.#buf = b.subarray(off + len);
    }
  }

  /** The code of the server's close frame, once it arrived. */
  closeCode(): number | undefined {
    const f = this.frames.find((x) => x.opcode === 0x8);
    return f && f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined;
  }
}

// ---------------------------------------------------------------------------------------------

describe('limits.maxPayload', () => {
  it('is 1 MiB by default: one byte more closes with 1009, and only that connection', async () => {
    const { url, server } = await start();
    const by = await bystander(url);
    const p = await ready(url);
    expect(p.frames[0]).toMatchObject({ t: 'welcome', maxPayload: MiB });
    const frame = (size: number) => {
      const base = JSON.stringify({ t: 'call', id: 1, name: 'echo', input: '' });
      return JSON.stringify({ t: 'call', id: 1, name: 'echo', input: 'x'.repeat(size - base.length) });
    };
    expect(Buffer.byteLength(frame(MiB))).toBe(MiB);
    p.send(frame(MiB));
    expect(await p.answer(1)).toMatchObject({ t: 'ok', id: 1 });
    p.send(frame(MiB + 1));
    expect(await p.closed()).toBe(1009);
    await until(() => server.connections === 1, 'oversize peer gone');
    await by.check();
  });
});

describe('compression (permessage-deflate)', () => {
  it('is off by default: an offered permessage-deflate is not negotiated, and a compressed frame is a protocol error', async () => {
    const { url, port } = await start();
    const by = await bystander(url);
    const p = peer(url, { perMessageDeflate: true });
    let extensionsHeader: string | undefined = 'not seen';
    p.ws.once('upgrade', (res) => (extensionsHeader = res.headers['sec-websocket-extensions']));
    await p.ready();
    expect(extensionsHeader).toBeUndefined();
    expect(p.ws.extensions).toBe('');

    // A raw client that offers deflate and then sends an RSV1 frame anyway: nothing is inflated.
    const raw = await rawUpgrade(port, { headers: ['Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits'] });
    expect(raw.status).toBe(101);
    expect(raw.headers['sec-websocket-extensions']).toBeUndefined();
    const frames = new RawFrames(raw.socket, raw.rest);
    raw.socket.write(clientFrame(0x1, deflateRawSync(Buffer.from('{"t":"ping"}'), { finishFlush: zlib.Z_SYNC_FLUSH }).subarray(0, -4), true));
    await until(() => frames.closeCode() !== undefined, 'close frame');
    expect(frames.closeCode()).toBe(1002);
    await by.check();
  });

  it('with compression: true a decompression bomb (50 MiB of zeros) closes with 1009 without inflating it', async () => {
    const { url, port, server } = await start({ compression: true });
    const by = await bystander(url);
    // 50 MiB of zeros deflate to ~50 KB: the frame itself is far below maxPayload (1 MiB); only
    // the inflated size is over. Sync flush and the 4-byte tail removed, as RFC 7692 §7.2.1 says.
    const bomb = deflateRawSync(Buffer.alloc(50 * MiB), { level: 9, finishFlush: zlib.Z_SYNC_FLUSH }).subarray(0, -4);
    expect(bomb.length).toBeLessThan(64 * 1024);
    const frame = clientFrame(0x1, bomb, true);

    const raw = await rawUpgrade(port, { headers: ['Sec-WebSocket-Extensions: permessage-deflate'] });
    expect(raw.status).toBe(101);
    expect(raw.headers['sec-websocket-extensions']).toMatch(/^permessage-deflate/);
    const frames = new RawFrames(raw.socket, raw.rest);
    await until(() => frames.frames.length > 0, 'welcome');

    const before = settledMemory();
    const sampler = peakSampler();
    raw.socket.write(frame);
    await until(() => frames.closeCode() !== undefined, 'close frame after the bomb');
    const peak = sampler.stop() - before;
    const after = settledMemory() - before;
    expect(frames.closeCode()).toBe(1009);
    figure('bomb MiB (frame KiB, peak growth, settled growth)', [(frame.length / 1024).toFixed(1), (peak / MiB).toFixed(2), (after / MiB).toFixed(2)]);
    await until(() => server.connections === 1, 'bomb connection gone');
    // Inflation stops just past maxPayload (1 MiB); inflating the whole bomb would cost 50 MiB
    // of output chunks plus as much again to join them. 20 MiB leaves room for zlib's windows
    // and allocator noise while staying far from "near 50 MB".
    expect(peak).toBeLessThan(20 * MiB);
    expect(after).toBeLessThan(20 * MiB);
    await by.check();
  });

  it('with compression: true a normal compressed message works both ways', async () => {
    const { url } = await start({ compression: true });
    const p = peer(url, { perMessageDeflate: true });
    let socket: Socket | undefined;
    p.ws.once('upgrade', (res) => (socket = res.socket as Socket));
    await p.ready();
    expect(p.ws.extensions).toMatch(/^permessage-deflate/);
    const input = 'all work and no play makes a dull frame. '.repeat(5_000); // ~200 KB
    const sentBefore = socket!.bytesWritten;
    const readBefore = socket!.bytesRead;
    expect(await p.request({ t: 'call', id: 1, name: 'echo', input })).toEqual({ t: 'ok', id: 1, output: input });
    // Both directions travelled compressed: far fewer bytes on the wire than in the messages.
    expect(socket!.bytesWritten - sentBefore).toBeLessThan(20_000);
    expect(socket!.bytesRead - readBefore).toBeLessThan(20_000);
  });
});

describe('limits.rate', () => {
  /** Waits for the answer of `id` by event, not by polling, so latencies are not quantised. */
  function answerOf(p: RawPeer, id: number): Promise<Record<string, unknown>> {
    const found = p.frames.find((f) => f.id === id && (f.t === 'ok' || f.t === 'err'));
    if (found) return Promise.resolve(found);
    return within(
      new Promise((resolve) => {
        const onMessage = (data: WebSocket.RawData) => {
          const f = JSON.parse(data.toString()) as Record<string, unknown>;
          if (f.id === id && (f.t === 'ok' || f.t === 'err')) {
            p.ws.off('message', onMessage);
            resolve(f);
          }
        };
        p.ws.on('message', onMessage);
      }),
      `answer to ${id}`,
    );
  }

  it('a 1,000-call burst gets ok for the burst, RATE_LIMITED with retryAfterMs, then 1008; a paced connection beside it is never starved', async () => {
    const rate = { perSecond: 50, burst: 20 };
    const { url } = await start({ limits: { rate } });
    const good = await ready(url);
    let goodId = 0;
    /**
     * One call, timed from when the good client *meant* to send it. Server, clients and flooders
     * share this process's event loop, so a stall while the good client waits for its next turn
     * delays the send itself; timing from the send would hide exactly the starvation looked for.
     */
    const timedCall = async (intendedAt: number): Promise<number> => {
      const id = ++goodId;
      // Timers may fire up to a millisecond early: then the send is the start.
      const start = Math.min(intendedAt, performance.now());
      good.send({ t: 'call', id, name: 'echo', input: id });
      expect(await answerOf(good, id)).toEqual({ t: 'ok', id, output: id });
      return performance.now() - start;
    };
    // The good connection is rate limited like everyone: it stays under 50/s by pacing itself at
    // one call per 25 ms (40/s). Pacing is the scenario (a well-behaved client), not a wait for an
    // event, so it is a timer. After a stall it does not catch up (no burst), it goes on from now.
    const paced = async (calls: number): Promise<number[]> => {
      const latencies: number[] = [];
      let next = performance.now();
      for (let i = 0; i < calls; i++) {
        const wait = next - performance.now();
        if (wait > 0) await delay(wait);
        latencies.push(await timedCall(next));
        next = Math.max(next + 25, performance.now());
      }
      return latencies;
    };
    const baseline = await paced(10);

    // Flood rounds back to back until the good connection has made its calls (bounded both ways).
    let flooding = true;
    const rounds: { code: number; frames: Record<string, unknown>[] }[] = [];
    const flood = (async () => {
      for (let r = 0; flooding && r < 200; r++) {
        const f = await ready(url);
        for (let id = 1; id <= 1_000; id++) f.send({ t: 'call', id, name: 'echo', input: id });
        rounds.push({ code: await f.closed(), frames: f.frames });
        f.ws.terminate();
      }
    })();
    let during: number[] = [];
    try {
      during = await paced(20);
    } finally {
      flooding = false;
      await flood;
    }

    expect(rounds.length).toBeGreaterThanOrEqual(2);
    for (const { code, frames } of rounds) {
      const answers = frames.filter((f) => f.t === 'ok' || f.t === 'err');
      expect(frames.filter((f) => f.t !== 'welcome' && !answers.includes(f))).toEqual([]);
      // The first `burst` calls are answered; a refill of 1 per 20 ms may add one or two more.
      for (let id = 1; id <= rate.burst; id++) expect(answers[id - 1]).toEqual({ t: 'ok', id, output: id });
      const ok = answers.filter((f) => f.t === 'ok');
      const limited = answers.filter((f) => f.t === 'err');
      expect(ok.length).toBeLessThanOrEqual(rate.burst + 10);
      for (const f of limited) {
        expect(f).toMatchObject({ t: 'err', code: 'RATE_LIMITED', message: expect.any(String) });
        const { retryAfterMs } = f.details as { retryAfterMs: number };
        // One token at 50/s is 20 ms away at most.
        expect(retryAfterMs).toBeGreaterThan(0);
        expect(retryAfterMs).toBeLessThanOrEqual(1_000 / rate.perSecond);
      }
      // `burst` refusals are tolerated; the next one closes (docs/protocol.md §5, 1008).
      expect(limited.length).toBeGreaterThanOrEqual(rate.burst);
      expect(limited.length).toBeLessThanOrEqual(rate.burst + 10);
      expect(code).toBe(1008);
    }

    // "Not starved", not a speed figure: the server, both clients and the flooders share one event
    // loop on a possibly loaded 2-core machine, so a good call may wait behind a flood batch being
    // parsed (a few ms; the median stays near the baseline, ~1 ms here). A server that spent real
    // work on each flooded message would make it wait for the whole batch (with 0.5 ms per message,
    // ~500 ms) or time out. 10× its own quiet median, or 50 ms when that median is tiny, separates
    // the two with a wide margin without depending on the machine's speed.
    const base = median(baseline);
    const flooded = median(during);
    figure('latency ms (baseline median, flood median, ratio, flood rounds)', [base.toFixed(2), flooded.toFixed(2), (flooded / base).toFixed(2), rounds.length]);
    expect(flooded, `median ${flooded.toFixed(2)} ms during the flood vs ${base.toFixed(2)} ms before`).toBeLessThan(Math.max(10 * base, 50));
  });

  it('recovers: after waiting retryAfterMs a request succeeds, and the limit still holds afterwards', async () => {
    const { url } = await start({ limits: { rate: { perSecond: 5, burst: 3 } } });
    const p = await ready(url);
    for (let id = 1; id <= 3; id++) expect(await p.request({ t: 'call', id, name: 'echo', input: id })).toEqual({ t: 'ok', id, output: id });
    const refused = await p.request({ t: 'call', id: 4, name: 'echo' });
    expect(refused).toMatchObject({ t: 'err', id: 4, code: 'RATE_LIMITED' });
    const { retryAfterMs } = refused.details as { retryAfterMs: number };
    // One token at 5/s is at most 200 ms away.
    expect(retryAfterMs).toBeGreaterThan(0);
    expect(retryAfterMs).toBeLessThanOrEqual(200);
    // Honouring the server's hint is the behaviour under test, so this wait uses its value.
    await delay(retryAfterMs);
    expect(await p.request({ t: 'call', id: 5, name: 'echo', input: 5 })).toEqual({ t: 'ok', id: 5, output: 5 });
    expect(await p.request({ t: 'call', id: 6, name: 'echo' })).toMatchObject({ t: 'err', id: 6, code: 'RATE_LIMITED' });
    expect(p.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('charges publishes, subscribes, unsubscribes and presence too; refused ones have no effect', async () => {
    const { url, server } = await start({ limits: { rate: { perSecond: 1, burst: 4 } } }, (s) =>
      s.topic('room:*', { subscribe: true, publish: true, presence: true }),
    );
    const watcher = await ready(url);
    expect(await watcher.request({ t: 'sub', id: 1, topic: 'room:a' })).toMatchObject({ t: 'ok', id: 1 });
    const p = await ready(url);
    const answers = [
      await p.request({ t: 'sub', id: 1, topic: 'room:b' }),
      await p.request({ t: 'pub', id: 2, topic: 'room:a', data: 'allowed' }),
      await p.request({ t: 'call', id: 3, name: 'echo', input: 3 }),
      await p.request({ t: 'unsub', id: 4, topic: 'room:b' }),
      // The bucket (4) is empty now; 1/s refills nothing noticeable within the test.
      await p.request({ t: 'pub', id: 5, topic: 'room:a', data: 'refused' }),
      await p.request({ t: 'sub', id: 6, topic: 'room:c' }),
      await p.request({ t: 'unsub', id: 7, topic: 'room:b' }),
      await p.request({ t: 'presence', id: 8, topic: 'room:b' }),
    ];
    expect(answers.map((a) => [a.id, a.t === 'ok' ? 'ok' : a.code])).toEqual([
      [1, 'ok'], [2, 'ok'], [3, 'ok'], [4, 'ok'],
      [5, 'RATE_LIMITED'], [6, 'RATE_LIMITED'], [7, 'RATE_LIMITED'], [8, 'RATE_LIMITED'],
    ]);
    // The refused publish reached nobody and the refused subscribe subscribed nothing.
    await server.publish('room:c', 'to c');
    await server.publish('room:a', 'marker');
    await watcher.next((f) => f.t === 'msg' && f.data === 'marker', 'marker');
    expect(watcher.frames.filter((f) => f.t === 'msg').map((f) => f.data)).toEqual(['allowed', 'marker']);
    // `burst` (4) refusals were tolerated; the fifth request over the limit closes with 1008. Pings
    // are charged too (a ping flood must end as well), so a ping is that fifth request. The close
    // frame is the barrier: a message on room:c, had the refused sub subscribed, came before it.
    p.send({ t: 'ping' });
    expect(await p.closed()).toBe(1008);
    expect(p.frames.some((f) => f.t === 'pong')).toBe(false);
    expect(p.frames.filter((f) => f.t === 'msg')).toEqual([]);
  });

  it('charges malformed requests too: a flood of unknown or bad frames meets RATE_LIMITED and 1008', async () => {
    const { url } = await start({ limits: { rate: { perSecond: 1, burst: 2 } } });
    const by = await bystander(url);
    const p = await ready(url);
    // Answered with UNKNOWN_FRAME / BAD_REQUEST: each is still a request that costs the server a
    // parse and an answer, so each is charged (otherwise the limit is trivially bypassed).
    const flood = [
      { t: 'nope', id: 1 },
      { t: 'call', id: 2, name: '' },
      { t: 'nope', id: 3 },
      { t: 'sub', id: 4, topic: 42 },
      { t: 'nope', id: 5 },
      ...Array.from({ length: 50 }, (_, i) => ({ t: 'nope', id: 6 + i })),
    ];
    for (const f of flood) p.send(f);
    expect(await p.closed()).toBe(1008);
    const answers = p.frames.filter((f) => f.t === 'err').map((f) => [f.id, f.code]);
    expect(answers).toEqual([[1, 'UNKNOWN_FRAME'], [2, 'BAD_REQUEST'], [3, 'RATE_LIMITED'], [4, 'RATE_LIMITED']]);
    await by.check();
  });

  it('rate: false turns it off (1,000 calls in a burst all succeed), while the default limits the same burst', async () => {
    const off = await start({ limits: { rate: false } });
    const p = await ready(off.url);
    for (let id = 1; id <= 1_000; id++) p.send({ t: 'call', id, name: 'echo', input: id });
    await until(() => p.frames.filter((f) => f.t === 'ok').length === 1_000, '1,000 answers');
    expect(p.frames.filter((f) => f.t === 'err')).toEqual([]);
    expect(p.ws.readyState).toBe(WebSocket.OPEN);

    // Safe by default (100/s, burst 200): the same burst is refused and closed.
    const on = await start();
    const q = await ready(on.url);
    for (let id = 1; id <= 1_000; id++) q.send({ t: 'call', id, name: 'echo', input: id });
    expect(await q.closed()).toBe(1008);
    const ok = q.frames.filter((f) => f.t === 'ok').length;
    expect(ok).toBeGreaterThanOrEqual(200);
    expect(ok).toBeLessThan(300);
    expect(q.frames.filter((f) => f.t === 'err' && f.code === 'RATE_LIMITED').length).toBeGreaterThanOrEqual(200);
  });
});

describe('limits.maxConnections and limits.maxConnectionsPerIp', () => {
  it('refuses the connection over maxConnections with 503 (Retry-After) and lets one in again once a slot frees', async () => {
    const { url, port, server } = await start({ limits: { maxConnections: 3 } });
    const a = await ready(url);
    await ready(url);
    await ready(url, { localAddress: '127.0.0.2' });
    expect(await handshakeStatus(url)).toBe(503);
    // Any address: the total is full.
    expect(await handshakeStatus(url, { localAddress: '127.0.0.3' })).toBe(503);
    const raw = await rawUpgrade(port);
    expect(raw.status).toBe(503);
    expect(raw.headers['retry-after']).toBe('1');
    a.ws.close();
    await until(() => server.connections === 2, 'a slot to free');
    const again = await ready(url);
    expect(await again.request({ t: 'call', id: 1, name: 'echo', input: 1 })).toEqual({ t: 'ok', id: 1, output: 1 });
    expect(await handshakeStatus(url)).toBe(503);
  });

  it('refuses the connection over maxConnectionsPerIp with 429 while another address is unaffected', async () => {
    const { url, server } = await start({ limits: { maxConnectionsPerIp: 2 } });
    const a = await ready(url);
    await ready(url);
    expect(await handshakeStatus(url)).toBe(429);
    // Linux routes all of 127/8 to lo: 127.0.0.2 is another peer address.
    const other = await bystander(url, { localAddress: '127.0.0.2' });
    await ready(url, { localAddress: '127.0.0.2' });
    expect(await handshakeStatus(url, { localAddress: '127.0.0.2' })).toBe(429);
    expect(await handshakeStatus(url)).toBe(429);
    await other.check();
    a.ws.close();
    await until(() => server.connections === 3, 'a slot of 127.0.0.1 to free');
    await ready(url);
    expect(await handshakeStatus(url)).toBe(429);
    expect(server.connections).toBe(4);
  });

  it('never leaks a slot: after many refused handshakes of every kind, exactly the limit gets in', async () => {
    const logger = recordingLogger();
    let hangs = 0;
    const { url, port, server } = await start<string>({
      logger,
      origins: ['https://ok.example'],
      limits: { maxConnections: 2, maxConnectionsPerIp: 2, handshakeTimeoutMs: 200 },
      authenticate: (_req, token) => {
        if (token === 'good') return 'user';
        if (token === 'throw') throw new Error('boom');
        if (token === 'hang') {
          hangs++;
          return new Promise<string>(() => {});
        }
        return null;
      },
    });
    const good = [V1, encodeTokenProtocol('good')];
    const as = (token: string) => [V1, encodeTokenProtocol(token)];
    for (let round = 0; round < 2; round++) {
      // One after the other: with a limit of 2, a refusal that kept its slot would turn every later
      // attempt into a 503.
      const attempts: [() => Promise<number>, number][] = [
        ...Array.from({ length: 10 }, () => [() => handshakeStatus(url, {}, as('bad')), 401] as [() => Promise<number>, number]),
        ...Array.from({ length: 5 }, () => [() => handshakeStatus(url, {}, as('throw')), 500] as [() => Promise<number>, number]),
        ...Array.from({ length: 5 }, () => [() => handshakeStatus(url, { origin: 'https://evil.example' }, good), 403] as [() => Promise<number>, number]),
        ...Array.from({ length: 5 }, () => [() => handshakeStatus(url, {}, ['other.v1']), 400] as [() => Promise<number>, number]),
        ...Array.from({ length: 5 }, () => [() => handshakeStatus(url, {}, [V1, 'switchboard.auth.!!']), 400] as [() => Promise<number>, number]),
        ...Array.from({ length: 3 }, () => [() => handshakeStatus(url, {}, as('hang')), 503] as [() => Promise<number>, number]),
      ];
      for (const [attempt, status] of attempts) expect(await attempt()).toBe(status);
      // ws itself refuses a bad Sec-WebSocket-Key after our gate admitted the request.
      const badKey = await rawUpgrade(port, { key: 'short', protocols: good });
      expect(badKey.status).toBe(400);
      // A peer that vanishes while authenticate hangs gives its slot back at the timeout.
      const vanishing = await new Promise<Socket>((resolve) => {
        const s = connect(port, '127.0.0.1', () => resolve(s));
        scope.defer(() => s.destroy());
        s.on('error', () => {});
      });
      const hangsBefore = hangs;
      vanishing.write(
        [
          'GET /ws HTTP/1.1', `Host: 127.0.0.1:${port}`, 'Upgrade: websocket', 'Connection: Upgrade',
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Version: 13',
          `Sec-WebSocket-Protocol: ${as('hang').join(', ')}`,
        ].join('\r\n') + '\r\n\r\n',
      );
      await until(() => hangs === hangsBefore + 1, 'the vanishing request to reach authenticate');
      vanishing.resetAndDestroy();
      await until(() => logger.lines.filter((l) => l.msg === 'authenticate timed out').length === 4 * (round + 1), 'the vanished peer\'s authenticate to time out');

      // Exactly the limit gets in: two accepted, the third refused (503: the total is full).
      const a = await ready(url, {}, good);
      const b = await ready(url, {}, good);
      expect(await handshakeStatus(url, {}, good)).toBe(503);
      expect(server.connections).toBe(2);
      a.ws.close();
      b.ws.close();
      await until(() => server.connections === 0, 'both closed');
    }
    // Refusals at the gate itself (429/503) do not take a slot either.
    const a = await ready(url, {}, good);
    const b = await ready(url, {}, good);
    const refused = await Promise.all(Array.from({ length: 20 }, () => handshakeStatus(url, {}, good)));
    expect(refused).toEqual(Array(20).fill(503));
    b.ws.close();
    await until(() => server.connections === 1, 'b closed');
    const c = await ready(url, {}, good);
    expect(await c.request({ t: 'call', id: 1, name: 'echo', input: 'c' })).toEqual({ t: 'ok', id: 1, output: 'c' });
    expect(await a.request({ t: 'call', id: 1, name: 'echo', input: 'a' })).toEqual({ t: 'ok', id: 1, output: 'a' });
  });

  it.each([
    { what: 'per IP', limits: { maxConnectionsPerIp: 50 }, admitted: 50, status: 429 },
    { what: 'in total', limits: { maxConnections: 41 }, admitted: 40, status: 503 },
  ])('a flood of 300 parallel upgrades from one IP ($what): exactly the limit gets in, the rest $status, and the server stays up', async ({ limits, admitted, status }) => {
    const { url, port, server } = await start({ limits });
    // For the total limit one slot is the bystander's (from another address).
    const by = limits.maxConnections ? await bystander(url, { localAddress: '127.0.0.2' }) : undefined;
    const results = await Promise.all(Array.from({ length: 300 }, () => rawUpgrade(port)));
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 101).length).toBe(admitted);
    expect(statuses.filter((s) => s === status).length).toBe(300 - admitted);
    await until(() => server.connections === admitted + (by ? 1 : 0), 'accepted flood connections registered');
    if (by) await by.check();
    else {
      // The flooding address is full; another one is not.
      expect(await handshakeStatus(url)).toBe(429);
      await (await bystander(url, { localAddress: '127.0.0.2' })).check();
    }
    for (const r of results) r.socket.destroy();
    await until(() => server.connections === 1, 'flood connections gone');
    // A good client from the flooding address connects afterwards.
    await (await bystander(url)).check();
  });
});

describe('limits.handshakeTimeoutMs', () => {
  it('closes slowloris sockets (silent, half a request, a byte at a time) with 408 after the timeout, without taking slots', async () => {
    const timeout = 300;
    const { url, port, server } = await start({ limits: { handshakeTimeoutMs: timeout, maxConnectionsPerIp: 2 } });
    const by = await bystander(url);
    const peers = await scope.slowloris(port, '/ws');
    // Meanwhile they hold no admission slot: the limit of 2 still admits one more beside the bystander.
    const other = await bystander(url);
    await other.check();
    const results = await peers.closed();
    for (const { text, ms } of results) {
      expect(text).toMatch(/^HTTP\/1\.1 408 /);
      // Not before the timeout (headers are timed from the request's start), and well within a
      // generous deadline: Node checks every max(100, timeout / 4) ms.
      expect(ms).toBeGreaterThanOrEqual(timeout - 20);
      expect(ms).toBeLessThan(3_000);
    }
    expect(server.connections).toBe(2);
    await by.check();
  });

  it('answers 503 when authenticate never resolves, logs it without the token, and releases the slot', async () => {
    const timeout = 300;
    const logger = recordingLogger();
    let hangs = 0;
    const { url, server } = await start<string>({
      logger,
      limits: { handshakeTimeoutMs: timeout, maxConnectionsPerIp: 3 },
      authenticate: (_req, token) => {
        if (token === 'ok') return 'user';
        hangs++;
        return new Promise<string>(() => {});
      },
    });
    const by = await bystander(url, {}, [V1, encodeTokenProtocol('ok')]);
    const t0 = performance.now();
    // Two hanging handshakes plus the bystander fill the address's 3 slots while they hang.
    const hanging = [0, 1].map(() => handshakeStatus(url, {}, [V1, encodeTokenProtocol('secret-hang-token')]));
    await until(() => hangs === 2, 'both hanging handshakes to reach authenticate');
    expect(await handshakeStatus(url, {}, [V1, encodeTokenProtocol('ok')])).toBe(429);
    expect(await Promise.all(hanging)).toEqual([503, 503]);
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(timeout - 20);
    expect(ms).toBeLessThan(3_000);
    const warned = logger.lines.filter((l) => l.msg === 'authenticate timed out');
    expect(warned).toHaveLength(2);
    expect(JSON.stringify(logger.lines)).not.toContain('secret-hang-token');
    // Their slots are back: two more connections from the same address get in.
    await ready(url, {}, [V1, encodeTokenProtocol('ok')]);
    await ready(url, {}, [V1, encodeTokenProtocol('ok')]);
    expect(server.connections).toBe(3);
    await by.check();
  });
  it.each([
    { what: "another realm's Promise", pending: () => vm.runInNewContext('new Promise(() => {})') as Promise<string> },
    { what: 'a bare thenable (Bluebird-style)', pending: () => ({ then() {} }) as unknown as Promise<string> },
  ])('times out an authenticate that returns $what that never settles (503, slot released)', async ({ pending }) => {
    const { url, server } = await start<string>({
      limits: { handshakeTimeoutMs: 200, maxConnectionsPerIp: 1 },
      authenticate: (_req, token) => (token === 'ok' ? 'user' : pending()),
    });
    expect(await handshakeStatus(url, {}, [V1, encodeTokenProtocol('hang')])).toBe(503);
    await ready(url, {}, [V1, encodeTokenProtocol('ok')]);
    expect(server.connections).toBe(1);
  });
});

describe('per-connection limits', () => {
  it('maxSubscriptionsPerConnection: the 4th distinct topic is refused; re-subscribing is fine; unsub frees a place', async () => {
    const { url, server } = await start({ limits: { maxSubscriptionsPerConnection: 3 } }, (s) =>
      s.topic('t:*', { subscribe: true, publish: true }),
    );
    const by = await bystander(url);
    const p = await ready(url);
    const sub = (id: number, topic: string) => p.request({ t: 'sub', id, topic });
    for (const [id, topic] of [[1, 't:a'], [2, 't:b'], [3, 't:c']] as const) expect(await sub(id, topic)).toEqual({ t: 'ok', id, output: {} });
    const refused = await sub(4, 't:d');
    expect(refused).toEqual({
      t: 'err', id: 4, code: 'LIMIT_EXCEEDED', message: expect.any(String),
      details: { limit: 'maxSubscriptionsPerConnection', value: 3 },
    });
    expect(await sub(5, 't:a')).toEqual({ t: 'ok', id: 5, output: {} });
    expect(await p.request({ t: 'unsub', id: 6, topic: 't:b' })).toEqual({ t: 'ok', id: 6 });
    expect(await sub(7, 't:d')).toEqual({ t: 'ok', id: 7, output: {} });
    expect(await sub(8, 't:e')).toMatchObject({ t: 'err', id: 8, code: 'LIMIT_EXCEEDED' });
    // Per connection: another one has its own three.
    const q = await ready(url);
    for (const [id, topic] of [[1, 't:e'], [2, 't:f'], [3, 't:g']] as const) expect(await q.request({ t: 'sub', id, topic })).toMatchObject({ t: 'ok' });
    // The refused subscriptions subscribed nothing.
    for (const topic of ['t:b', 't:e', 't:a']) await server.publish(topic, topic);
    await p.next((f) => f.t === 'msg' && f.data === 't:a', 'msg on t:a');
    expect(p.frames.filter((f) => f.t === 'msg').map((f) => f.topic)).toEqual(['t:a']);
    await by.check();
  });

  it('maxSubscriptionsPerConnection holds against pipelined subscribes', async () => {
    const { url } = await start({ limits: { maxSubscriptionsPerConnection: 3 } }, (s) =>
      s.topic('t:*', { subscribe: async () => true }),
    );
    const p = await ready(url);
    for (let id = 1; id <= 10; id++) p.send({ t: 'sub', id, topic: `t:${id}` });
    await until(() => p.frames.filter((f) => f.t === 'ok' || f.t === 'err').length === 10, '10 answers');
    expect(p.frames.filter((f) => f.t === 'ok').map((f) => f.id)).toEqual([1, 2, 3]);
    expect(p.frames.filter((f) => f.t === 'err').map((f) => f.code)).toEqual(Array(7).fill('LIMIT_EXCEEDED'));
  });

  it('maxPendingCalls: the 3rd concurrent call is refused (even a sync one); once one finishes a new call runs', async () => {
    const gates: (() => void)[] = [];
    const { url } = await start({ limits: { maxPendingCalls: 2 } }, (s) =>
      s.command('hang', (x: unknown) => new Promise((resolve) => gates.push(() => resolve(x)))),
    );
    const by = await bystander(url);
    const p = await ready(url);
    p.send({ t: 'call', id: 1, name: 'hang', input: 1 });
    p.send({ t: 'call', id: 2, name: 'hang', input: 2 });
    for (let id = 3; id <= 8; id++) p.send({ t: 'call', id, name: id % 2 ? 'hang' : 'echo', input: id });
    await until(() => p.frames.filter((f) => f.t === 'err').length === 6, 'six refusals');
    for (let id = 3; id <= 8; id++) {
      expect(await p.answer(id)).toEqual({
        t: 'err', id, code: 'LIMIT_EXCEEDED', message: expect.any(String), details: { limit: 'maxPendingCalls', value: 2 },
      });
    }
    expect(gates).toHaveLength(2);
    // Per connection: the bystander's calls run meanwhile.
    await by.check();
    gates[0]!();
    expect(await p.answer(1)).toEqual({ t: 'ok', id: 1, output: 1 });
    expect(await p.request({ t: 'call', id: 9, name: 'echo', input: 9 })).toEqual({ t: 'ok', id: 9, output: 9 });
    p.send({ t: 'call', id: 10, name: 'hang', input: 10 });
    expect(await p.request({ t: 'call', id: 11, name: 'echo' })).toMatchObject({ t: 'err', id: 11, code: 'LIMIT_EXCEEDED' });
    gates[1]!();
    gates[2]!();
    expect(await p.answer(2)).toEqual({ t: 'ok', id: 2, output: 2 });
    expect(await p.answer(10)).toEqual({ t: 'ok', id: 10, output: 10 });
    expect(await p.request({ t: 'call', id: 12, name: 'echo', input: 12 })).toEqual({ t: 'ok', id: 12, output: 12 });
  });
});

describe('slow consumers (limits.sendBufferBytes)', () => {
  const MESSAGES = 800;
  const pad = 'x'.repeat(64 * 1024); // 800 × 64 KiB = 50 MiB

  /**
   * A subscriber that keeps only the sequence numbers of its messages (a RawPeer would hold all
   * 50 MiB, and this process's memory is what the test measures).
   */
  class SeqPeer {
    readonly ws: WebSocket;
    readonly seqs: number[] = [];
    readonly answers = new Map<number, Record<string, unknown>>();
    welcomed = false;
    closeCode: number | undefined;
    closeReason = '';
    socket: Socket | undefined;

    constructor(url: string) {
      this.ws = new WebSocket(url, [V1]);
      scope.defer(() => this.ws.terminate());
      this.ws.once('upgrade', (res) => (this.socket = res.socket as Socket));
      this.ws.on('message', (data) => {
        const f = JSON.parse(data.toString()) as Record<string, unknown>;
        if (f.t === 'welcome') this.welcomed = true;
        else if (f.t === 'msg') this.seqs.push((f.data as { seq: number }).seq);
        else if (typeof f.id === 'number') this.answers.set(f.id, f);
      });
      this.ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
      });
      this.ws.on('error', () => {});
    }

    async request(frame: { t: string; id: number } & Record<string, unknown>): Promise<Record<string, unknown>> {
      this.ws.send(JSON.stringify(frame));
      await until(() => this.answers.has(frame.id), `answer to ${frame.id}`);
      return this.answers.get(frame.id)!;
    }

    static async open(url: string, topic: string): Promise<SeqPeer> {
      const p = new SeqPeer(url);
      await until(() => p.welcomed, 'welcome');
      expect(await p.request({ t: 'sub', id: 1, topic })).toMatchObject({ t: 'ok', id: 1 });
      return p;
    }
  }

  /** Strictly increasing: in publish order, none twice. */
  const increasing = (xs: number[]) => xs.every((x, i) => i === 0 || x > xs[i - 1]!);

  /**
   * Publishes 50 MiB in batches of 8 (512 KiB). After each batch it waits for the good subscriber
   * to have it all: the good subscriber then never has more than one batch (< sendBufferBytes)
   * outstanding, so only the peer that stopped reading can pass the bound. Returns the largest
   * growth of settled memory (see `settledMemory`) over `before`, taken every 10 batches: what the
   * server retains, without the garbage that 50 MiB of encoding and parsing leaves between GCs.
   */
  async function publishAll(server: Server, topic: string, good: SeqPeer, by: { check(): Promise<void> }, before: number): Promise<number> {
    let peak = 0;
    for (let b = 0; b < MESSAGES / 8; b++) {
      for (let i = 0; i < 8; i++) await server.publish(topic, { seq: b * 8 + i, pad });
      await until(() => good.seqs.length === b * 8 + 8, `good subscriber to receive batch ${b}`);
      if (b % 20 === 0) await by.check();
      if (b % 10 === 9) peak = Math.max(peak, settledMemory() - before);
    }
    return peak;
  }

  it('a subscriber that stops reading is disconnected; memory stays bounded; everyone else gets everything in order', async () => {
    const { url, server } = await start({ limits: { sendBufferBytes: MiB } }, (s) => s.topic('big:*', { subscribe: true }));
    const by = await bystander(url);
    const slow = await SeqPeer.open(url, 'big:1');
    const good = await SeqPeer.open(url, 'big:1');
    slow.socket!.pause();
    const before = settledMemory();
    const peak = await publishAll(server, 'big:1', good, by, before);
    const after = settledMemory() - before;
    figure('slow consumer MiB (peak growth, settled growth)', [(peak / MiB).toFixed(2), (after / MiB).toFixed(2)]);
    // Without the bound the server would retain the slow peer's backlog: up to ~45 MiB by the end
    // (the kernel's socket buffers take the first few MiB). With it: at most the hard cap of
    // 4 × sendBufferBytes (4 MiB; it is reached before the grace period ends) plus one message,
    // plus at most one batch (512 KiB) for the good subscriber. 16 MiB is three times that and a
    // third of the backlog.
    expect(peak).toBeLessThan(16 * MiB);
    expect(after).toBeLessThan(16 * MiB);
    await until(() => server.connections === 2, 'the slow consumer to be disconnected');
    expect(good.seqs).toEqual(Array.from({ length: MESSAGES }, (_, i) => i));
    // It was terminated without reading its close frame (it sits behind the unread data), so when it
    // finally reads it sees what reached its socket, in order, then an abnormal close (1006).
    slow.socket!.resume();
    await until(() => slow.closeCode !== undefined, 'slow peer to observe the close');
    expect(slow.closeCode).toBe(1006);
    expect(slow.seqs.length).toBeLessThan(MESSAGES);
    expect(slow.seqs).toEqual(Array.from({ length: slow.seqs.length }, (_, i) => i));
    expect(good.closeCode).toBeUndefined();
    await by.check();
  });

  it('a slow consumer that reads again soon enough sees close code 4001', async () => {
    const { url, server } = await start({ limits: { sendBufferBytes: MiB } }, (s) => s.topic('big:*', { subscribe: true }));
    const by = await bystander(url);
    const slow = await SeqPeer.open(url, 'big:1');
    slow.socket!.pause();
    // No other subscriber: the burst is cheap once the slow peer is cut off (at the hard cap of
    // 4 × sendBufferBytes, within the first batch). It resumes reading well within the server's
    // linger (about a second), so it reads the backlog, then the close frame.
    for (let b = 0; b < MESSAGES / 100; b++) {
      for (let i = 0; i < 100; i++) await server.publish('big:1', { seq: b * 100 + i, pad });
      await nextTurn();
    }
    slow.socket!.resume();
    await until(() => slow.closeCode !== undefined, 'slow peer to observe the close');
    expect(slow.closeCode).toBe(4001);
    expect(slow.closeReason).toBe('slow consumer');
    expect(slow.seqs.length).toBeLessThan(MESSAGES);
    expect(slow.seqs).toEqual(Array.from({ length: slow.seqs.length }, (_, i) => i));
    await until(() => server.connections === 1, 'slow consumer gone');
    await by.check();
  });

  it('on a volatile topic the slow subscriber is not disconnected, only misses messages; others get everything', async () => {
    const { url, server } = await start({ limits: { sendBufferBytes: MiB } }, (s) =>
      s.topic('live:*', { subscribe: true, volatile: true }),
    );
    const by = await bystander(url);
    const slow = await SeqPeer.open(url, 'live:1');
    const good = await SeqPeer.open(url, 'live:1');
    slow.socket!.pause();
    const before = settledMemory();
    const peak = await publishAll(server, 'live:1', good, by, before);
    const after = settledMemory() - before;
    expect(good.seqs).toEqual(Array.from({ length: MESSAGES }, (_, i) => i));
    figure('volatile MiB (peak growth, settled growth)', [(peak / MiB).toFixed(2), (after / MiB).toFixed(2)]);
    expect(peak).toBeLessThan(16 * MiB);
    expect(after).toBeLessThan(16 * MiB);
    expect(server.connections).toBe(3);
    slow.socket!.resume();
    // Once it reads again, new messages reach it: publish markers (volatile too, so they may be
    // dropped while its backlog drains) until one arrives. Bounded in count and time.
    const markersFrom = MESSAGES;
    let seq = markersFrom;
    const deadline = performance.now() + 5_000;
    while (!slow.seqs.some((s) => s >= markersFrom)) {
      if (performance.now() > deadline || seq > markersFrom + 500) throw new Error('no marker reached the resumed subscriber');
      await server.publish('live:1', { seq: seq++ });
      await delay(5);
    }
    const received = slow.seqs.filter((s) => s < MESSAGES);
    figure('volatile slow subscriber received', received.length);
    expect(received.length).toBeLessThan(MESSAGES);
    expect(increasing(slow.seqs)).toBe(true);
    expect(slow.closeCode).toBeUndefined();
    expect(await slow.request({ t: 'call', id: 2, name: 'echo', input: 'still here' })).toEqual({ t: 'ok', id: 2, output: 'still here' });
    expect(server.connections).toBe(3);
    await by.check();
  });
});
