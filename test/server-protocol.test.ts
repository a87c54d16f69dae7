/**
 * Frame-level conformance of the server against docs/protocol.md §2–§5, driven by raw `ws` peers
 * that misbehave on purpose: limits, heartbeat, handler errors, topic rules, ordering, presence,
 * isolation, and a bounded fuzz loop. The cases that need no handler of their own (malformed
 * messages and their close codes, err answers that keep the connection) run against a server
 * process on Node and on Bun in test/runtime-protocol.test.ts.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ServerError } from '../src/protocol/errors.js';
import { encodeTokenProtocol } from '../src/protocol/subprotocol.js';
import type { CommandContext } from '../src/server/index.js';
import { RawPeer, createTestScope, expectedOutcome, guardUnhandledRejections, recordingLogger, until, type Outcome } from './helpers.js';

const V1 = 'switchboard.v1.json';

// Every test, not only the fuzz loop: nothing the server does may reject with nobody listening.
const unhandled = guardUnhandledRejections();
const { server: start, peer } = createTestScope();

async function ready(url: string, protocols?: string[], opts?: WebSocket.ClientOptions): Promise<RawPeer> {
  return peer(url, protocols, opts).ready();
}

/**
 * A barrier: sends `ping` and waits for its `pong`. Frames on a connection are answered in order,
 * so anything the server sent before handling the ping has arrived once this resolves.
 */
async function roundTrip(p: RawPeer): Promise<void> {
  const before = p.frames.filter((f) => f.t === 'pong').length;
  p.send({ t: 'ping' });
  await until(() => p.frames.filter((f) => f.t === 'pong').length > before, 'pong');
}

const clientIdOf = (p: RawPeer) => p.frames.find((f) => f.t === 'welcome')!.clientId as string;
const ofKind = (p: RawPeer, t: string) => p.frames.filter((f) => f.t === t);

describe('frames sent after a protocol fault', () => {
  it('are not executed: the connection is over once the server closes it', async () => {
    let runs = 0;
    const { url, server } = await start({}, (s) =>
      s.command('sideEffect', () => ++runs).topic('*', { subscribe: true, publish: true }),
    );
    const watcher = await ready(url);
    expect(await watcher.request({ t: 'sub', id: 1, topic: 'room' })).toMatchObject({ t: 'ok' });
    const p = await ready(url);
    // Pipelined behind the bad frame: they arrive before the peer's close frame.
    p.send('not json');
    p.send({ t: 'call', id: 1, name: 'sideEffect' });
    p.send({ t: 'pub', id: 2, topic: 'room', data: 'ghost' });
    expect(await p.closed()).toBe(1007);
    await until(() => server.connections === 1, 'bad peer gone');
    await roundTrip(watcher);
    expect(runs).toBe(0);
    expect(ofKind(watcher, 'msg')).toEqual([]);
    expect(p.frames.filter((f) => f.t === 'ok' || f.t === 'err')).toEqual([]);
  });
});

describe('limits.maxPayload', () => {
  it('closes with 1009 above the limit and accepts a message at or just under it', async () => {
    const { url } = await start({ limits: { maxPayload: 1024 } }, (s) => s.command('echo', (x) => x));
    const p = await ready(url);
    expect(p.frames[0]).toMatchObject({ t: 'welcome', maxPayload: 1024 });
    const frame = (n: number) => {
      const base = JSON.stringify({ t: 'call', id: 1, name: 'echo', input: '' });
      return JSON.stringify({ t: 'call', id: 1, name: 'echo', input: 'x'.repeat(n - base.length) });
    };
    expect(Buffer.byteLength(frame(1000))).toBe(1000);
    expect(await p.request(JSON.parse(frame(1000)))).toMatchObject({ t: 'ok', id: 1 });
    p.frames.length = 0;
    p.send(frame(1024));
    expect(await p.answer(1)).toMatchObject({ t: 'ok', id: 1 });

    const q = await ready(url);
    q.send(frame(1025));
    expect(await q.closed()).toBe(1009);
    // A fragmented message counts as a whole.
    const r = await ready(url);
    const big = frame(1500);
    r.ws.send(big.slice(0, 800), { fin: false });
    r.ws.send(big.slice(800), { fin: true });
    expect(await r.closed()).toBe(1009);
    expect(p.ws.readyState).toBe(WebSocket.OPEN);
  });
});

describe('heartbeat', () => {
  it('terminates a peer that never answers pings (1006) and keeps one that does', async () => {
    const { url, server } = await start({ heartbeat: { intervalMs: 100, timeoutMs: 100 } });
    const good = await ready(url);
    let goodPings = 0;
    good.ws.on('ping', () => goodPings++);
    const deaf = await ready(url, [V1], { autoPong: false });
    let deafPings = 0;
    deaf.ws.on('ping', () => deafPings++);
    expect(server.connections).toBe(2);
    // No close frame: the server drops the TCP connection.
    expect(await deaf.closed(3_000)).toBe(1006);
    expect(deafPings).toBeGreaterThanOrEqual(1);
    await until(() => server.connections === 1, 'server to drop the deaf peer');
    // The good peer was pinged over the same period and answered by itself.
    await until(() => goodPings >= 2, 'good peer pinged twice', 3_000);
    expect(good.ws.readyState).toBe(WebSocket.OPEN);
    expect(server.connections).toBe(1);
    await roundTrip(good);
  });

  it('counts frames as signs of life: a chatty peer without auto-pong is never terminated', async () => {
    const { url, server } = await start({ heartbeat: { intervalMs: 60, timeoutMs: 60 } });
    const chatty = await ready(url, [V1], { autoPong: false });
    const deaf = await ready(url, [V1], { autoPong: false });
    const timer = setInterval(() => chatty.send({ t: 'ping' }), 20);
    try {
      expect(await deaf.closed(3_000)).toBe(1006);
    } finally {
      clearInterval(timer);
    }
    await until(() => server.connections === 1, 'server to drop the deaf peer');
    expect(chatty.ws.readyState).toBe(WebSocket.OPEN);
  });
});

describe('command handlers', () => {
  async function setup() {
    const logger = recordingLogger();
    const { url } = await start({ logger }, (s) =>
      s
        .command('coded', () => {
          throw new ServerError('NOPE', 'custom msg', { x: 1 });
        })
        .command('codedAsync', async () => {
          throw new ServerError('NOPE', 'custom msg', { x: 1 });
        })
        .command('codedNoDetails', () => {
          throw new ServerError('LIMIT', 'too many');
        })
        .command('crash', () => {
          throw new Error('secret internal text');
        })
        .command('crashAsync', async () => {
          await Promise.resolve();
          throw new Error('secret internal text');
        })
        .command('throwsString', () => {
          throw 'secret internal text';
        })
        .command('nothing', () => undefined)
        .command('nothingAsync', async () => {})
        .command('nullish', () => null)
        .command('bigint', () => ({ n: 10n }))
        .command('bigintAsync', async () => ({ n: 10n }))
        .command('cyclicDetails', () => {
          const details: Record<string, unknown> = {};
          details.self = details;
          throw new ServerError('CYCLE', 'has a cycle', details);
        })
        .command('echo', (x) => x),
    );
    return { logger, p: await ready(url) };
  }

  it('ServerError → err with its code, message and details (sync and async)', async () => {
    const { p, logger } = await setup();
    expect(await p.request({ t: 'call', id: 1, name: 'coded' })).toEqual({ t: 'err', id: 1, code: 'NOPE', message: 'custom msg', details: { x: 1 } });
    expect(await p.request({ t: 'call', id: 2, name: 'codedAsync' })).toEqual({ t: 'err', id: 2, code: 'NOPE', message: 'custom msg', details: { x: 1 } });
    const noDetails = await p.request({ t: 'call', id: 3, name: 'codedNoDetails' });
    expect(noDetails).toEqual({ t: 'err', id: 3, code: 'LIMIT', message: 'too many' });
    expect('details' in noDetails).toBe(false);
    // Application errors are expected outcomes, not server faults.
    expect(logger.lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it.each(['crash', 'crashAsync', 'throwsString'])('%s → INTERNAL with a generic message, logged', async (name) => {
    const { p, logger } = await setup();
    const answer = await p.request({ t: 'call', id: 1, name });
    expect(answer).toMatchObject({ t: 'err', id: 1, code: 'INTERNAL' });
    expect(typeof answer.message).toBe('string');
    expect(JSON.stringify(answer)).not.toContain('secret internal text');
    expect('details' in answer).toBe(false);
    const errors = logger.lines.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    const logged = (errors[0]!.obj as { err: unknown }).err;
    expect(logged instanceof Error ? logged.message : logged).toBe('secret internal text');
    expect(await p.request({ t: 'call', id: 2, name: 'echo', input: 'alive' })).toEqual({ t: 'ok', id: 2, output: 'alive' });
  });

  it('undefined output → ok without output; null is an output', async () => {
    const { p } = await setup();
    const a = await p.request({ t: 'call', id: 1, name: 'nothing' });
    expect(a).toEqual({ t: 'ok', id: 1 });
    expect('output' in a).toBe(false);
    const b = await p.request({ t: 'call', id: 2, name: 'nothingAsync' });
    expect(b).toEqual({ t: 'ok', id: 2 });
    expect('output' in b).toBe(false);
    expect(await p.request({ t: 'call', id: 3, name: 'nullish' })).toEqual({ t: 'ok', id: 3, output: null });
  });

  it('unknown command → NOT_FOUND', async () => {
    const { p } = await setup();
    expect(await p.request({ t: 'call', id: 1, name: 'nope' })).toMatchObject({ t: 'err', id: 1, code: 'NOT_FOUND' });
    expect(await p.request({ t: 'call', id: 2, name: '__proto__' })).toMatchObject({ t: 'err', id: 2, code: 'NOT_FOUND' });
    expect(await p.request({ t: 'call', id: 3, name: 'constructor' })).toMatchObject({ t: 'err', id: 3, code: 'NOT_FOUND' });
  });

  it('an output the codec cannot encode → INTERNAL, logged, and the server keeps running', async () => {
    const { p, logger } = await setup();
    expect(await p.request({ t: 'call', id: 1, name: 'bigint' })).toMatchObject({ t: 'err', id: 1, code: 'INTERNAL' });
    expect(await p.request({ t: 'call', id: 2, name: 'bigintAsync' })).toMatchObject({ t: 'err', id: 2, code: 'INTERNAL' });
    expect(await p.request({ t: 'call', id: 3, name: 'cyclicDetails' })).toMatchObject({ t: 'err', id: 3, code: 'INTERNAL' });
    expect(logger.lines.filter((l) => l.level === 'error')).toHaveLength(3);
    expect(await p.request({ t: 'call', id: 4, name: 'echo', input: 'alive' })).toEqual({ t: 'ok', id: 4, output: 'alive' });
    expect(unhandled).toEqual([]);
  });

  it('a deeply nested input (parses, but could not be re-encoded) → BAD_REQUEST at arrival, not a crash', async () => {
    const { p } = await setup();
    const depth = 200_000;
    p.send(`{"t":"call","id":1,"name":"echo","input":${'['.repeat(depth)}${']'.repeat(depth)}}`);
    // Refused where it enters, past the one depth limit of docs/protocol.md §2.6 (the handler never runs).
    expect(await p.answer(1)).toMatchObject({ t: 'err', id: 1, code: 'BAD_REQUEST' });
    expect(await p.request({ t: 'call', id: 2, name: 'echo', input: [[1]] })).toEqual({ t: 'ok', id: 2, output: [[1]] });
    expect(unhandled).toEqual([]);
  });

  it('runs calls concurrently: a slow call does not hold back a fast one', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { url } = await start({}, (s) =>
      s.command('slow', async () => {
        await gate;
        return 'slow';
      }).command('fast', () => 'fast'),
    );
    const p = await ready(url);
    p.send({ t: 'call', id: 1, name: 'slow' });
    expect(await p.request({ t: 'call', id: 2, name: 'fast' })).toEqual({ t: 'ok', id: 2, output: 'fast' });
    release();
    expect(await p.answer(1)).toEqual({ t: 'ok', id: 1, output: 'slow' });
  });

  it('aborts ctx.signal when the connection closes', async () => {
    let signal: AbortSignal | undefined;
    const { url, server } = await start({}, (s) =>
      s.command('hang', (_x, ctx) => {
        signal = ctx.signal;
        return new Promise(() => {});
      }),
    );
    const p = await ready(url);
    p.send({ t: 'call', id: 1, name: 'hang' });
    await until(() => signal !== undefined, 'handler to run');
    expect(signal!.aborted).toBe(false);
    p.ws.close();
    await until(() => server.connections === 0, 'connection closed');
    expect(signal!.aborted).toBe(true);
  });
});

describe('topic rules', () => {
  it('refuses sub and pub with FORBIDDEN when no rule matches (secure by default)', async () => {
    const { url } = await start({}, (s) => s.topic('room:*', { subscribe: true }));
    const p = await ready(url);
    expect(await p.request({ t: 'sub', id: 1, topic: 'other' })).toMatchObject({ t: 'err', id: 1, code: 'FORBIDDEN' });
    expect(await p.request({ t: 'pub', id: 2, topic: 'other', data: 1 })).toMatchObject({ t: 'err', id: 2, code: 'FORBIDDEN' });
    // A rule that does not mention publish refuses it too.
    expect(await p.request({ t: 'sub', id: 3, topic: 'room:a' })).toEqual({ t: 'ok', id: 3, output: {} });
    expect(await p.request({ t: 'pub', id: 4, topic: 'room:a', data: 1 })).toMatchObject({ t: 'err', id: 4, code: 'FORBIDDEN' });
    await roundTrip(p);
    expect(ofKind(p, 'msg')).toEqual([]);
  });

  it('calls function permissions with (ctx, topic, data) and honours their answers', async () => {
    type Id = { id: string };
    const subCalls: [CommandContext<Id>, string, unknown][] = [];
    const pubCalls: [CommandContext<Id>, string, unknown][] = [];
    const { url } = await start<Id>({ authenticate: (_req, token) => (token ? { id: token } : null) }, (s) =>
      s.topic('chat:*', {
        subscribe: (ctx, topic, data) => {
          subCalls.push([ctx, topic, data]);
          return topic !== 'chat:closed';
        },
        publish: (ctx, topic, data) => {
          pubCalls.push([ctx, topic, data]);
          return (data as { text?: unknown }).text !== 'spam';
        },
      }),
    );
    const p = await ready(url, [V1, encodeTokenProtocol('alice')]);
    expect(await p.request({ t: 'sub', id: 1, topic: 'chat:lobby' })).toMatchObject({ t: 'ok', id: 1 });
    expect(await p.request({ t: 'sub', id: 2, topic: 'chat:closed' })).toMatchObject({ t: 'err', id: 2, code: 'FORBIDDEN' });
    expect(await p.request({ t: 'pub', id: 3, topic: 'chat:lobby', data: { text: 'hi' } })).toEqual({ t: 'ok', id: 3 });
    expect(await p.request({ t: 'pub', id: 4, topic: 'chat:lobby', data: { text: 'spam' } })).toMatchObject({ t: 'err', id: 4, code: 'FORBIDDEN' });

    expect(subCalls.map(([ctx, topic, data]) => [ctx.clientId, ctx.identity, topic, data])).toEqual([
      [clientIdOf(p), { id: 'alice' }, 'chat:lobby', undefined],
      [clientIdOf(p), { id: 'alice' }, 'chat:closed', undefined],
    ]);
    expect(pubCalls.map(([ctx, topic, data]) => [ctx.clientId, ctx.identity, topic, data])).toEqual([
      [clientIdOf(p), { id: 'alice' }, 'chat:lobby', { text: 'hi' }],
      [clientIdOf(p), { id: 'alice' }, 'chat:lobby', { text: 'spam' }],
    ]);
    expect(subCalls[0]![0].signal).toBeInstanceOf(AbortSignal);
    // Only the accepted message was delivered.
    await roundTrip(p);
    expect(ofKind(p, 'msg').map((m) => m.data)).toEqual([{ text: 'hi' }]);
  });

  it('awaits async permissions', async () => {
    const tick = () => new Promise((r) => setImmediate(r));
    const { url } = await start({}, (s) =>
      s.topic('yes', { subscribe: async () => (await tick(), true), publish: async () => (await tick(), true) })
        .topic('no', { subscribe: async () => (await tick(), false), publish: async () => (await tick(), false) })
        .topic('throws', {
          subscribe: async () => {
            throw new Error('rule store down');
          },
        }),
    );
    const p = await ready(url);
    expect(await p.request({ t: 'sub', id: 1, topic: 'yes' })).toEqual({ t: 'ok', id: 1, output: {} });
    expect(await p.request({ t: 'pub', id: 2, topic: 'yes', data: 0 })).toEqual({ t: 'ok', id: 2 });
    expect(await p.request({ t: 'sub', id: 3, topic: 'no' })).toMatchObject({ t: 'err', id: 3, code: 'FORBIDDEN' });
    expect(await p.request({ t: 'pub', id: 4, topic: 'no', data: 0 })).toMatchObject({ t: 'err', id: 4, code: 'FORBIDDEN' });
    const failed = await p.request({ t: 'sub', id: 5, topic: 'throws' });
    expect(failed).toMatchObject({ t: 'err', id: 5, code: 'INTERNAL' });
    expect(JSON.stringify(failed)).not.toContain('rule store down');
    // The operation chain survives a failed permission.
    expect(await p.request({ t: 'unsub', id: 6, topic: 'yes' })).toEqual({ t: 'ok', id: 6 });
  });

  it('a permission throwing a ServerError with unencodable details → INTERNAL, and later operations still run', async () => {
    const logger = recordingLogger();
    const { url } = await start({ logger }, (s) =>
      s.topic('odd', {
        subscribe: () => {
          throw new ServerError('DENIED', 'no', { n: 1n });
        },
      }).topic('fine', { subscribe: true }),
    );
    const p = await ready(url);
    expect(await p.request({ t: 'sub', id: 1, topic: 'odd' })).toMatchObject({ t: 'err', id: 1, code: 'INTERNAL' });
    expect(logger.lines.filter((l) => l.level === 'error')).toHaveLength(1);
    // sub/unsub/pub/presence of one connection share an operation chain; it must not be broken.
    expect(await p.request({ t: 'sub', id: 2, topic: 'fine' })).toEqual({ t: 'ok', id: 2, output: {} });
  });

  it('lets the first matching rule win', async () => {
    const { url } = await start({}, (s) =>
      s.topic('room:secret', { subscribe: false }).topic('room:*', { subscribe: true }).topic('room:open', { subscribe: false }),
    );
    const p = await ready(url);
    expect(await p.request({ t: 'sub', id: 1, topic: 'room:secret' })).toMatchObject({ t: 'err', code: 'FORBIDDEN' });
    expect(await p.request({ t: 'sub', id: 2, topic: 'room:lobby' })).toMatchObject({ t: 'ok' });
    expect(await p.request({ t: 'sub', id: 3, topic: 'room:open' })).toMatchObject({ t: 'ok' });
  });

  it('matches * against any run (empty, or containing ":") and nothing else', async () => {
    const { url } = await start({}, (s) => s.topic('a:*:z', { subscribe: true }).topic('pre*', { subscribe: true }));
    const p = await ready(url);
    const verdicts: Record<string, string> = {};
    let id = 0;
    for (const topic of ['a::z', 'a:b:z', 'a:b:c:d:z', 'a:\n:z', 'pre', 'prefix', 'pre:x:y', 'a:z', 'a:b:zz', 'xa:b:z', 'pr']) {
      verdicts[topic] = (await p.request({ t: 'sub', id: ++id, topic })).t as string;
    }
    expect(verdicts).toEqual({
      'a::z': 'ok',
      'a:b:z': 'ok',
      'a:b:c:d:z': 'ok',
      'a:\n:z': 'ok',
      pre: 'ok',
      prefix: 'ok',
      'pre:x:y': 'ok',
      'a:z': 'err',
      'a:b:zz': 'err',
      'xa:b:z': 'err',
      pr: 'err',
    });
  });

  it('treats regex metacharacters in patterns literally', async () => {
    const { url } = await start({}, (s) =>
      s.topic('a.b', { subscribe: true }).topic('c+', { subscribe: true }).topic('(d|e)', { subscribe: true }).topic('f?', { subscribe: true }).topic('[g]', { subscribe: true }).topic('h\\w', { subscribe: true }).topic('$i^', { subscribe: true }),
    );
    const p = await ready(url);
    const verdicts: Record<string, string> = {};
    let id = 0;
    for (const topic of ['a.b', 'axb', 'c+', 'cc', '(d|e)', 'd', 'f?', 'f', '[g]', 'g', 'h\\w', 'hw', '$i^', 'i']) {
      verdicts[topic] = (await p.request({ t: 'sub', id: ++id, topic })).t as string;
    }
    expect(verdicts).toEqual({
      'a.b': 'ok', axb: 'err', 'c+': 'ok', cc: 'err', '(d|e)': 'ok', d: 'err', 'f?': 'ok', f: 'err',
      '[g]': 'ok', g: 'err', 'h\\w': 'ok', hw: 'err', '$i^': 'ok', i: 'err',
    });
  });

  it('presence for a topic the connection is not subscribed to → NOT_SUBSCRIBED', async () => {
    const { url } = await start({}, (s) => s.topic('p:*', { subscribe: true, presence: true }).topic('plain', { subscribe: true }));
    const p = await ready(url);
    expect(await p.request({ t: 'presence', id: 1, topic: 'p:1' })).toMatchObject({ t: 'err', id: 1, code: 'NOT_SUBSCRIBED' });
    expect(await p.request({ t: 'presence', id: 2, topic: 'nowhere' })).toMatchObject({ t: 'err', id: 2, code: 'NOT_SUBSCRIBED' });
    expect(await p.request({ t: 'sub', id: 3, topic: 'p:1' })).toMatchObject({ t: 'ok' });
    expect(await p.request({ t: 'presence', id: 4, topic: 'p:1' })).toEqual({ t: 'ok', id: 4, output: { members: [{ id: clientIdOf(p) }] } });
    expect(await p.request({ t: 'sub', id: 5, topic: 'plain' })).toEqual({ t: 'ok', id: 5, output: {} });
    expect(await p.request({ t: 'presence', id: 6, topic: 'plain' })).toEqual({ t: 'ok', id: 6, output: { members: [] } });
    expect(await p.request({ t: 'unsub', id: 7, topic: 'p:1' })).toEqual({ t: 'ok', id: 7 });
    expect(await p.request({ t: 'presence', id: 8, topic: 'p:1' })).toMatchObject({ t: 'err', id: 8, code: 'NOT_SUBSCRIBED' });
  });
});

describe('subscriptions and ordering', () => {
  it('applies sub/unsub/sub/unsub in arrival order even with an async permission', async () => {
    let checks = 0;
    const { url, server } = await start({}, (s) =>
      s.topic('room:*', {
        subscribe: async () => {
          checks++;
          // Slow enough that an unserialised unsub would overtake the sub.
          await new Promise((r) => setTimeout(r, 15));
          return true;
        },
      }),
    );
    const control = await ready(url);
    expect(await control.request({ t: 'sub', id: 1, topic: 'room:x' })).toMatchObject({ t: 'ok' });
    const p = await ready(url);
    p.send({ t: 'sub', id: 1, topic: 'room:x' });
    p.send({ t: 'unsub', id: 2, topic: 'room:x' });
    p.send({ t: 'sub', id: 3, topic: 'room:x' });
    p.send({ t: 'unsub', id: 4, topic: 'room:x' });
    await p.answer(4);
    const answers = p.frames.filter((f) => f.t === 'ok' || f.t === 'err');
    expect(answers).toEqual([
      { t: 'ok', id: 1, output: {} },
      { t: 'ok', id: 2 },
      { t: 'ok', id: 3, output: {} },
      { t: 'ok', id: 4 },
    ]);
    expect(checks).toBe(3);
    await server.publish('room:x', 'after');
    await roundTrip(p);
    await control.next((f) => f.t === 'msg' && f.data === 'after', 'control receives the publish');
    expect(ofKind(p, 'msg')).toEqual([]);
  });

  it('keeps a publisher\'s messages in order behind an async permission', async () => {
    let n = 0;
    const { url } = await start({}, (s) =>
      s.topic('seq', {
        subscribe: true,
        // Earlier messages wait longer: without serialisation they would arrive reversed.
        publish: async (_ctx, _topic, data) => {
          await new Promise((r) => setTimeout(r, 30 - 10 * (data as number)));
          n++;
          return true;
        },
      }),
    );
    const sub = await ready(url);
    expect(await sub.request({ t: 'sub', id: 1, topic: 'seq' })).toMatchObject({ t: 'ok' });
    const pub = await ready(url);
    for (let i = 0; i < 3; i++) pub.send({ t: 'pub', id: i + 1, topic: 'seq', data: i });
    await pub.answer(3);
    await until(() => ofKind(sub, 'msg').length === 3, 'three messages');
    expect(ofKind(sub, 'msg').map((m) => m.data)).toEqual([0, 1, 2]);
    expect(n).toBe(3);
  });

  it('sub is idempotent: subscribing twice delivers each message once', async () => {
    const { url, server } = await start({}, (s) => s.topic('t', { subscribe: true }));
    const p = await ready(url);
    expect(await p.request({ t: 'sub', id: 1, topic: 't' })).toEqual({ t: 'ok', id: 1, output: {} });
    expect(await p.request({ t: 'sub', id: 2, topic: 't' })).toEqual({ t: 'ok', id: 2, output: {} });
    await server.publish('t', { n: 1 });
    await roundTrip(p);
    expect(ofKind(p, 'msg')).toEqual([{ t: 'msg', topic: 't', data: { n: 1 } }]);
    // unsub of a topic never subscribed is ok too.
    expect(await p.request({ t: 'unsub', id: 3, topic: 'never' })).toEqual({ t: 'ok', id: 3 });
  });

  it('echo:false skips the publisher only; echo by default delivers its msg before its ok', async () => {
    const { url } = await start({}, (s) => s.topic('room', { subscribe: true, publish: true }));
    const a = await ready(url);
    const b = await ready(url);
    for (const p of [a, b]) expect(await p.request({ t: 'sub', id: 1, topic: 'room' })).toMatchObject({ t: 'ok' });

    expect(await a.request({ t: 'pub', id: 2, topic: 'room', data: 'quiet', echo: false })).toEqual({ t: 'ok', id: 2 });
    await b.next((f) => f.t === 'msg' && f.data === 'quiet', 'b receives quiet');
    expect(ofKind(b, 'msg')).toEqual([{ t: 'msg', topic: 'room', data: 'quiet', meta: { from: clientIdOf(a) } }]);
    // The ok follows delivery to every local subscriber, so a's copy would already be here.
    expect(ofKind(a, 'msg')).toEqual([]);

    expect(await a.request({ t: 'pub', id: 3, topic: 'room', data: 'loud' })).toEqual({ t: 'ok', id: 3 });
    const msgIndex = a.frames.findIndex((f) => f.t === 'msg' && f.data === 'loud');
    const okIndex = a.frames.findIndex((f) => f.t === 'ok' && f.id === 3);
    expect(msgIndex).toBeGreaterThan(-1);
    expect(msgIndex).toBeLessThan(okIndex);
    expect(a.frames[msgIndex]).toEqual({ t: 'msg', topic: 'room', data: 'loud', meta: { from: clientIdOf(a) } });
    expect(await a.request({ t: 'pub', id: 4, topic: 'room', data: 'loud2', echo: true })).toEqual({ t: 'ok', id: 4 });
    expect(ofKind(a, 'msg').map((m) => m.data)).toEqual(['loud', 'loud2']);
  });

  it('server.publish reaches subscribers without meta.from; unsubscribed peers get nothing', async () => {
    const { url, server } = await start({}, (s) => s.topic('news', { subscribe: true }));
    const a = await ready(url);
    const b = await ready(url);
    expect(await a.request({ t: 'sub', id: 1, topic: 'news' })).toMatchObject({ t: 'ok' });
    await server.publish('news', { headline: 'x' });
    await a.next((f) => f.t === 'msg', 'msg');
    expect(ofKind(a, 'msg')).toEqual([{ t: 'msg', topic: 'news', data: { headline: 'x' } }]);
    await roundTrip(b);
    expect(ofKind(b, 'msg')).toEqual([]);
  });
});

describe('presence per identity', () => {
  it('joins once per identity, leaves with its last connection, and lists members on sub', async () => {
    const { url, server } = await start<{ id: string }>(
      { authenticate: (_req, token) => (token ? { id: token } : null) },
      (s) => s.topic('room:*', { subscribe: true, presence: true }),
    );
    const as = (name: string) => ready(url, [V1, encodeTokenProtocol(name)]);
    const joins = (p: RawPeer, id: string) => ofKind(p, 'join').filter((f) => (f.member as { id: string }).id === id);
    const leaves = (p: RawPeer, id: string) => ofKind(p, 'leave').filter((f) => (f.member as { id: string }).id === id);

    const bob = await as('bob');
    expect(await bob.request({ t: 'sub', id: 1, topic: 'room:1' })).toEqual({ t: 'ok', id: 1, output: { members: [{ id: 'bob' }] } });

    const alice1 = await as('alice');
    const first = await alice1.request({ t: 'sub', id: 1, topic: 'room:1' });
    expect((first.output as { members: { id: string }[] }).members.map((m) => m.id).sort()).toEqual(['alice', 'bob']);
    await bob.next((f) => f.t === 'join' && (f.member as { id: string }).id === 'alice', 'join of alice');
    expect(joins(bob, 'alice')).toEqual([{ t: 'join', topic: 'room:1', member: { id: 'alice' } }]);

    const alice2 = await as('alice');
    const second = await alice2.request({ t: 'sub', id: 1, topic: 'room:1' });
    const ids = (second.output as { members: { id: string }[] }).members.map((m) => m.id).sort();
    expect(ids).toEqual(['alice', 'bob']);
    await roundTrip(bob);
    expect(joins(bob, 'alice')).toHaveLength(1);
    expect(await server.presence('room:1')).toHaveLength(2);

    alice1.ws.close();
    await until(() => server.connections === 2, 'first alice connection gone');
    await roundTrip(bob);
    expect(leaves(bob, 'alice')).toEqual([]);
    expect((await server.presence('room:1')).map((m) => m.id).sort()).toEqual(['alice', 'bob']);

    alice2.ws.close();
    await bob.next((f) => f.t === 'leave' && (f.member as { id: string }).id === 'alice', 'leave of alice');
    await until(() => server.connections === 1, 'second alice connection gone');
    await roundTrip(bob);
    expect(leaves(bob, 'alice')).toEqual([{ t: 'leave', topic: 'room:1', member: { id: 'alice' } }]);
    expect(await server.presence('room:1')).toEqual([{ id: 'bob' }]);
    expect(await bob.request({ t: 'presence', id: 2, topic: 'room:1' })).toEqual({ t: 'ok', id: 2, output: { members: [{ id: 'bob' }] } });
  });

  it('never sends a subscriber its own join: the ok carries it in the member list', async () => {
    const { url } = await start<string>({ authenticate: (_req, token) => token ?? null }, (s) =>
      s.topic('room', { subscribe: true, presence: true }),
    );
    const dave = await ready(url, [V1, encodeTokenProtocol('dave')]);
    expect(await dave.request({ t: 'sub', id: 1, topic: 'room' })).toEqual({ t: 'ok', id: 1, output: { members: [{ id: 'dave' }] } });
    await roundTrip(dave);
    expect(ofKind(dave, 'join')).toEqual([]);
  });

  it('announces leave on unsub and does not double-count a repeated sub', async () => {
    const { url } = await start<string>({ authenticate: (_req, token) => token ?? null }, (s) =>
      s.topic('room', { subscribe: true, presence: true }),
    );
    const bob = await ready(url, [V1, encodeTokenProtocol('bob')]);
    const carol = await ready(url, [V1, encodeTokenProtocol('carol')]);
    expect(await bob.request({ t: 'sub', id: 1, topic: 'room' })).toMatchObject({ t: 'ok' });
    expect(await carol.request({ t: 'sub', id: 1, topic: 'room' })).toMatchObject({ t: 'ok' });
    expect(await carol.request({ t: 'sub', id: 2, topic: 'room' })).toMatchObject({ t: 'ok' });
    expect(await carol.request({ t: 'unsub', id: 3, topic: 'room' })).toEqual({ t: 'ok', id: 3 });
    await bob.next((f) => f.t === 'leave', 'leave of carol');
    await roundTrip(bob);
    expect(ofKind(bob, 'join').filter((f) => (f.member as { id: string }).id === 'carol')).toEqual([
      { t: 'join', topic: 'room', member: { id: 'carol' } },
    ]);
    expect(ofKind(bob, 'leave')).toEqual([{ t: 'leave', topic: 'room', member: { id: 'carol' } }]);
  });
});

describe('isolation', () => {
  it('a misbehaving peer affects nobody else', async () => {
    const { url, server } = await start({}, (s) =>
      s.command('echo', (x) => x).topic('news', { subscribe: true }),
    );
    const good = [await ready(url), await ready(url)];
    for (const g of good) expect(await g.request({ t: 'sub', id: 1, topic: 'news' })).toMatchObject({ t: 'ok' });

    const garbage: [string | Buffer, boolean, number][] = [
      ['not json', false, 1007],
      [Buffer.from([1, 2, 3]), true, 1007],
      [Buffer.from([0xff, 0xfe]), false, 1007],
      ['[]', false, 1002],
      ['{"t":"call"}', false, 1002],
      ['x'.repeat(2_000_000), false, 1009],
    ];
    const bad = await Promise.all(garbage.map(() => ready(url)));
    expect(server.connections).toBe(good.length + bad.length);
    garbage.forEach(([payload, binary], i) => bad[i]!.ws.send(payload, { binary }));

    // While the bad peers are being closed, the good ones keep working.
    let id = 10;
    for (let round = 0; round < 5; round++) {
      await server.publish('news', round);
      for (const g of good) {
        id++;
        expect(await g.request({ t: 'call', id, name: 'echo', input: round })).toEqual({ t: 'ok', id, output: round });
      }
    }
    const codes = await Promise.all(bad.map((b) => b.closed()));
    expect(codes).toEqual(garbage.map(([, , code]) => code));
    await until(() => server.connections === good.length, 'only good peers left');
    await server.publish('news', 'end');
    for (const g of good) {
      await g.next((f) => f.t === 'msg' && f.data === 'end', 'final publish');
      expect(ofKind(g, 'msg').map((m) => m.data)).toEqual([0, 1, 2, 3, 4, 'end']);
      expect(g.ws.readyState).toBe(WebSocket.OPEN);
    }
  });
});

describe('fuzz', () => {
  /** Small deterministic PRNG (mulberry32) so a failure can be replayed from its seed. */
  function prng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  it('answers or closes with 1002/1007/1009 for every input, and never falls over', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? 0x5eed);
    const rand = prng(seed);
    const int = (n: number) => Math.floor(rand() * n);
    const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
    const maxPayload = 4096;
    const logger = recordingLogger();
    const { url, server } = await start({ logger, limits: { maxPayload } }, (s) =>
      s
        .command('echo', (x) => x)
        .command('boom', () => {
          throw new Error('boom');
        })
        .command('coded', () => {
          throw new ServerError('E', 'e');
        })
        .topic('f:*', { subscribe: true, publish: true, presence: true })
        .topic('g:*', { subscribe: async () => true, publish: (_c, _t, d) => typeof d === 'number' }),
    );

    const jsonValue = (depth: number): unknown => {
      switch (int(depth > 2 ? 6 : 9)) {
        case 0: return null;
        case 1: return rand() < 0.5;
        case 2: return pick([0, -1, 1.5, 2 ** 53, -0, 1e308, 42]);
        case 3: return pick(['', 'call', 'sub', 'pub', 'ping', 'x'.repeat(300), '\u0000', '𝄞', '__proto__']);
        case 4: return int(1000);
        case 5: return 'str' + int(10);
        case 6: return Array.from({ length: int(4) }, () => jsonValue(depth + 1));
        default: {
          const o: Record<string, unknown> = {};
          for (let i = int(4); i > 0; i--) o[pick(['t', 'id', 'name', 'topic', 'data', 'echo', 'input', 'x'])] = jsonValue(depth + 1);
          return o;
        }
      }
    };
    const validFrame = (): Record<string, unknown> => {
      const topic = pick(['f:1', 'f:2', 'g:1', 'nope']);
      return pick([
        { t: 'call', id: 1, name: pick(['echo', 'boom', 'coded', 'missing']), input: jsonValue(1) },
        { t: 'sub', id: 1, topic },
        { t: 'unsub', id: 1, topic },
        { t: 'pub', id: 1, topic, data: jsonValue(1), echo: rand() < 0.5 },
        { t: 'presence', id: 1, topic },
        { t: 'ping' },
      ]);
    };
    const mutate = (f: Record<string, unknown>): Record<string, unknown> => {
      const copy = { ...f };
      const key = pick(['t', 'id', 'name', 'topic', 'data', 'echo', 'input', 'extra']);
      if (rand() < 0.3) delete copy[key];
      else copy[key] = jsonValue(1);
      return copy;
    };
    const randomBytes = () => Buffer.from(Array.from({ length: 1 + int(24) }, () => int(256)));

    const oracle = (payload: Buffer, binary: boolean): Outcome => expectedOutcome(payload, binary, maxPayload);

    let p = await ready(url);
    let nextId = 1;
    const tally = { answered: 0, pong: 0, closed: new Map<number, number>() };
    for (let i = 0; i < 300; i++) {
      let payload: Buffer;
      let binary = false;
      const kind = int(10);
      if (kind === 0) {
        payload = randomBytes();
        if (payload[0] === 0xb1) payload[0] = 0; // keep the oracle exact: not an envelope
        binary = true;
      } else if (kind === 1) {
        payload = randomBytes();
      } else if (kind === 2) {
        payload = Buffer.from(JSON.stringify(jsonValue(0)) ?? 'null');
      } else if (kind === 3) {
        payload = Buffer.from('x'.repeat(maxPayload + 1 + int(100)));
      } else if (kind <= 6) {
        // A mutated valid frame, with a fresh id unless the mutation replaced it.
        const f = mutate({ ...validFrame(), id: nextId++ });
        payload = Buffer.from(JSON.stringify(f));
      } else {
        const f = { ...validFrame() };
        if (f.t !== 'ping') f.id = nextId++;
        payload = Buffer.from(JSON.stringify(f));
      }
      const expected = oracle(payload, binary);
      const framesBefore = p.frames.length;
      const pongsBefore = ofKind(p, 'pong').length;
      p.ws.send(payload, { binary });
      const what = `iteration ${i} (seed ${seed}): ${payload.toString('latin1').slice(0, 80)} → ${JSON.stringify(expected)}`;
      if ('close' in expected) {
        expect(await p.closed(), what).toBe(expected.close);
        tally.closed.set(expected.close, (tally.closed.get(expected.close) ?? 0) + 1);
        p = await ready(url);
      } else if ('pong' in expected) {
        await until(() => ofKind(p, 'pong').length > pongsBefore, what);
        tally.pong++;
      } else if ('ignored' in expected) {
        // A mutation produced a flow-control frame for an id that is no stream: no answer is due
        // (test/property.test.ts checks that with a fence).
        continue;
      } else {
        const id = expected.answer;
        await until(
          () => p.frames.slice(framesBefore).some((f) => f.id === id && (f.t === 'ok' || f.t === 'err')),
          what,
        );
        const answer = p.frames.slice(framesBefore).find((f) => f.id === id && (f.t === 'ok' || f.t === 'err'))!;
        if (answer.t === 'err') {
          expect(typeof answer.code, what).toBe('string');
          expect(typeof answer.message, what).toBe('string');
          expect(JSON.stringify(answer), what).not.toContain('boom');
        }
        expect(p.ws.readyState, what).toBe(WebSocket.OPEN);
        tally.answered++;
      }
    }
    // Every branch of the oracle was exercised.
    expect(tally.answered).toBeGreaterThan(50);
    expect(tally.pong).toBeGreaterThan(0);
    expect([...tally.closed.keys()].sort()).toEqual([1002, 1007, 1009]);

    // The server is still healthy: a fresh peer gets answers, and only live peers are counted.
    const good = await ready(url);
    expect(await good.request({ t: 'call', id: 1, name: 'echo', input: 'still up' })).toEqual({ t: 'ok', id: 1, output: 'still up' });
    p.ws.close();
    await until(() => server.connections === 1, 'only the good peer left');
    // Handler errors are logged; nothing else went wrong inside the server.
    expect(logger.lines.filter((l) => l.msg !== 'handler failed' && l.level === 'error')).toEqual([]);
    expect(unhandled).toEqual([]);
  });
});
