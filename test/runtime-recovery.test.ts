/**
 * Topic history and recovery (docs/protocol.md §2.7, docs/guarantees.md) against a server process
 * on every runtime of test/runtime-server.ts: positions on every message, replay after a cut with
 * nothing lost or repeated, a window gap when too much was missed, an epoch gap after the server
 * process restarted on the same port, and `history` on first subscribe. A TCP proxy (test/chaos-
 * proxy.ts) cuts the subscriber's connection; a second client, connected directly, publishes
 * through the fixture's `publish` command. The `sub` answers moved here from
 * test/conformance.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { Client } from '../src/client/node.js';
import { createChaosProxy } from './chaos-proxy.js';
import { createTestScope, until, within } from './helpers.js';
import { record } from './record.js';
import { RUNTIMES, runtimeServer, sharedRuntimeServer, warnSkippedRuntimes, type RuntimeServer } from './runtime-server.js';

warnSkippedRuntimes('test/runtime-recovery.test.ts');
const scope = createTestScope();

/** Reconnects fast: the tests sever connections on purpose. */
const FAST = { initialDelayMs: 5, maxDelayMs: 50, maxAttempts: Infinity, stableAfterMs: 1_000 };
const HISTORY = { history: { size: 100, ttlMs: 60_000 } };

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
let topics = 0;
/** A topic of the fixture's `prefix*` rule no other test used. */
const fresh = (prefix: string) => `${prefix}:${++topics}`;

/** Publishes `from`..`to` on `topic` from the server side, through a direct connection. */
function publisher(server: RuntimeServer): (topic: string, from: number, to: number) => Promise<unknown> {
  const c: Client = scope.client(server.url);
  return (topic, from, to) => c.call('publish', { topic, from, to });
}

describe.each(RUNTIMES)('recovery on $name', (runtime) => {
  describe.skipIf(runtime.skip !== undefined)(runtime.skip ? `skipped: ${runtime.skip}` : 'against a server process', () => {
    const shared = sharedRuntimeServer(runtime, HISTORY);
    const proxied = async () => {
      const proxy = scope.track(await createChaosProxy(shared().port));
      const c = scope.client(proxy.url, { reconnect: FAST });
      return { proxy, c };
    };

    describe('sub answers (docs/protocol.md §2.7)', () => {
      it('a second sub of a topic with history answers the position the messages continue after; with `since` it is answered as a first sub', async () => {
        const topic = fresh('feed');
        const p = await scope.peer(shared().url).ready();
        const publish = (v: string, id: number) => p.request({ t: 'call', id, name: 'publish', input: { topic, data: v } });
        const first = await p.request({ t: 'sub', id: 1, topic });
        const { epoch } = (first.output as { position: { epoch: string } }).position;
        // Empty topic: offset 0, no `recovered` (no `since` was asked).
        expect(first).toEqual({ t: 'ok', id: 1, output: { position: { epoch, offset: 0 } } });
        await publish('a', 10);
        await publish('b', 11);
        await p.next((f) => f.t === 'msg' && f.data === 'b', 'b');
        const second = await p.request({ t: 'sub', id: 2, topic });
        expect(second).toEqual({ t: 'ok', id: 2, output: { position: { epoch, offset: 2 } } });
        // With `since`: answered as a first `sub` with that `since` (docs/protocol.md §2.7): what
        // follows it is replayed, also what was already sent live, which a client drops by offset.
        const third = await p.request({ t: 'sub', id: 3, topic, since: { epoch, offset: 0 }, history: 5 });
        expect(third).toEqual({ t: 'ok', id: 3, output: { position: { epoch, offset: 0 }, recovered: true } });
        await publish('c', 12);
        await p.next((f) => f.t === 'msg' && f.data === 'c', 'c');
        await p.settled();
        expect(p.frames.filter((f) => f.t === 'msg').map((f) => [f.data, (f.meta as { offset: number }).offset])).toEqual([
          ['a', 1],
          ['b', 2],
          ['a', 1],
          ['b', 2],
          ['c', 3],
        ]);
      });

      it('a topic without history answers no position, first sub or second', async () => {
        const topic = fresh('plain');
        const p = await scope.peer(shared().url).ready();
        expect(await p.request({ t: 'sub', id: 1, topic })).toEqual({ t: 'ok', id: 1, output: {} });
        expect(await p.request({ t: 'sub', id: 2, topic })).toEqual({ t: 'ok', id: 2, output: {} });
        expect(await p.request({ t: 'sub', id: 3, topic, since: { epoch: 'e', offset: 1 } })).toEqual({ t: 'ok', id: 3, output: {} });
      });
    });

    it('gives every message its epoch and consecutive offset; the sub answer has the position', async () => {
      const topic = fresh('feed');
      const c = scope.client(shared().url);
      const r = record(c, topic);
      await within(r.sub.ready, 'subscribed');
      expect(r.sub.position()).toEqual({ epoch: expect.any(String), offset: 0 });
      const last = await publisher(shared())(topic, 1, 3);
      await until(() => r.got.length === 3, 'three messages');
      expect(r.offsets()).toEqual([1, 2, 3]);
      expect(last).toEqual({ epoch: r.sub.position()!.epoch, offset: 3 });
    });

    it('replays what was published while away, exactly once and in order, on every reconnect', async () => {
      const topic = fresh('feed');
      const publish = publisher(shared());
      const { proxy, c } = await proxied();
      const r = record(c, topic);
      await within(r.sub.ready, 'subscribed');
      let next = 1;
      for (let round = 0; round < 3; round++) {
        await publish(topic, next, next);
        next++;
        proxy.pause();
        await until(() => c.state !== 'open', `cut ${round}`);
        await publish(topic, next, next + 19);
        next += 20;
        proxy.resume();
        await until(() => r.got.length === next - 1, `round ${round} complete`);
      }
      expect(r.data()).toEqual(range(1, next - 1));
      expect(r.offsets()).toEqual(range(1, next - 1));
      expect(r.gaps).toEqual([]);
      expect(r.got.filter((g) => g.meta.recovered === true)).toHaveLength(3);
    });

    it('reports a window gap when more than `size` messages were missed, replays none of them, then resumes live', async () => {
      const topic = fresh('small');
      const publish = publisher(shared());
      const { proxy, c } = await proxied();
      const r = record(c, topic);
      await within(r.sub.ready, 'subscribed');
      await publish(topic, 1, 2);
      await until(() => r.got.length === 2, 'first two');
      proxy.pause();
      await until(() => c.state !== 'open', 'client noticed the cut');
      await publish(topic, 3, 30); // 28 missed, only 10 kept
      proxy.resume();
      await until(() => r.gaps.length === 1, 'gap reported');
      const epoch = r.sub.position()!.epoch;
      expect(r.gaps[0]).toEqual({ topic, reason: 'window', from: { epoch, offset: 2 }, to: { epoch, offset: 30 } });
      await publish(topic, 31, 32);
      await until(() => r.got.length === 4, 'live resumes');
      expect(r.data()).toEqual([1, 2, 31, 32]);
    });

    it('replays nothing and loses nothing live on a topic without history', async () => {
      const topic = fresh('plain');
      const publish = publisher(shared());
      const { proxy, c } = await proxied();
      const r = record(c, topic);
      await within(r.sub.ready, 'subscribed');
      expect(r.sub.position()).toBeUndefined();
      expect(await publish(topic, 1, 1)).toBeNull();
      await until(() => r.got.length === 1, 'live message');
      proxy.pause();
      await until(() => c.state !== 'open', 'client noticed the cut');
      await publish(topic, 2, 2);
      proxy.resume();
      await within(new Promise((res) => c.on('open', () => res(undefined))), 'reconnected');
      await c.publish(topic, 3); // topic operations run in order: the re-subscription is in place
      await until(() => r.got.length === 2, 'live message after reconnect');
      expect(r.data()).toEqual([1, 3]);
      expect(r.gaps).toEqual([]);
    });

    it('history: N on first subscribe replays the last N before live ones', async () => {
      const topic = fresh('feed');
      const publish = publisher(shared());
      await publish(topic, 1, 20);
      const r = record(scope.client(shared().url), topic, { history: 5 });
      await within(r.sub.ready, 'subscribed');
      await until(() => r.got.length === 5, 'history');
      await publish(topic, 21, 21);
      await until(() => r.got.length === 6, 'live');
      expect(r.data()).toEqual([16, 17, 18, 19, 20, 21]);
    });

    it('after the server process restarted on the same port: one epoch gap, then the new epoch from its start', async () => {
      const first = await runtimeServer(scope, runtime, HISTORY);
      const c = scope.client(first.url, { reconnect: FAST });
      const r = record(c, 'feed');
      await within(r.sub.ready, 'subscribed');
      await publisher(first)('feed', 1, 2);
      await until(() => r.got.length === 2, 'before the restart');
      const before = r.sub.position()!;
      expect(await first.close()).toBe(0);
      await until(() => c.state !== 'open', 'the client saw the server go');
      const second = await runtimeServer(scope, runtime, { ...HISTORY, port: first.port });
      await publisher(second)('feed', 3, 20);
      await until(() => r.got.length === 20, 'every message the new server holds');
      expect(r.data()).toEqual(range(1, 20));
      const epoch = r.got[2]!.meta.epoch!;
      expect(epoch).not.toBe(before.epoch);
      expect(r.gaps).toEqual([{ topic: 'feed', reason: 'epoch', from: before, to: { epoch, offset: expect.any(Number) } }]);
      expect(r.offsets().slice(2)).toEqual(range(1, 18));
    });
  });
});
