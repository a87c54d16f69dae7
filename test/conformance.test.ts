/**
 * Where docs/protocol.md is exact and a client written from it alone relies on it: the `sub` answer
 * in every case (§2.7), what a malformed flow-control frame does to its stream (§2.3). Raw peers on
 * real sockets, so the frames themselves are what is checked.
 */
import { describe, expect, it } from 'vitest';
import { validateClientFrame } from '../src/protocol/frames.js';
import { createTestScope, guardUnhandledRejections, until, type RawPeer } from './helpers.js';

guardUnhandledRejections();
const scope = createTestScope();

async function ask(p: RawPeer, frame: { id: number } & Record<string, unknown>) {
  p.send(frame);
  return p.answer(frame.id);
}

/** Frames arrive in order: once the pong is in, everything sent before it is too. */
async function settled(p: RawPeer): Promise<void> {
  const pongs = p.frames.filter((f) => f.t === 'pong').length;
  p.send({ t: 'ping' });
  await until(() => p.frames.filter((f) => f.t === 'pong').length > pongs, 'pong');
}

describe('sub answers (docs/protocol.md §2.7)', () => {
  async function setup() {
    const { server, url } = await scope.server({}, (s) =>
      s.topic('feed', { subscribe: true, publish: true, history: { size: 100, ttlMs: 60_000 } }).topic('plain', { subscribe: true }),
    );
    return { server, p: await scope.peer(url).ready() };
  }

  it('a second sub of a topic with history answers the position the messages continue after, and replays nothing', async () => {
    const { server, p } = await setup();
    const first = await ask(p, { t: 'sub', id: 1, topic: 'feed' });
    const { epoch } = (first.output as { position: { epoch: string } }).position;
    // Empty topic: offset 0, no `recovered` (no `since` was asked).
    expect(first).toEqual({ t: 'ok', id: 1, output: { position: { epoch, offset: 0 } } });
    await server.publish('feed', 'a');
    await server.publish('feed', 'b');
    await p.next((f) => f.t === 'msg' && f.data === 'b', 'b');
    const second = await ask(p, { t: 'sub', id: 2, topic: 'feed' });
    expect(second).toEqual({ t: 'ok', id: 2, output: { position: { epoch, offset: 2 } } });
    // With `since` and `history` too: nothing is replayed, no `recovered`.
    const third = await ask(p, { t: 'sub', id: 3, topic: 'feed', since: { epoch, offset: 0 }, history: 5 });
    expect(third).toEqual({ t: 'ok', id: 3, output: { position: { epoch, offset: 2 } } });
    await server.publish('feed', 'c');
    await p.next((f) => f.t === 'msg' && f.data === 'c', 'c');
    await settled(p);
    expect(p.frames.filter((f) => f.t === 'msg').map((f) => [f.data, (f.meta as { offset: number }).offset])).toEqual([
      ['a', 1],
      ['b', 2],
      ['c', 3],
    ]);
  });

  it('a topic without history answers no position, first sub or second', async () => {
    const { p } = await setup();
    expect(await ask(p, { t: 'sub', id: 1, topic: 'plain' })).toEqual({ t: 'ok', id: 1, output: {} });
    expect(await ask(p, { t: 'sub', id: 2, topic: 'plain' })).toEqual({ t: 'ok', id: 2, output: {} });
    expect(await ask(p, { t: 'sub', id: 3, topic: 'plain', since: { epoch: 'e', offset: 1 } })).toEqual({ t: 'ok', id: 3, output: {} });
  });
});

describe('malformed flow-control frames (docs/protocol.md §2.3)', () => {
  async function setup() {
    const log = { finally: 0, uploadDone: 0, uploadFailed: [] as unknown[] };
    const { url } = await scope.server({}, (s) =>
      s
        .command('echo', (x) => x)
        .stream('count', async function* () {
          try {
            for (let i = 0; ; i++) yield i;
          } finally {
            log.finally++;
          }
        })
        .upload('sink', async (_input, items) => {
          try {
            let n = 0;
            for await (const _ of items) n++;
            log.uploadDone++;
            return n;
          } catch (err) {
            log.uploadFailed.push(err);
            throw err;
          }
        }),
    );
    return { log, p: await scope.peer(url).ready() };
  }

  it('credit with n: 0 for a live stream ends that stream with err BAD_REQUEST: nothing follows for its id', async () => {
    const { p, log } = await setup();
    p.send({ t: 'stream', id: 1, name: 'count', credit: 2 });
    await until(() => p.frames.filter((f) => f.t === 'item' && f.id === 1).length === 2, 'two items');
    p.send({ t: 'credit', id: 1, n: 0 });
    expect(await p.answer(1)).toMatchObject({ t: 'err', id: 1, code: 'BAD_REQUEST' });
    await until(() => log.finally === 1, 'the generator closed (its finally ran)');
    // The stream is over: a valid credit now is for an id that is not live, and is ignored.
    p.send({ t: 'credit', id: 1, n: 5 });
    expect(await ask(p, { t: 'call', id: 2, name: 'echo', input: 'alive' })).toMatchObject({ t: 'ok' });
    await settled(p);
    expect(p.frames.filter((f) => f.id === 1).map((f) => f.t)).toEqual(['item', 'item', 'err']);
  });

  it('a malformed item for a live upload ends the upload with err BAD_REQUEST: its one answer', async () => {
    const { p, log } = await setup();
    p.send({ t: 'upload', id: 1, name: 'sink' });
    await p.next((f) => f.t === 'credit' && f.id === 1, 'credit');
    p.send({ t: 'item', id: 1, items: ['a'] });
    p.send({ t: 'item', id: 1, items: [] });
    expect(await p.answer(1)).toMatchObject({ t: 'err', id: 1, code: 'BAD_REQUEST' });
    p.send({ t: 'end', id: 1 });
    await until(() => log.uploadFailed.length === 1, 'the handler saw the upload fail');
    expect(log.uploadFailed[0]).toMatchObject({ code: 'BAD_REQUEST' });
    await settled(p);
    expect(p.frames.filter((f) => f.id === 1 && (f.t === 'ok' || f.t === 'err'))).toHaveLength(1);
    expect(log.uploadDone).toBe(0);
  });

  it('a malformed credit for an id that is not live is answered err BAD_REQUEST; a valid one is ignored', async () => {
    const { p } = await setup();
    expect(await ask(p, { t: 'credit', id: 9, n: 0 })).toMatchObject({ t: 'err', id: 9, code: 'BAD_REQUEST' });
    p.send({ t: 'credit', id: 10, n: 1 });
    await settled(p);
    expect(p.frames.some((f) => f.id === 10)).toBe(false);
  });

  it('malformed credit for ids that are not live counts against limits.rate like any malformed request', async () => {
    const { url } = await scope.server({ limits: { rate: { perSecond: 0.001, burst: 2 } } });
    const p = await scope.peer(url).ready();
    const codes = [];
    for (const id of [1, 2, 3]) codes.push((await ask(p, { t: 'credit', id, n: 0 })).code);
    expect(codes).toEqual(['BAD_REQUEST', 'BAD_REQUEST', 'RATE_LIMITED']);
  });

  it('validateClientFrame does not call a malformed credit or item valid (switchboard/protocol)', () => {
    for (const frame of [{ t: 'credit', id: 1, n: 0 }, { t: 'item', id: 1, items: [] }, { t: 'item', id: 1, items: 'x' }]) {
      const v = validateClientFrame(frame);
      expect(v.ok, JSON.stringify(frame)).toBe(false);
      if (!v.ok) expect(v.fault).toMatchObject({ kind: 'flow', frame: { t: 'err', id: 1, code: 'BAD_REQUEST' } });
    }
    expect(validateClientFrame({ t: 'credit', id: 1, n: 3 })).toEqual({ ok: true, frame: { t: 'credit', id: 1, n: 3 } });
  });
});
