/**
 * Where docs/protocol.md is exact and a client written from it alone relies on it: what a malformed
 * flow-control frame does to its upload and to the rate limit (§2.3). Raw peers on real sockets, so
 * the frames themselves are what is checked. The `sub` answer in every case (§2.7) and malformed
 * credit for a live stream or an id that is not live run against a server process on Node and on
 * Bun, in test/runtime-recovery.test.ts and test/runtime-streams.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { validateClientFrame } from '../src/protocol/frames.js';
import { createTestScope, guardUnhandledRejections, until } from './helpers.js';

guardUnhandledRejections();
const scope = createTestScope();

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
    await p.settled();
    expect(p.frames.filter((f) => f.id === 1 && (f.t === 'ok' || f.t === 'err'))).toHaveLength(1);
    expect(log.uploadDone).toBe(0);
  });

  it('malformed credit for ids that are not live counts against limits.rate like any malformed request', async () => {
    const { url } = await scope.server({ limits: { rate: { perSecond: 0.001, burst: 2 } } });
    const p = await scope.peer(url).ready();
    const codes = [];
    for (const id of [1, 2, 3]) codes.push((await p.request({ t: 'credit', id, n: 0 })).code);
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
