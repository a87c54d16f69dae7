/**
 * Streams with credit-based flow control, uploads, and binary payloads (docs/protocol.md §2.3,
 * §2.6, §4, §5; docs/streams.md), every test under both codecs. Real sockets on 127.0.0.1:0; raw
 * peers where the wire itself is the subject. Waits are deadline-bound; the only sleep is the
 * deliberate 10 ms pacing of the slow consumer. The raw consumer's credit check runs against a
 * server process on Node and on Bun in test/runtime-streams.test.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { getEventListeners } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { z } from 'zod';
import type { Client, ClientOptions, StreamReader, WebSocketConstructor } from '../src/client/node.js';
import { jsonCodec } from '../src/protocol/codec.js';
import { msgpack } from '../src/msgpack/index.js';
import { msgpackCodec } from '../src/protocol/msgpack.js';
import { ServerError, type ServerOptions, type StreamContext } from '../src/server/index.js';
import { createTestScope, guardUnhandledRejections, recordingLogger, until, within, type RawPeer } from './helpers.js';

const CODECS = ['json', 'msgpack'] as const;
type CodecName = (typeof CODECS)[number];
const SUBPROTOCOL: Record<CodecName, string> = { json: 'switchboard.v1.json', msgpack: 'switchboard.v1.msgpack' };
const CODEC = { json: jsonCodec, msgpack: msgpackCodec };

/** Measured figures, printed with SB_FIGURES=1. */
const figures: Record<string, string> = {};

guardUnhandledRejections();
const scope = createTestScope();
afterAll(() => {
  if (process.env.SB_FIGURES) console.log(figures);
});

// ---------------------------------------------------------------------------------------------
// Helpers

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
}
function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const sha256 = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};
const asBuffer = (b: Uint8Array | ArrayBuffer) => (b instanceof ArrayBuffer ? Buffer.from(b) : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** One run of a stream handler, as the server saw it. */
interface Run {
  ctx: StreamContext;
  finished: Deferred<void>;
}

/** A server with the streams most tests use; `runs` records each run of `forever`. */
async function setup(codec: CodecName, options: ServerOptions = {}) {
  const logger = recordingLogger();
  const runs: Run[] = [];
  const { server, url } = await scope.server({ logger, ...options }, (s) => {
    s.command('noop', () => 'ok')
      .command('echo', (x: unknown) => x)
      .upload('sink', async (_input, items: AsyncIterable<unknown>) => {
        let n = 0;
        for await (const _ of items) n++;
        return n;
      })
      .stream('count', async function* (n: number) {
        for (let i = 0; i < n; i++) yield i;
      })
      .stream('batched', { batch: { maxItems: 50, maxDelayMs: 5 } }, async function* (n: number) {
        for (let i = 0; i < n; i++) yield i;
      })
      .stream('forever', async function* (_input: unknown, ctx) {
        const run: Run = { ctx, finished: deferred() };
        runs.push(run);
        try {
          for (let i = 0; ; i++) yield i;
        } finally {
          run.finished.resolve();
        }
      });
  });
  return { server, url, logger, runs, codec };
}

/** A client speaking `codec`. */
function client(url: string, codec: CodecName, opts: ClientOptions = {}): Client {
  // MessagePack is a plug-in on the client (switchboard/msgpack); JSON is built in.
  return scope.client(url, { codec: codec === 'msgpack' ? msgpack() : codec, ...opts });
}

/** A raw peer that negotiated `codec`. */
async function rawPeer(url: string, codec: CodecName): Promise<RawPeer> {
  const p = scope.peer(url, [SUBPROTOCOL[codec]]);
  await p.ready();
  expect(p.ws.protocol).toBe(SUBPROTOCOL[codec]);
  return p;
}

/** Items a raw peer received for stream `id`, flattened in arrival order. */
const itemsOf = (p: RawPeer, id: number) => p.frames.filter((f) => f.t === 'item' && f.id === id).flatMap((f) => f.items as unknown[]);

/** Reads a stream to its end; rejects with its error. */
async function drain<T>(reader: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of reader) out.push(x);
  return out;
}

/** A `ws` socket for the client that records every message both ways, and can be terminated. */
class TappedSocket extends WebSocket {
  static last: TappedSocket | undefined;
  readonly sent: { data: Buffer; binary: boolean }[] = [];
  readonly received: { data: Buffer; binary: boolean }[] = [];
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols, { perMessageDeflate: false });
    TappedSocket.last = this;
    this.on('message', (data: Buffer | ArrayBuffer, binary: boolean) => {
      this.received.push({ data: Buffer.from(data instanceof ArrayBuffer ? new Uint8Array(data) : data), binary });
    });
  }
  override send(data: unknown, ...rest: unknown[]): void {
    this.sent.push({ data: Buffer.from(data as string | Uint8Array), binary: typeof data !== 'string' });
    (super.send as (...a: unknown[]) => void)(data, ...rest);
  }
}
const Tapped = TappedSocket as unknown as WebSocketConstructor;

/** Resources whose leak would keep a process alive (docs: nothing may outlive close()). */
const WATCHED = ['Timeout', 'TCPSocketWrap', 'TCPServerWrap'] as const;
type Counts = Record<(typeof WATCHED)[number], number>;
function counts(): Counts {
  const out: Counts = { Timeout: 0, TCPSocketWrap: 0, TCPServerWrap: 0 };
  for (const r of process.getActiveResourcesInfo()) if (r in out) out[r as keyof Counts]++;
  return out;
}
/**
 * The resources in use now, without transients: the least of each over 40 samples 5 ms apart
 * (the test runner's own RPC briefly holds timers, which would make a single sample lax).
 */
async function baselineNow(): Promise<Counts> {
  const min = counts();
  for (let i = 0; i < 40; i++) {
    await new Promise((r) => setTimeout(r, 5));
    const now = counts();
    for (const k of WATCHED) min[k] = Math.min(min[k], now[k]);
  }
  return min;
}
/** Waits until no socket of an earlier test lingers, and returns the baseline. */
async function quietBaseline(): Promise<Counts> {
  await until(() => counts().TCPSocketWrap === 0 && counts().TCPServerWrap === 0, 'sockets of earlier tests to close');
  return baselineNow();
}
/** Waits, with a deadline, until every watched resource is back to `baseline`. */
async function backToBaseline(baseline: Counts): Promise<void> {
  const deadline = Date.now() + 5_000;
  let now = counts();
  while (!WATCHED.every((k) => now[k] <= baseline[k])) {
    if (Date.now() > deadline) throw new Error(`resources leaked: ${JSON.stringify(now)} vs baseline ${JSON.stringify(baseline)}`);
    await new Promise((r) => setTimeout(r, 5));
    now = counts();
  }
}

/** 64 MB of random bytes, made once for both codecs. */
let big: { bytes: Buffer; sha: string } | undefined;
const bigUpload = () => {
  if (!big) {
    const bytes = randomBytes(64 * 1024 * 1024);
    big = { bytes, sha: sha256(bytes) };
  }
  return big;
};

// ---------------------------------------------------------------------------------------------

describe.each(CODECS)('streams (%s)', (codec) => {
  describe('ordering', () => {
    it('delivers 100,000 items complete and in order', async () => {
      const { url } = await setup(codec);
      const c = client(url, codec);
      const started = performance.now();
      let expected = 0;
      for await (const n of c.stream('count', 100_000)) {
        if (n !== expected) expect(n).toBe(expected);
        expected++;
      }
      figures[`100k items, ${codec}`] = `${Math.round(performance.now() - started)} ms`;
      expect(expected).toBe(100_000);
    });

    it('with batching sends fewer item frames than items, and the client still yields them singly in order', async () => {
      const { url } = await setup(codec);
      const N = 100_000;
      // On the wire: a raw peer with credit for everything counts the frames.
      const p = await rawPeer(url, codec);
      // One credit to spare: the server learns that the generator finished only by pulling it,
      // and it pulls only with credit (docs/streams.md).
      p.send({ t: 'stream', id: 1, name: 'batched', input: N, credit: N + 1 });
      await p.next((f) => f.t === 'end' && f.id === 1, 'end of the batched stream', 10_000);
      const frames = p.frames.filter((f) => f.t === 'item' && f.id === 1);
      expect(frames.length).toBeLessThan(N);
      expect(frames.length).toBeLessThanOrEqual(2 * Math.ceil(N / 50));
      for (const f of frames) expect((f.items as unknown[]).length).toBeLessThanOrEqual(50);
      const items = itemsOf(p, 1);
      expect(items).toHaveLength(N);
      expect(items.every((x, i) => x === i)).toBe(true);
      // Through the client: one item per step, in order.
      const c = client(url, codec);
      const started = performance.now();
      let expected = 0;
      for await (const n of c.stream('batched', N)) {
        if (n !== expected) expect(n).toBe(expected);
        expected++;
      }
      figures[`100k items batched, ${codec}`] = `${Math.round(performance.now() - started)} ms`;
      expect(expected).toBe(N);
    });
  });

  describe('flow control', () => {
    it('a slow consumer holds the producer within highWaterMark (+1) items, at every step', async () => {
      const { url, server } = await setup(codec);
      const hwm = 8;
      /**
       * Slack: the generator counts an item when it yields it, and the server only pulls with
       * credit, so produced ≤ credit granted = hwm + re-grants. The client re-grants in take(), as
       * the reader hands an item over — one step before the loop body below counts it. Hence
       * produced − consumed ≤ hwm + 1. (In one process the body runs before any socket read, so
       * the observed maximum is hwm exactly.)
       */
      const SLACK = 1;
      let produced = 0;
      let consumed = 0;
      const gaps: number[] = [];
      server.stream('paced', async function* () {
        for (let i = 0; ; i++) {
          produced++;
          gaps.push(produced - consumed);
          yield i;
        }
      });
      const c = client(url, codec);
      for await (const n of c.stream('paced', undefined, { highWaterMark: hwm })) {
        expect(n).toBe(consumed);
        consumed++;
        gaps.push(produced - consumed);
        if (consumed === 30) break;
        await new Promise((r) => setTimeout(r, 10)); // the deliberate pacing of a slow consumer
      }
      figures[`stream: max produced − consumed (hwm ${hwm}), ${codec}`] = String(Math.max(...gaps));
      expect(Math.max(...gaps)).toBeLessThanOrEqual(hwm + SLACK);
      // The window, not the pacing, bounded it: the producer did run a full window ahead.
      expect(Math.max(...gaps)).toBeGreaterThanOrEqual(hwm);
      expect(produced).toBeLessThanOrEqual(30 + hwm + SLACK);
    });
  });

  describe('cancellation from the client', () => {
    it.each(['break', 'return()', 'cancel()'] as const)('%s stops the generator: its finally runs, ctx.signal aborts', async (how) => {
      const { url, runs } = await setup(codec);
      const c = client(url, codec);
      const reader = c.stream('forever');
      const seen: unknown[] = [];
      if (how === 'break') {
        for await (const n of reader) {
          seen.push(n);
          if (seen.length === 3) break;
        }
      } else {
        for (let i = 0; i < 3; i++) seen.push((await reader.next()).value);
        if (how === 'return()') expect(await reader.return!()).toEqual({ value: undefined, done: true });
        else reader.cancel();
      }
      expect(seen).toEqual([0, 1, 2]);
      expect(runs).toHaveLength(1);
      await within(runs[0]!.finished.promise, 'the generator’s finally', 2_000);
      expect(runs[0]!.ctx.signal.aborted).toBe(true);
      expect(runs[0]!.ctx.signal.reason).toMatchObject({ code: 'ABORTED' });
      expect(await reader.next()).toEqual({ value: undefined, done: true });
      expect(await c.call('noop')).toBe('ok');
    });

    it('an AbortSignal rejects with ABORTED at once, buffered items notwithstanding, and stops the generator', async () => {
      const { url, runs } = await setup(codec);
      const c = client(url, codec);
      const ac = new AbortController();
      const reader = c.stream('forever', undefined, { signal: ac.signal });
      expect((await reader.next()).value).toBe(0);
      // The answer to a call travels behind the items sent before it: the window is buffered now.
      await c.call('noop');
      ac.abort();
      await expect(reader.next()).rejects.toMatchObject({ code: 'ABORTED' });
      await within(runs[0]!.finished.promise, 'the generator’s finally', 2_000);
      expect(runs[0]!.ctx.signal.reason).toMatchObject({ code: 'ABORTED' });
      // In a for-await loop too.
      const ac2 = new AbortController();
      const loop = (async () => {
        for await (const n of c.stream('forever', undefined, { signal: ac2.signal })) if (n === 5) ac2.abort();
      })();
      await expect(loop).rejects.toMatchObject({ code: 'ABORTED' });
      await within(runs[1]!.finished.promise, 'the second generator’s finally', 2_000);
      // Already aborted: never opened.
      await expect(c.stream('forever', undefined, { signal: AbortSignal.abort() }).next()).rejects.toMatchObject({ code: 'ABORTED' });
      await c.call('noop');
      expect(runs).toHaveLength(2);
    });

    it('after cancel nothing more is sent for the id, and stray frames for it are ignored (raw)', async () => {
      const { url, server, runs } = await setup(codec);
      const gate = deferred();
      const busy = { ctx: undefined as StreamContext | undefined, finished: deferred() };
      server.stream('gated', async function* (_input: unknown, ctx) {
        busy.ctx = ctx;
        try {
          yield 'first';
          await gate.promise; // busy, not waiting for credit, when the cancel arrives
          yield 'second';
        } finally {
          busy.finished.resolve();
        }
      });
      const p = await rawPeer(url, codec);
      // A generator busy in an await: the item it yields after the cancel is not sent.
      p.send({ t: 'stream', id: 5, name: 'gated', credit: 10 });
      await until(() => itemsOf(p, 5).length === 1, 'the first item');
      p.send({ t: 'cancel', id: 5 });
      await until(() => busy.ctx?.signal.aborted === true, 'the cancel processed');
      gate.resolve();
      await within(busy.finished.promise, 'the busy generator’s finally', 2_000);
      // A generator waiting for credit.
      p.send({ t: 'stream', id: 7, name: 'forever', credit: 5 });
      await until(() => itemsOf(p, 7).length === 5, '5 items');
      p.send({ t: 'cancel', id: 7 });
      await within(runs[0]!.finished.promise, 'the generator’s finally', 2_000);
      // Credit for the dead id would release more items if the stream still ran.
      p.send({ t: 'credit', id: 7, n: 100 });
      p.send({ t: 'cancel', id: 7 });
      p.send({ t: 'call', id: 8, name: 'noop' });
      await p.answer(8);
      expect(itemsOf(p, 7)).toHaveLength(5);
      expect(itemsOf(p, 5)).toEqual(['first']);
      expect(p.frames.filter((f) => (f.id === 5 || f.id === 7) && f.t !== 'item')).toEqual([]);
      expect(p.ws.readyState).toBe(WebSocket.OPEN);
    });
  });

  describe('ending and failing on the server', () => {
    it('ends when the generator returns early', async () => {
      const { url, server } = await setup(codec);
      const finished = deferred();
      server.stream('short', async function* () {
        try {
          yield 'a';
          yield 'b';
          return;
        } finally {
          finished.resolve();
        }
      });
      const c = client(url, codec);
      expect(await drain(c.stream('short'))).toEqual(['a', 'b']);
      await within(finished.promise, 'finally');
    });

    it('a ServerError rejects with its code, message and details, after the items before it', async () => {
      const { url, server } = await setup(codec);
      server.stream('coded', async function* () {
        yield 1;
        yield 2;
        throw new ServerError('SOLD_OUT', 'No seats left', { left: 0, tried: ['A1', 'B2'] });
      });
      const c = client(url, codec);
      const seen: unknown[] = [];
      const err = await (async () => {
        for await (const x of c.stream('coded')) seen.push(x);
      })().catch((e: unknown) => e);
      expect(seen).toEqual([1, 2]);
      expect(err).toMatchObject({ code: 'SOLD_OUT', message: 'No seats left', details: { left: 0, tried: ['A1', 'B2'] } });
    });

    it('a plain Error rejects with INTERNAL and a generic message, and is logged', async () => {
      const { url, server, logger } = await setup(codec);
      server.stream('crash', async function* () {
        yield 1;
        throw new Error('db password is hunter2');
      });
      const c = client(url, codec);
      const err = (await drain(c.stream('crash')).catch((e: unknown) => e)) as Error & { code: string };
      expect(err.code).toBe('INTERNAL');
      expect(err.message).not.toContain('hunter2');
      const logged = logger.lines.filter((l) => l.level === 'error');
      expect(logged).toHaveLength(1);
      expect((logged[0]!.obj as { err: Error }).err.message).toBe('db password is hunter2');
      expect(await c.call('noop')).toBe('ok');
    });

    it('rejects an unknown stream with NOT_FOUND and bad input with INVALID_INPUT ({ input: schema })', async () => {
      const { url, server } = await setup(codec);
      let ran = 0;
      server.stream('range', { input: z.object({ n: z.number().int().max(1_000), label: z.string().default('x') }) }, async function* ({ n, label }) {
        ran++;
        for (let i = 0; i < n; i++) yield `${label}${i}`;
      });
      const c = client(url, codec);
      await expect(c.stream('nope').next()).rejects.toMatchObject({ code: 'NOT_FOUND' });
      const err = await drain(c.stream('range', { n: 'three' })).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'INVALID_INPUT', details: { issues: [expect.objectContaining({ path: ['n'] })] } });
      expect(ran).toBe(0);
      // The schema's output is the handler's input (the default applied).
      expect(await drain(c.stream('range', { n: 3 }))).toEqual(['x0', 'x1', 'x2']);
    });
  });

  describe('disconnection', () => {
    it('server.close() mid-stream: the iterator rejects DISCONNECTED, the finally runs, nothing leaks', async () => {
      const baseline = await quietBaseline();
      const { url, server, runs } = await setup(codec);
      const c = client(url, codec);
      const reader = c.stream('forever');
      await reader.next();
      const closing = server.close();
      await expect(drain(reader)).rejects.toMatchObject({ code: 'DISCONNECTED' });
      await within(runs[0]!.finished.promise, 'the generator’s finally', 2_000);
      expect(runs[0]!.ctx.signal.reason).toMatchObject({ code: 'DISCONNECTED' });
      await closing;
      c.close();
      await backToBaseline(baseline);
    });

    it('a terminated client socket: DISCONNECTED, the finally runs, the client reconnects, nothing leaks', async () => {
      const baseline = await quietBaseline();
      const { url, server, runs } = await setup(codec);
      const c = client(url, codec, { WebSocket: Tapped, reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
      const reader = c.stream('forever');
      await reader.next();
      TappedSocket.last!.terminate();
      await expect(drain(reader)).rejects.toMatchObject({ code: 'DISCONNECTED' });
      await within(runs[0]!.finished.promise, 'the generator’s finally', 2_000);
      expect(runs[0]!.ctx.signal.reason).toMatchObject({ code: 'DISCONNECTED' });
      await until(() => c.state === 'open', 'reconnected');
      // Not resumed: a new stream starts from the beginning.
      expect(await drain(c.stream('count', 3))).toEqual([0, 1, 2]);
      expect(runs).toHaveLength(1);
      c.close();
      await server.close();
      await backToBaseline(baseline);
    });
  });

  describe('binary values', () => {
    /** Every binary position of the payload, with what it must arrive as. */
    function payload() {
      const u8 = new Uint8Array(randomBytes(100_000));
      const ab = new Uint8Array(randomBytes(1_000)).buffer;
      const buf = randomBytes(10_007).subarray(7); // a view with a byteOffset
      const deep = new Uint8Array(randomBytes(33));
      const inList = randomBytes(17);
      const f32 = new Float32Array([1.5, -2.25, Math.PI]);
      const dvBytes = randomBytes(16);
      const dv = new DataView(dvBytes.buffer, dvBytes.byteOffset + 3, 9);
      const value = {
        u8,
        ab,
        buf,
        empty: new Uint8Array(0),
        list: [1, inList, 'text', null, { deeper: [[deep]] }],
        f32,
        dv,
        meta: { name: 'a.png', size: 3 },
      };
      const expected: [string, (v: typeof value) => unknown, Buffer][] = [
        ['u8', (v) => v.u8, asBuffer(u8)],
        ['ab', (v) => v.ab, asBuffer(ab)],
        ['buf', (v) => v.buf, asBuffer(buf)],
        ['empty', (v) => v.empty, Buffer.alloc(0)],
        ['list[1]', (v) => v.list[1], asBuffer(inList)],
        ['list[4].deeper[0][0]', (v) => (v.list[4] as { deeper: Uint8Array[][] }).deeper[0]![0], asBuffer(deep)],
        // Other views travel as their bytes, under either codec.
        ['f32', (v) => v.f32, Buffer.from(f32.buffer)],
        ['dv', (v) => v.dv, Buffer.from(dvBytes.subarray(3, 12))],
      ];
      return { value, expected };
    }
    function checkArrived(v: unknown, expected: ReturnType<typeof payload>['expected']) {
      for (const [where, get, bytes] of expected) {
        const got = get(v as never);
        expect(got, where).toBeInstanceOf(Uint8Array);
        expect(sha256(got as Uint8Array), where).toBe(sha256(bytes));
      }
      expect((v as { list: unknown[] }).list.filter((x) => !(x instanceof Uint8Array))).toEqual([1, 'text', null, { deeper: [[expect.any(Uint8Array)]] }]);
      expect((v as { meta: unknown }).meta).toEqual({ name: 'a.png', size: 3 });
    }

    it('round-trip intact in call input and output (Uint8Array, ArrayBuffer, Buffer, views, nested)', async () => {
      const { url, server } = await setup(codec);
      let atServer: unknown;
      server.command('keep', (input: unknown) => ((atServer = input), input));
      const c = client(url, codec);
      const { value, expected } = payload();
      const back = await c.call('keep', value);
      checkArrived(atServer, expected);
      checkArrived(back, expected);
    });

    it('round-trip intact in event data (client and server publishes)', async () => {
      const { url, server } = await setup(codec);
      server.topic('blob', { subscribe: true, publish: true });
      const sub = client(url, codec);
      const got: unknown[] = [];
      await sub.subscribe('blob', (d) => got.push(d)).ready;
      const pub = client(url, codec);
      const { value, expected } = payload();
      const big = randomBytes(2 * 1024 * 1024);
      await pub.publish('blob', value);
      await server.publish('blob', { big });
      await until(() => got.length === 2, 'two messages');
      checkArrived(got[0], expected);
      expect(sha256((got[1] as { big: Uint8Array }).big)).toBe(sha256(big));
    });

    it('round-trip intact as stream items', async () => {
      const { url, server } = await setup(codec);
      const chunks = Array.from({ length: 64 }, (_, i) => randomBytes(1_000 + i * 517));
      server.stream('chunks', async function* () {
        for (const [i, data] of chunks.entries()) yield { seq: i, data };
      });
      const c = client(url, codec);
      const h = createHash('sha256');
      let seq = 0;
      for await (const item of c.stream('chunks')) {
        const { seq: s, data } = item as { seq: number; data: Uint8Array };
        expect(s).toBe(seq++);
        expect(data).toBeInstanceOf(Uint8Array);
        h.update(data);
      }
      expect(h.digest('hex')).toBe(sha256(...chunks));
    });

    it('travel as one binary WebSocket message per frame, never as base64 or a number array (raw frames)', async () => {
      const { url, server } = await setup(codec);
      server.topic('blob', { subscribe: true, publish: true });
      server.stream('repeat', async function* ({ bytes, times }: { bytes: Uint8Array; times: number }) {
        for (let i = 0; i < times; i++) yield bytes;
      });
      server.upload('sha', async (_input, items: AsyncIterable<Uint8Array>) => {
        const h = createHash('sha256');
        for await (const c of items) h.update(c);
        return h.digest('hex');
      });
      const [callBytes, pubBytes, streamBytes, uploadBytes] = [randomBytes(4_096), randomBytes(4_096), randomBytes(4_096), randomBytes(4_096)];
      const watcher = await rawPeer(url, codec);
      const fromServer: { data: Buffer; binary: boolean }[] = [];
      watcher.ws.on('message', (data: Buffer, binary: boolean) => fromServer.push({ data, binary }));
      watcher.send({ t: 'sub', id: 1, topic: 'blob' });
      await watcher.answer(1);

      const c = client(url, codec, { WebSocket: Tapped });
      await until(() => c.state === 'open', 'open');
      const tap = TappedSocket.last!;
      await c.subscribe('blob', () => {}).ready;
      const echoed = (await c.call('echo', { bytes: callBytes })) as { bytes: Uint8Array };
      expect(sha256(echoed.bytes)).toBe(sha256(callBytes));
      await c.publish('blob', { note: 'hi', bytes: pubBytes });
      expect(await drain(c.stream('repeat', { bytes: streamBytes, times: 3 }))).toHaveLength(3);
      expect(await c.upload('sha', [uploadBytes])).toBe(sha256(uploadBytes));
      await until(() => fromServer.some((m) => m.data.includes(pubBytes)), 'the message at the raw watcher');

      const hostile = (bytes: Buffer) => [
        bytes.toString('base64').slice(0, 40),
        bytes.toString('base64url').slice(0, 40),
        `${bytes[0]},${bytes[1]},${bytes[2]},${bytes[3]}`, // [1,2,3,…]
        `"0":${bytes[0]},"1":${bytes[1]}`, // {"0":1,"1":2,…}
      ];
      const check = (messages: { data: Buffer; binary: boolean }[], bytes: Buffer, copies: number, what: string) => {
        const holding = messages.filter((m) => m.data.includes(bytes));
        expect(holding, what).toHaveLength(copies);
        for (const m of holding) {
          expect(m.binary, what).toBe(true);
          // The message is the whole frame: it decodes alone.
          const d = CODEC[codec].decode(m.data, true);
          expect(d.ok, what).toBe(true);
        }
        for (const m of messages) for (const h of hostile(bytes)) expect(m.data.includes(h), `${what}: ${h}`).toBe(false);
      };
      check(tap.sent, callBytes, 1, 'call input (client → server)');
      check(tap.received, callBytes, 1, 'call output (server → client)');
      check(tap.sent, pubBytes, 1, 'pub data (client → server)');
      check(tap.received, pubBytes, 1, 'msg data (server → client)');
      check(fromServer, pubBytes, 1, 'msg data (server → raw watcher)');
      check(tap.sent, streamBytes, 1, 'stream input (client → server)');
      check(tap.received, streamBytes, 3, 'stream items (server → client)');
      check(tap.sent, uploadBytes, 1, 'upload item (client → server)');
      if (codec === 'json') {
        // Frames without binary values stay text (debuggable).
        expect(tap.sent.filter((m) => !m.binary).length).toBeGreaterThan(0);
        expect(fromServer.find((m) => !m.binary)).toBeDefined();
      } else {
        expect([...tap.sent, ...tap.received, ...fromServer].every((m) => m.binary)).toBe(true);
      }
    });
  });

  describe('uploads', () => {
    it('uploads 64 MB in 64 KB chunks intact (SHA-256 on the server)', async () => {
      const { url, server } = await setup(codec);
      server.upload('sha', async ({ name }: { name: string }, items: AsyncIterable<Uint8Array>) => {
        const h = createHash('sha256');
        let bytes = 0;
        let chunks = 0;
        for await (const c of items) {
          h.update(c);
          bytes += c.byteLength;
          chunks++;
        }
        return { name, sha: h.digest('hex'), bytes, chunks };
      });
      const { bytes, sha } = bigUpload();
      const c = client(url, codec);
      await until(() => c.state === 'open', 'open');
      const CHUNK = 64 * 1024;
      function* chunks() {
        for (let at = 0; at < bytes.length; at += CHUNK) yield bytes.subarray(at, at + CHUNK);
      }
      const started = performance.now();
      const result = await c.upload('sha', chunks(), { input: { name: 'big.bin' } });
      figures[`64 MB upload, ${codec}`] = `${Math.round(performance.now() - started)} ms`;
      expect(result).toEqual({ name: 'big.bin', sha, bytes: 64 * 1024 * 1024, chunks: 1_024 });
    });

    it('grants credit as the handler consumes; a raw peer that sends beyond its credit is closed with 1008', async () => {
      const { url, server } = await setup(codec);
      server.upload('sum', { highWaterMark: 4 }, async (_input, items: AsyncIterable<number>) => {
        let sum = 0;
        for await (const n of items) sum += n;
        return sum;
      });
      const hold = deferred();
      server.upload('hold', { highWaterMark: 4 }, async (_input, _items, ctx) => {
        // Consumes nothing: the credit stays at its first grant.
        await new Promise((r) => ctx.signal.addEventListener('abort', r));
        hold.resolve();
      });
      const p = await rawPeer(url, codec);
      const credit = (id: number) => p.frames.filter((f) => f.t === 'credit' && f.id === id).reduce((n, f) => n + (f.n as number), 0);
      // Well-behaved: never more than granted, and the handler's consumption re-grants.
      p.send({ t: 'upload', id: 1, name: 'sum' });
      let sent = 0;
      for (let n = 1; n <= 20; n++) {
        await until(() => credit(1) > sent, `credit for item ${n}`);
        p.send({ t: 'item', id: 1, items: [n] });
        sent++;
      }
      p.send({ t: 'end', id: 1 });
      expect(await p.answer(1)).toMatchObject({ t: 'ok', output: 210 });
      expect(p.frames.find((f) => f.t === 'credit' && f.id === 1)).toMatchObject({ n: 4 });
      // Abusive: five items on a credit of four.
      p.send({ t: 'upload', id: 2, name: 'hold' });
      await until(() => credit(2) === 4, 'first grant');
      p.send({ t: 'item', id: 2, items: [1, 2, 3] });
      p.send({ t: 'call', id: 3, name: 'noop' });
      await p.answer(3); // within credit: still open
      p.send({ t: 'item', id: 2, items: [4, 5] });
      expect(await p.closed()).toBe(1008);
      await within(hold.promise, 'the handler aborted with the connection');
    });

    it('the client reads its source no faster than the server’s credit allows (+2), at every step', async () => {
      const { url, server } = await setup(codec);
      const hwm = 4;
      /**
       * Slack: the server re-grants as its iterable hands an item over, one step before the handler
       * body below counts it (+1); the client pulls an item from its source before it waits for
       * credit to send it (+1). So pulled − consumed ≤ hwm + 2.
       */
      const SLACK = 2;
      let pulled = 0;
      let consumed = 0;
      const gaps: number[] = [];
      server.upload('slow', { highWaterMark: hwm }, async (_input, items: AsyncIterable<number>) => {
        for await (const n of items) {
          expect(n).toBe(consumed);
          consumed++;
          gaps.push(pulled - consumed);
          if (consumed === 20) return consumed;
          await new Promise((r) => setTimeout(r, 10)); // the deliberate pacing of a slow consumer
        }
      });
      function* source() {
        // Bounded: a client that ignored credit would send all of it at once.
        for (let i = 0; i < 200; i++) {
          pulled++;
          gaps.push(pulled - consumed);
          yield i;
        }
      }
      const c = client(url, codec);
      expect(await c.upload('slow', source())).toBe(20);
      figures[`upload: max pulled − consumed (hwm ${hwm}), ${codec}`] = String(Math.max(...gaps));
      expect(Math.max(...gaps)).toBeLessThanOrEqual(hwm + SLACK);
      expect(Math.max(...gaps)).toBeGreaterThanOrEqual(hwm);
      expect(pulled).toBeLessThanOrEqual(20 + hwm + SLACK);
    });

    it('a client cancel (signal) rejects ABORTED; the handler’s items throw ABORTED; its error crashes nothing', async () => {
      const { url, server, logger } = await setup(codec);
      let received = 0;
      let handlerErr: unknown;
      const handlerDone = deferred();
      server.upload('drain', async (_input, items: AsyncIterable<Uint8Array>) => {
        try {
          for await (const _ of items) received++;
        } catch (err) {
          handlerErr = err;
          throw err; // the handler fails: nobody is listening any more, and nothing may crash
        } finally {
          handlerDone.resolve();
        }
      });
      const c = client(url, codec);
      let sourceClosed = false;
      async function* endless() {
        try {
          for (;;) yield randomBytes(1_024);
        } finally {
          sourceClosed = true;
        }
      }
      const ac = new AbortController();
      const upload = c.upload('drain', endless(), { signal: ac.signal });
      await until(() => received >= 20, '20 items at the server');
      ac.abort();
      await expect(upload).rejects.toMatchObject({ code: 'ABORTED' });
      await within(handlerDone.promise, 'the handler to end');
      expect(handlerErr).toMatchObject({ code: 'ABORTED' });
      await until(() => sourceClosed, 'the client’s source closed');
      expect(await c.call('noop')).toBe('ok');
      expect(logger.lines.filter((l) => l.level === 'error')).toEqual([]);
    });

    it('a throwing source rejects the upload with its error and cancels the server side, leaving nothing pending', async () => {
      await quietBaseline(); // sockets of earlier tests, and their timers, are gone
      const { url, server } = await setup(codec);
      let handlerErr: unknown;
      const handlerDone = deferred();
      server.upload('drain', async (_input, items: AsyncIterable<Uint8Array>) => {
        try {
          for await (const _ of items);
        } catch (err) {
          handlerErr = err;
        } finally {
          handlerDone.resolve();
        }
      });
      // stableAfterMs: the client's stability timer would otherwise expire during the wait below
      // and hide a leaked timer from the count.
      const c = client(url, codec, { reconnect: { stableAfterMs: 600_000 } });
      await until(() => c.state === 'open', 'open');
      const baseline = await baselineNow();
      const broken = new Error('disk read failed');
      async function* source() {
        for (let i = 0; i < 3; i++) yield randomBytes(1_024);
        throw broken;
      }
      // A timeout and a signal arm a timer and a listener for the upload's answer: neither may
      // outlive the upload.
      const ac = new AbortController();
      await expect(c.upload('drain', source(), { timeoutMs: 60_000, signal: ac.signal })).rejects.toBe(broken);
      await within(handlerDone.promise, 'the handler to end');
      expect(handlerErr).toMatchObject({ code: 'ABORTED' });
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
      await backToBaseline(baseline);
      expect(await c.call('noop')).toBe('ok');
    });

    it('a handler that fails or returns early settles the upload and closes the client’s source', async () => {
      const { url, server } = await setup(codec);
      server.upload('picky', async (_input, items: AsyncIterable<number>) => {
        for await (const n of items) if (n === 3) throw new ServerError('TOO_BIG', 'No more than 2', { max: 2 });
      });
      server.upload('first', async (_input, items: AsyncIterable<number>) => {
        for await (const n of items) return n;
      });
      const c = client(url, codec);
      const closed: string[] = [];
      async function* numbers(name: string) {
        try {
          for (let n = 1; ; n++) yield n;
        } finally {
          closed.push(name);
        }
      }
      await expect(c.upload('picky', numbers('picky'))).rejects.toMatchObject({ code: 'TOO_BIG', details: { max: 2 } });
      expect(await c.upload('first', numbers('first'))).toBe(1);
      await until(() => closed.length === 2, 'both sources closed');
      expect(await c.call('noop')).toBe('ok');
    });
  });

  describe('limits', () => {
    it('more live streams than limits.maxPendingCalls → LIMIT_EXCEEDED; they count toward calls too', async () => {
      const { url, runs } = await setup(codec, { limits: { maxPendingCalls: 3 } });
      const c = client(url, codec);
      const readers: StreamReader<unknown>[] = [1, 2, 3].map(() => c.stream('forever'));
      for (const r of readers) await r.next();
      const refused = { code: 'LIMIT_EXCEEDED', details: { limit: 'maxPendingCalls', value: 3 } };
      await expect(c.stream('forever').next()).rejects.toMatchObject(refused);
      await expect(c.upload('sink', [1])).rejects.toMatchObject(refused);
      // docs/streams.md: live streams and uploads count toward limits.maxPendingCalls.
      await expect(c.call('noop')).rejects.toMatchObject(refused);
      readers[0]!.cancel();
      await within(runs[0]!.finished.promise, 'the first generator’s finally');
      expect(await c.call('noop')).toBe('ok');
      expect((await c.stream('forever').next()).value).toBe(0);
      expect(runs).toHaveLength(4);
    });
  });
});
