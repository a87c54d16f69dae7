/**
 * One depth limit for every codec (docs/protocol.md §2.6): values up to MAX_DEPTH containers travel
 * under JSON and MessagePack alike; a deeper value is refused with a coded error where it enters —
 * call input, publish data, handler output, error details, stream items, upload items,
 * server.publish — before anything is delivered, so no codec's subscribers get what another's lose.
 * Real sockets on 127.0.0.1:0; raw peers, so the test sees every frame.
 */
import { silentLogger } from '../src/shared/logger.js';
import { Encoder } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { MAX_DEPTH } from '../src/protocol/depth.js';
import { redisEmitter } from '../src/engines/redis/index.js';
import { ServerError } from '../src/server/index.js';
import { createTestScope, guardUnhandledRejections, type RawPeer } from './helpers.js';
import { dropPrefix, REDIS_URL, requireRedis, testPrefix } from './redis-helpers.js';

const hasRedis = await requireRedis('test/depth.test.ts');

const CODECS = ['json', 'msgpack'] as const;
type CodecName = (typeof CODECS)[number];
const SUBPROTOCOL: Record<CodecName, string> = { json: 'switchboard.v1.json', msgpack: 'switchboard.v1.msgpack' };

guardUnhandledRejections();
const scope = createTestScope();

/** `levels` nested arrays around `leaf`. */
function nest(levels: number, leaf: unknown = 'bottom'): unknown {
  let v = leaf;
  for (let i = 0; i < levels; i++) v = [v];
  return v;
}

/** How many arrays `v` nests (for values built by {@link nest}). */
function depthOf(v: unknown): number {
  let n = 0;
  while (Array.isArray(v)) {
    v = v[0];
    n++;
  }
  return n;
}

/** Encodes a frame past what our own codecs agree to send: a misbehaving peer's encoder. */
const unbounded = new Encoder({ maxDepth: 100_000 });
function sendRaw(p: RawPeer, frame: unknown): void {
  if (p.ws.protocol === SUBPROTOCOL.msgpack) p.ws.send(unbounded.encode(frame));
  else p.ws.send(JSON.stringify(frame));
}

const TOO_DEEP = nest(MAX_DEPTH + 1);

async function setup() {
  const log = { streamFinally: 0, uploadItems: 0 };
  const { server, url } = await scope.server({}, (s) =>
    s
      .topic('room', { subscribe: true, publish: true })
      .command('echo', (x) => x)
      .command('deepOut', (n: number) => nest(n))
      .command('deepDetails', () => {
        throw new ServerError('DEEP', 'deep details', TOO_DEEP);
      })
      .stream('echoItems', async function* (x: unknown) {
        try {
          yield 'first';
          yield x;
          yield 'after';
        } finally {
          log.streamFinally++;
        }
      })
      .stream('deepItems', async function* () {
        try {
          yield 'first';
          yield TOO_DEEP;
          yield 'never';
        } finally {
          log.streamFinally++;
        }
      })
      .upload('count', async (_input, items) => {
        let n = 0;
        for await (const item of items) {
          log.uploadItems++;
          n = Math.max(n, depthOf(item));
        }
        return n;
      }),
  );
  const peer = async (codec: CodecName) => scope.peer(url, [SUBPROTOCOL[codec]]).ready();
  return { server, url, log, peer };
}

/** Sends a request frame and waits for its answer. */
async function ask(p: RawPeer, frame: { id: number } & Record<string, unknown>, raw = false) {
  if (raw) sendRaw(p, frame);
  else p.send(frame);
  return p.answer(frame.id);
}

describe.each(CODECS)('depth limit, %s', (codec) => {
  it('call input: MAX_DEPTH levels go and come back; one more is BAD_REQUEST and the handler does not run', async () => {
    const { peer } = await setup();
    const p = await peer(codec);
    const ok = await ask(p, { t: 'call', id: 1, name: 'echo', input: nest(MAX_DEPTH) });
    expect(ok.t).toBe('ok');
    expect(depthOf(ok.output)).toBe(MAX_DEPTH);
    // 200 levels: past MessagePack's default of 100, the depth of the original report.
    expect(depthOf((await ask(p, { t: 'call', id: 2, name: 'echo', input: nest(200) })).output)).toBe(200);
    expect(await ask(p, { t: 'call', id: 3, name: 'echo', input: TOO_DEEP }, true)).toMatchObject({ t: 'err', id: 3, code: 'BAD_REQUEST' });
    expect(await ask(p, { t: 'call', id: 4, name: 'echo', input: 'alive' })).toEqual({ t: 'ok', id: 4, output: 'alive' });
  });

  it('handler output and error details past the limit → INTERNAL under this codec too', async () => {
    const { peer } = await setup();
    const p = await peer(codec);
    expect(depthOf((await ask(p, { t: 'call', id: 1, name: 'deepOut', input: MAX_DEPTH })).output)).toBe(MAX_DEPTH);
    expect(await ask(p, { t: 'call', id: 2, name: 'deepOut', input: MAX_DEPTH + 1 })).toMatchObject({ t: 'err', id: 2, code: 'INTERNAL' });
    expect(await ask(p, { t: 'call', id: 3, name: 'deepDetails' })).toMatchObject({ t: 'err', id: 3, code: 'INTERNAL' });
  });

  it('stream items: MAX_DEPTH levels arrive; a deeper item ends the stream with INTERNAL, nothing after it', async () => {
    const { peer, log } = await setup();
    const p = await peer(codec);
    p.send({ t: 'stream', id: 1, name: 'echoItems', input: nest(MAX_DEPTH), credit: 10 });
    await p.next((f) => f.t === 'end' && f.id === 1, 'end of stream 1');
    const items = p.frames.filter((f) => f.t === 'item' && f.id === 1).flatMap((f) => f.items as unknown[]);
    expect(items.map((i) => (Array.isArray(i) ? depthOf(i) : i))).toEqual(['first', MAX_DEPTH, 'after']);

    p.send({ t: 'stream', id: 2, name: 'deepItems', credit: 10 });
    expect(await p.answer(2)).toMatchObject({ t: 'err', id: 2, code: 'INTERNAL' });
    const got = p.frames.filter((f) => f.t === 'item' && f.id === 2).flatMap((f) => f.items as unknown[]);
    expect(got).toEqual(['first']);
    expect(p.frames.some((f) => f.t === 'end' && f.id === 2)).toBe(false);
    await expect.poll(() => log.streamFinally).toBe(2);
  });

  it('stream and upload input past the limit → BAD_REQUEST', async () => {
    const { peer } = await setup();
    const p = await peer(codec);
    expect(await ask(p, { t: 'stream', id: 1, name: 'echoItems', input: TOO_DEEP, credit: 1 }, true)).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await ask(p, { t: 'upload', id: 2, name: 'count', input: TOO_DEEP }, true)).toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('upload items: MAX_DEPTH levels arrive; a deeper item ends the upload with BAD_REQUEST', async () => {
    const { peer, log } = await setup();
    const p = await peer(codec);
    p.send({ t: 'upload', id: 1, name: 'count' });
    await p.next((f) => f.t === 'credit' && f.id === 1, 'credit');
    p.send({ t: 'item', id: 1, items: [nest(MAX_DEPTH)] });
    p.send({ t: 'end', id: 1 });
    expect(await p.answer(1)).toEqual({ t: 'ok', id: 1, output: MAX_DEPTH });

    p.send({ t: 'upload', id: 2, name: 'count' });
    await p.next((f) => f.t === 'credit' && f.id === 2, 'credit');
    sendRaw(p, { t: 'item', id: 2, items: [TOO_DEEP] });
    expect(await p.answer(2)).toMatchObject({ t: 'err', id: 2, code: 'BAD_REQUEST' });
    // The upload is over: later items and its end are ignored, and no second answer comes.
    p.send({ t: 'item', id: 2, items: ['x'] });
    p.send({ t: 'end', id: 2 });
    expect(await ask(p, { t: 'call', id: 3, name: 'echo', input: 'alive' })).toMatchObject({ t: 'ok' });
    expect(p.frames.filter((f) => f.id === 2 && (f.t === 'ok' || f.t === 'err'))).toHaveLength(1);
    expect(log.uploadItems).toBe(1);
  });
});

describe('depth limit across codecs: never delivered to some subscribers and not others', () => {
  it.each(CODECS)('a %s publisher, JSON and MessagePack subscribers', async (pubCodec) => {
    const { peer } = await setup();
    const publisher = await peer(pubCodec);
    const subs = { json: await peer('json'), msgpack: await peer('msgpack') };
    for (const [i, s] of Object.values(subs).entries()) expect(await ask(s, { t: 'sub', id: 100 + i, topic: 'room' })).toMatchObject({ t: 'ok' });

    // 200 levels (the original report: reached JSON subscribers only): now every subscriber.
    expect(await ask(publisher, { t: 'pub', id: 1, topic: 'room', data: nest(200) })).toEqual({ t: 'ok', id: 1 });
    // Past the limit: the publisher gets a coded error and nobody gets the message.
    expect(await ask(publisher, { t: 'pub', id: 2, topic: 'room', data: TOO_DEEP }, true)).toMatchObject({ t: 'err', id: 2, code: 'BAD_REQUEST' });
    expect(await ask(publisher, { t: 'pub', id: 3, topic: 'room', data: 'sentinel' })).toEqual({ t: 'ok', id: 3 });
    for (const [name, s] of Object.entries(subs)) {
      await s.next((f) => f.t === 'msg' && f.data === 'sentinel', `${name} sentinel`);
      const got = s.frames.filter((f) => f.t === 'msg').map((f) => (Array.isArray(f.data) ? depthOf(f.data) : f.data));
      expect(got, name).toEqual([200, 'sentinel']);
    }
  });

  it('server.publish past the limit throws BAD_REQUEST and delivers nothing; at the limit it reaches both codecs', async () => {
    const { server, peer } = await setup();
    const subs = [await peer('json'), await peer('msgpack')];
    for (const [i, s] of subs.entries()) await ask(s, { t: 'sub', id: i + 1, topic: 'room' });
    await expect(server.publish('room', TOO_DEEP)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await server.publish('room', nest(MAX_DEPTH));
    for (const s of subs) {
      const m = await s.next((f) => f.t === 'msg', 'deep message');
      expect(depthOf(m.data)).toBe(MAX_DEPTH);
      expect(s.frames.filter((f) => f.t === 'msg')).toHaveLength(1);
    }
  });

  it.skipIf(!hasRedis)('the Redis emitter refuses past the limit too, before anything reaches Redis', async () => {
    const prefix = testPrefix();
    const emitter = await redisEmitter({ url: REDIS_URL, prefix, logger: silentLogger });
    try {
      await expect(emitter.publish('room', TOO_DEEP)).rejects.toMatchObject({ code: 'BAD_REQUEST' });
      await expect(emitter.publish('room', nest(MAX_DEPTH))).resolves.toBeUndefined();
    } finally {
      await emitter.close();
      await dropPrefix(prefix);
    }
  });
});
