/**
 * Streams, uploads and binary values (docs/protocol.md §2.3, §2.6; docs/streams.md) against a
 * server process on every runtime of test/runtime-server.ts, under both codecs where the codec
 * shapes the wire: order, credit never exceeded (both ways), cancellation reaching the generator,
 * errors after items, and bytes intact. The handler-side API stays in test/streams.test.ts; the
 * raw consumer's credit check moved here from it, and malformed credit from test/conformance.test.ts.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { msgpack } from '../src/msgpack/index.js';
import { createTestScope, until, within, type RawPeer } from './helpers.js';
import { RUNTIMES, sharedRuntimeServer, warnSkippedRuntimes } from './runtime-server.js';

warnSkippedRuntimes('test/runtime-streams.test.ts');
const scope = createTestScope();

const CODECS = ['json', 'msgpack'] as const;
const SUBPROTOCOL = { json: 'switchboard.v1.json', msgpack: 'switchboard.v1.msgpack' } as const;

/** Items a raw peer received for stream `id`, flattened in arrival order. */
const itemsOf = (p: RawPeer, id: number) => p.frames.filter((f) => f.t === 'item' && f.id === id).flatMap((f) => f.items as unknown[]);
/** Credit a raw peer was granted for upload `id`, in all. */
const creditOf = (p: RawPeer, id: number) => p.frames.filter((f) => f.t === 'credit' && f.id === id).reduce((n, f) => n + (f.n as number), 0);

async function drain<T>(reader: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of reader) out.push(x);
  return out;
}

describe.each(RUNTIMES)('streams on $name', (runtime) => {
  describe.skipIf(runtime.skip !== undefined)(runtime.skip ? `skipped: ${runtime.skip}` : 'against a server process', () => {
    const shared = sharedRuntimeServer(runtime);

    describe.each(CODECS)('%s', (codec) => {
      const client = () => scope.client(shared().url, { codec: codec === 'msgpack' ? msgpack() : codec });
      const rawPeer = async () => {
        const p = await scope.peer(shared().url, [SUBPROTOCOL[codec]]).ready();
        expect(p.ws.protocol).toBe(SUBPROTOCOL[codec]);
        return p;
      };

      it('delivers 5,000 items complete and in order, batched or not', async () => {
        const c = client();
        const want = Array.from({ length: 5_000 }, (_, i) => i);
        expect(await within(drain(c.stream('count', 5_000)), 'count', 15_000)).toEqual(want);
        expect(await within(drain(c.stream('batched', 5_000)), 'batched', 15_000)).toEqual(want);
      });

      it('never sends more items than the credit granted (raw consumer)', async () => {
        const p = await rawPeer();
        const fence = async (id: number) => {
          p.send({ t: 'call', id, name: 'echo', input: id });
          await p.answer(id);
        };
        p.send({ t: 'stream', id: 1, name: 'count', input: 100, credit: 5 });
        await until(() => itemsOf(p, 1).length >= 5, '5 items');
        await fence(2);
        expect(itemsOf(p, 1)).toEqual([0, 1, 2, 3, 4]);
        p.send({ t: 'credit', id: 1, n: 3 });
        await until(() => itemsOf(p, 1).length >= 8, '8 items');
        await fence(3);
        expect(itemsOf(p, 1)).toHaveLength(8);
        expect(p.frames.some((f) => f.t === 'end')).toBe(false);
        p.send({ t: 'credit', id: 1, n: 1_000 });
        await p.next((f) => f.t === 'end' && f.id === 1, 'end');
        expect(itemsOf(p, 1)).toEqual(Array.from({ length: 100 }, (_, i) => i));
      });

      it('round-trips bytes intact in call input, output and stream items', async () => {
        const c = client();
        const bytes = new Uint8Array(randomBytes(16_000));
        const echoed = (await c.call('echo', { nested: [bytes] })) as { nested: Uint8Array[] };
        expect(Buffer.from(echoed.nested[0]!)).toEqual(Buffer.from(bytes));
        const items = (await drain(c.stream('bytes', { n: 3, size: 1_000 }))) as Uint8Array[];
        expect(items.map((b) => [b.byteLength, b[0], b[999]])).toEqual([
          [1_000, 0, 0],
          [1_000, 1, 1],
          [1_000, 2, 2],
        ]);
      });
    });

    describe('malformed flow-control frames (docs/protocol.md §2.3)', () => {
      /** Frames arrive in order: once the pong is in, everything sent before it is too. */
      const settled = async (p: RawPeer) => {
        const pongs = p.frames.filter((f) => f.t === 'pong').length;
        p.send({ t: 'ping' });
        await until(() => p.frames.filter((f) => f.t === 'pong').length > pongs, 'pong');
      };
      const ask = (p: RawPeer, frame: { id: number } & Record<string, unknown>) => (p.send(frame), p.answer(frame.id));

      it('credit with n: 0 for a live stream ends that stream with err BAD_REQUEST: nothing follows for its id', async () => {
        const p = await scope.peer(shared().url).ready();
        let calls = 100;
        const live = async () => (await ask(p, { t: 'call', id: calls++, name: 'liveStreams' })).output as number;
        const before = await live();
        p.send({ t: 'stream', id: 1, name: 'forever', credit: 2 });
        await until(() => p.frames.filter((f) => f.t === 'item' && f.id === 1).length === 2, 'two items');
        p.send({ t: 'credit', id: 1, n: 0 });
        expect(await p.answer(1)).toMatchObject({ t: 'err', id: 1, code: 'BAD_REQUEST' });
        // The generator closed (its finally ran): bounded polling, nothing on the wire says when.
        for (let i = 0; (await live()) !== before; i++) {
          if (i === 200) throw new Error('the generator did not finish');
          await new Promise((r) => setTimeout(r, 10));
        }
        // The stream is over: a valid credit now is for an id that is not live, and is ignored.
        p.send({ t: 'credit', id: 1, n: 5 });
        expect(await ask(p, { t: 'call', id: 2, name: 'echo', input: 'alive' })).toMatchObject({ t: 'ok' });
        await settled(p);
        expect(p.frames.filter((f) => f.id === 1).map((f) => f.t)).toEqual(['item', 'item', 'err']);
      });

      it('a malformed credit for an id that is not live is answered err BAD_REQUEST; a valid one is ignored', async () => {
        const p = await scope.peer(shared().url).ready();
        expect(await ask(p, { t: 'credit', id: 9, n: 0 })).toMatchObject({ t: 'err', id: 9, code: 'BAD_REQUEST' });
        p.send({ t: 'credit', id: 10, n: 1 });
        await settled(p);
        expect(p.frames.some((f) => f.id === 10)).toBe(false);
      });
    });

    it('a break stops the generator on the server (its finally runs)', async () => {
      const c = scope.client(shared().url);
      const before = (await c.call('liveStreams')) as number;
      let n = 0;
      for await (const _ of c.stream('forever')) if (++n === 1_000) break;
      const deadline = Date.now() + 5_000;
      while (((await c.call('liveStreams')) as number) !== before) {
        if (Date.now() > deadline) throw new Error('the generator did not finish after break');
        await new Promise((r) => setTimeout(r, 10));
      }
    });

    it('an error after items rejects with its code, message and details after those items; an unknown stream is NOT_FOUND', async () => {
      const c = scope.client(shared().url);
      const got: number[] = [];
      const run = (async () => {
        for await (const x of c.stream('failAfter', { n: 3, code: 'SOLD_OUT' })) got.push(x as number);
      })();
      await expect(run).rejects.toMatchObject({ code: 'SOLD_OUT', message: 'failed on purpose', details: { after: 3 } });
      expect(got).toEqual([0, 1, 2]);
      await expect(drain(c.stream('nope'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('uploads 4 MB in 64 KB chunks intact (SHA-256 on the server)', async () => {
      const c = scope.client(shared().url);
      const bytes = randomBytes(4 * 1024 * 1024);
      async function* chunks() {
        for (let i = 0; i < bytes.length; i += 64 * 1024) yield new Uint8Array(bytes.subarray(i, i + 64 * 1024));
      }
      const out = await within(c.upload('sha256', chunks()), 'the upload', 15_000);
      expect(out).toEqual({ sha: createHash('sha256').update(bytes).digest('hex'), chunks: 64 });
    });

    it('grants upload credit as the handler consumes; a raw peer that sends beyond its credit is closed with 1008', async () => {
      const p = await scope.peer(shared().url).ready();
      p.send({ t: 'upload', id: 1, name: 'sum' });
      let sent = 0;
      for (let n = 1; n <= 20; n++) {
        await until(() => creditOf(p, 1) > sent, `credit for item ${n}`);
        p.send({ t: 'item', id: 1, items: [n] });
        sent++;
      }
      p.send({ t: 'end', id: 1 });
      expect(await p.answer(1)).toMatchObject({ t: 'ok', output: 210 });
      expect(p.frames.find((f) => f.t === 'credit' && f.id === 1)).toMatchObject({ n: 4 });
      p.send({ t: 'upload', id: 2, name: 'hold' });
      await until(() => creditOf(p, 2) === 4, 'first grant');
      p.send({ t: 'item', id: 2, items: [1, 2, 3] });
      p.send({ t: 'call', id: 3, name: 'echo', input: 3 });
      await p.answer(3); // within credit: still open
      p.send({ t: 'item', id: 2, items: [4, 5] });
      expect(await p.closed()).toBe(1008);
    });
  });
});
