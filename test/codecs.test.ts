/**
 * Calls, pub/sub and presence under both codecs (docs/protocol.md §2, §2.6): the same behaviours
 * the JSON-only suites check, run per codec, plus clients of both codecs sharing a topic, where each
 * publish is encoded once per codec in use (the encoders are wrapped with counting spies; the
 * network is real).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { z } from 'zod';
import { connect, type Client, type ClientOptions, type Member, type WebSocketConstructor } from '../src/client/node.js';
import { jsonCodec } from '../src/protocol/codec.js';
import { msgpack } from '../src/msgpack/index.js';
import { msgpackCodec } from '../src/protocol/msgpack.js';
import { ServerError, type Server } from '../src/server/index.js';
import { createTestScope, guardUnhandledRejections, recordingLogger, until } from './helpers.js';

const CODECS = ['json', 'msgpack'] as const;
type CodecName = (typeof CODECS)[number];

guardUnhandledRejections();
afterEach(() => vi.restoreAllMocks());
// Registered last, so its cleanup runs first: before the mocks are restored and the rejections checked.
const scope = createTestScope();

/** A client speaking `codec`. */
function client(url: string, codec: CodecName, opts: ClientOptions = {}): Client {
  // MessagePack is a plug-in on the client (switchboard/msgpack); JSON is built in.
  return scope.client(url, { codec: codec === 'msgpack' ? msgpack() : codec, ...opts });
}

async function setup(configure?: (s: Server<{ id: string }>) => void) {
  const logger = recordingLogger();
  const started = await scope.server<{ id: string }>(
    {
      logger,
      authenticate: (_req, token) => (token ? { id: token.split('#')[0]! } : null),
      presence: { info: (i) => ({ name: i.id.toUpperCase() }) },
      // The default rate limit (100/s, burst 200) would refuse a 2,000-publish burst from one client.
      limits: { rate: { perSecond: 10_000, burst: 5_000 } },
    },
    (s) => {
      s.topic('room:*', { subscribe: true, publish: true, presence: true })
        .topic('feed', { subscribe: true, publish: true })
        .command('add', ({ a, b }: { a: number; b: number }) => a + b)
        .command('echo', async (input: unknown) => input)
        .command('nothing', () => undefined)
        .command('fail', () => {
          throw new ServerError('INSUFFICIENT_FUNDS', 'Balance too low', { balance: 3, history: [{ at: 1, amount: -5.5 }], note: null });
        })
        .command('crash', () => {
          throw new Error('db password is hunter2');
        })
        .command('typed', { input: z.object({ n: z.number().int() }) }, ({ n }) => n * 2);
      configure?.(s);
    },
  );
  return { ...started, logger };
}

describe.each(CODECS)('codec %s', (codec) => {
  it('negotiates the codec’s subprotocol', async () => {
    const { url } = await setup();
    const negotiated: string[] = [];
    class Recording extends WebSocket {
      constructor(u: string, protocols?: string | string[]) {
        super(u, protocols);
        this.on('open', () => negotiated.push(this.protocol));
      }
    }
    const c = client(url, codec, { token: 'x', WebSocket: Recording as unknown as WebSocketConstructor });
    expect(await c.call('add', { a: 2, b: 3 })).toBe(5);
    expect(negotiated).toEqual([`switchboard.v1.${codec}`]);
  });

  it('call results: nested values, unicode, numbers, and undefined', async () => {
    const { url } = await setup();
    const c = client(url, codec, { token: 'x' });
    const value = {
      deep: [1, { x: 'é 😀 \u2028', y: [true, false, null] }],
      big: Number.MAX_SAFE_INTEGER,
      neg: -0.5,
      float: Math.PI,
      empty: { a: [], o: {} },
      long: 'z'.repeat(70_000),
    };
    expect(await c.call('echo', value)).toEqual(value);
    expect(await c.call('nothing')).toBeUndefined();
    expect(await c.call('echo', [1, 'two', null])).toEqual([1, 'two', null]);
    // undefined properties are dropped by both codecs; undefined array items become null.
    expect(await c.call('echo', { a: undefined, b: [undefined, 1] })).toEqual({ b: [null, 1] });
    expect(await c.call('typed', { n: 21 })).toBe(42);
  });

  it('call errors: NOT_FOUND, ServerError code/message/details, INTERNAL without internal text, INVALID_INPUT', async () => {
    const { url, logger } = await setup();
    const c = client(url, codec, { token: 'x' });
    await expect(c.call('missing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(c.call('fail')).rejects.toMatchObject({
      code: 'INSUFFICIENT_FUNDS',
      message: 'Balance too low',
      details: { balance: 3, history: [{ at: 1, amount: -5.5 }], note: null },
    });
    const err = (await c.call('crash').catch((e: unknown) => e)) as Error & { code: string };
    expect(err.code).toBe('INTERNAL');
    expect(err.message).not.toContain('hunter2');
    expect(logger.lines.some((l) => l.level === 'error' && String((l.obj as { err?: Error }).err?.message).includes('hunter2'))).toBe(true);
    await expect(c.call('typed', { n: 'x' })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      details: { issues: [expect.objectContaining({ path: ['n'] })] },
    });
  });

  it('delivers 2,000 back-to-back publishes complete and in order to every subscriber', async () => {
    const { url, server } = await setup();
    const subscribers = ['a', 'b', 'c'].map((id) => client(url, codec, { token: id }));
    const received = subscribers.map(() => [] as unknown[]);
    await Promise.all(subscribers.map((c, i) => c.subscribe('feed', (n) => received[i]!.push(n)).ready));
    const publisher = client(url, codec, { token: 'p' });
    await until(() => publisher.state === 'open', 'publisher open');
    await Promise.all(Array.from({ length: 1_000 }, (_, i) => publisher.publish('feed', { i, s: `m${i}` })));
    for (let i = 1_000; i < 2_000; i++) void server.publish('feed', { i, s: `m${i}` });
    await until(() => received.every((r) => r.length === 2_000), 'all 2,000 messages at every subscriber', 10_000);
    const expected = Array.from({ length: 2_000 }, (_, i) => ({ i, s: `m${i}` }));
    for (const r of received) expect(r).toEqual(expected);
  });

  it('meta names the publisher; echo by default, none with echo:false', async () => {
    const { url } = await setup();
    const alice = client(url, codec, { token: 'alice' });
    const bob = client(url, codec, { token: 'bob' });
    const seenA: [unknown, unknown][] = [];
    const seenB: unknown[] = [];
    await alice.subscribe('feed', (d, m) => seenA.push([d, m])).ready;
    await bob.subscribe('feed', (d) => seenB.push(d)).ready;
    await alice.publish('feed', 'one');
    // The echo reached alice before her publish resolved (docs/protocol.md §2.5).
    expect(seenA).toEqual([['one', { topic: 'feed', from: alice.clientId }]]);
    await alice.publish('feed', 'two', { echo: false });
    await until(() => seenB.length === 2, 'bob gets both');
    await bob.publish('feed', 'three');
    await until(() => seenA.length === 2, 'alice gets bob’s');
    expect(seenA.map((x) => x[0])).toEqual(['one', 'three']);
    expect(seenB).toEqual(['one', 'two', 'three']);
  });

  it('presence: the member list, join and leave per identity', async () => {
    const { url } = await setup();
    const watcher = client(url, codec, { token: 'watcher' });
    const sub = watcher.subscribe('room:1', () => {});
    const joins: Member[] = [];
    const leaves: Member[] = [];
    sub.on('join', (m) => joins.push(m));
    sub.on('leave', (m) => leaves.push(m));
    await sub.ready;
    expect(sub.members()).toEqual([{ id: 'watcher', info: { name: 'WATCHER' } }]);
    const tabs = [1, 2].map((n) => client(url, codec, { token: `alice#tab${n}` }));
    await Promise.all(tabs.map((t) => t.subscribe('room:1', () => {}).ready));
    await until(() => joins.length >= 1, 'alice joins');
    expect((await watcher.presence('room:1')).map((m) => m.id).sort()).toEqual(['alice', 'watcher']);
    tabs[0]!.close();
    expect((await watcher.presence('room:1')).map((m) => m.id).sort()).toEqual(['alice', 'watcher']);
    tabs[1]!.close();
    await until(() => leaves.length === 1, 'alice leaves with her last tab');
    expect(joins).toEqual([{ id: 'alice', info: { name: 'ALICE' } }]);
    expect(leaves).toEqual([{ id: 'alice', info: { name: 'ALICE' } }]);
    expect(sub.members().map((m) => m.id)).toEqual(['watcher']);
  });
});

describe('mixed codecs on one topic', () => {
  /** Server-side encodings of `msg` frames per codec (the client encoders never see `msg`). */
  function countMsgEncodes() {
    const n = { json: 0, msgpack: 0 };
    for (const [name, codec] of [['json', jsonCodec], ['msgpack', msgpackCodec]] as const) {
      const encode = codec.encode.bind(codec);
      vi.spyOn(codec, 'encode').mockImplementation((frame) => {
        if ((frame as { t?: unknown }).t === 'msg') n[name]++;
        return encode(frame);
      });
    }
    return n;
  }

  it('JSON and MessagePack subscribers both receive every message, in order; one encoding per codec in use', async () => {
    const { url, server } = await setup();
    const subs = [
      ...['j1', 'j2', 'j3'].map((id) => ({ codec: 'json' as const, c: client(url, 'json', { token: id }), got: [] as unknown[] })),
      ...['m1', 'm2'].map((id) => ({ codec: 'msgpack' as const, c: client(url, 'msgpack', { token: id }), got: [] as unknown[] })),
    ];
    await Promise.all(subs.map((s) => s.c.subscribe('feed', (d) => s.got.push(d)).ready));
    const publisher = client(url, 'msgpack', { token: 'p' });
    await until(() => publisher.state === 'open', 'publisher open');
    const n = countMsgEncodes();
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    await Promise.all(Array.from({ length: 100 }, (_, i) => publisher.publish('feed', { i, bytes }, { echo: false })));
    for (let i = 100; i < 200; i++) await server.publish('feed', { i, bytes });
    await until(() => subs.every((s) => s.got.length === 200), 'every message at every subscriber');
    for (const s of subs) {
      expect(s.got.map((d) => (d as { i: number }).i), s.codec).toEqual(Array.from({ length: 200 }, (_, i) => i));
      for (const d of s.got) expect(Buffer.from((d as { bytes: Uint8Array }).bytes)).toEqual(Buffer.from(bytes));
    }
    // 200 publishes: one JSON and one MessagePack encoding each, not one per subscriber.
    expect(n).toEqual({ json: 200, msgpack: 200 });

    // With only JSON subscribers left, MessagePack is not encoded at all.
    for (const s of subs.filter((x) => x.codec === 'msgpack')) s.c.close();
    await until(() => server.connections === 4, 'MessagePack subscribers gone');
    n.json = n.msgpack = 0;
    await server.publish('feed', { i: 200, bytes });
    await until(() => subs.filter((s) => s.codec === 'json').every((s) => s.got.length === 201), 'the last message');
    expect(n).toEqual({ json: 1, msgpack: 0 });
  });
});

describe('the client codec option (docs/client.md, "Codecs")', () => {
  it("refuses codec: 'msgpack' at connect() with a TypeError that says how to plug MessagePack in", () => {
    const attempt = () => connect('ws://127.0.0.1:1/ws', { codec: 'msgpack' as never, reconnect: false });
    expect(attempt).toThrow(TypeError);
    expect(attempt).toThrow("import { msgpack } from 'switchboard/msgpack' and pass codec: msgpack()");
  });

  it('refuses a codec that is neither json nor a codec object, naming the option', () => {
    for (const codec of ['xml', {}, { subprotocol: 'x', encode: () => '' }, null, 3]) {
      expect(() => connect('ws://127.0.0.1:1/ws', { codec: codec as never, reconnect: false }), String(codec)).toThrow(/^codec must be 'json' or a codec object/);
    }
  });

  it('uses a codec object the app passes in: its subprotocol is offered and it encodes every frame', async () => {
    const { url } = await setup();
    const frames: unknown[] = [];
    const counting = { ...msgpack(), encode: (f: unknown) => (frames.push(f), msgpackCodec.encode(f)) };
    const c = client(url, 'json', { token: 'x', codec: counting });
    expect(await c.call('add', { a: 2, b: 3 })).toBe(5);
    expect(frames).toContainEqual({ t: 'call', id: 1, name: 'add', input: { a: 2, b: 3 } });
  });
});
