import { describe, expect, it, vi } from 'vitest';
import type { Member } from '../src/client/node.js';
import type { Server } from '../src/server/index.js';
import { createTestScope, until, within } from './helpers.js';

const scope = createTestScope();

async function setup(configure?: (s: Server<{ id: string }>) => void) {
  return scope.server<{ id: string }>(
    {
      authenticate: (_req, token) => (token ? { id: token.split('#')[0]! } : null),
      presence: { info: (i) => ({ name: i.id.toUpperCase() }) },
      // The default rate limit (100/s, burst 200) would refuse a 2,000-publish burst from one client.
      limits: { rate: { perSecond: 10_000, burst: 5_000 } },
    },
    (s) => {
      s.topic('room:*', { subscribe: true, publish: true, presence: true }).topic('feed', { subscribe: true, publish: true });
      configure?.(s);
    },
  );
}

describe('pub/sub', () => {
  it('delivers 2,000 back-to-back publishes complete and in order to every subscriber', async () => {
    const { url, server } = await setup();
    const subscribers = ['a', 'b', 'c'].map((id) => scope.client(url, { token: id }));
    const received = subscribers.map(() => [] as number[]);
    await Promise.all(subscribers.map((c, i) => c.subscribe<number>('feed', (n) => received[i]!.push(n)).ready));
    const publisher = scope.client(url, { token: 'p' });
    // Open first: 2,000 requests exceed the default offline queue of 1,000 (which would refuse them).
    await until(() => publisher.state === 'open', 'publisher open');
    // From a client: 2,000 publishes without awaiting each one.
    await Promise.all(Array.from({ length: 2_000 }, (_, i) => publisher.publish('feed', i)));
    // From the server, too.
    for (let i = 2_000; i < 4_000; i++) void server.publish('feed', i);
    await until(() => received.every((r) => r.length === 4_000), 'all 4,000 messages at every subscriber', 10_000);
    const expected = Array.from({ length: 4_000 }, (_, i) => i);
    for (const r of received) expect(r).toEqual(expected);
  });

  // Meta, echo by default and echo:false: test/codecs.test.ts, under both codecs.

  it('rejects ready and publish with FORBIDDEN where no rule allows, without affecting the connection', async () => {
    const { url } = await setup((s) => s.topic('readonly', { subscribe: true }));
    const c = scope.client(url, { token: 'x' });
    await expect(c.subscribe('secret', () => {}).ready).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(c.publish('readonly', 1)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(c.publish('nowhere', 1)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await c.subscribe('readonly', () => {}).ready;
    expect(c.state).toBe('open');
  });

  it('shares one server subscription between handlers and ends it with the last unsubscribe', async () => {
    let subs = 0;
    const { url, server } = await setup((s) => s.topic('shared', { subscribe: () => (subs++, true) }));
    const c = scope.client(url, { token: 'x' });
    const a: unknown[] = [];
    const b: unknown[] = [];
    const s1 = c.subscribe('shared', (d) => a.push(d));
    const s2 = c.subscribe('shared', (d) => b.push(d));
    await Promise.all([s1.ready, s2.ready]);
    expect(subs).toBe(1);
    await server.publish('shared', 1);
    await until(() => a.length === 1 && b.length === 1, 'both handlers');
    s1.unsubscribe();
    await server.publish('shared', 2);
    await until(() => b.length === 2, 'remaining handler');
    expect(a).toEqual([1]);
    s2.unsubscribe();
    // The unsubscribe travels before the call; once the call answers the server has processed it.
    server.command('noop', () => null);
    await c.call('noop');
    await server.publish('shared', 3);
    await c.call('noop');
    expect(b).toEqual([1, 2]);
  });

  it('reports a throwing handler as an error event without breaking other handlers', async () => {
    const { url, server } = await setup();
    const c = scope.client(url, { token: 'x' });
    const errors: Error[] = [];
    c.on('error', (e) => errors.push(e));
    const got: unknown[] = [];
    await c.subscribe('feed', () => { throw new Error('handler bug'); }).ready;
    await c.subscribe('feed', (d) => got.push(d)).ready;
    await server.publish('feed', 'x');
    await until(() => got.length === 1, 'second handler still called');
    expect(errors.map((e) => e.message)).toEqual(['handler bug']);
  });

  it('a throwing error listener is called once and its error rethrown once, not reported on error again (no recursion)', async () => {
    const { url, server } = await setup();
    const c = scope.client(url, { token: 'x' });
    let calls = 0;
    c.on('error', () => {
      calls++;
      throw new Error('error listener bug');
    });
    await c.subscribe('feed', () => {
      throw new Error('handler bug');
    }).ready;
    // The shared fallback rethrows in a microtask; catch it here instead of failing the run.
    const rethrown: unknown[] = [];
    const original = globalThis.queueMicrotask;
    vi.stubGlobal('queueMicrotask', (cb: () => void) =>
      original(() => {
        try {
          cb();
        } catch (err) {
          rethrown.push(err);
        }
      }),
    );
    try {
      await server.publish('feed', 'x');
      // Delivery, the error report and any recursion are synchronous: done once something is rethrown.
      await until(() => rethrown.length > 0, 'the error listener error rethrown');
    } finally {
      vi.unstubAllGlobals();
    }
    expect(calls).toBe(1);
    expect(rethrown.map((e) => (e as Error).message)).toEqual(['error listener bug']);
  });
});

describe('presence', () => {
  it('aggregates per identity: three tabs join once and leave with the last one', async () => {
    const { url } = await setup();
    const watcher = scope.client(url, { token: 'watcher' });
    const sub = watcher.subscribe('room:1', () => {});
    const joins: Member[] = [];
    const leaves: Member[] = [];
    sub.on('join', (m) => joins.push(m));
    sub.on('leave', (m) => leaves.push(m));
    await sub.ready;
    expect(sub.members()).toEqual([{ id: 'watcher', info: { name: 'WATCHER' } }]);

    const tabs = [1, 2, 3].map((n) => scope.client(url, { token: `alice#tab${n}` }));
    await Promise.all(tabs.map((t) => t.subscribe('room:1', () => {}).ready));
    await until(() => joins.length >= 1, 'alice joins');
    expect(await watcher.presence('room:1')).toHaveLength(2);
    expect(joins).toEqual([{ id: 'alice', info: { name: 'ALICE' } }]);

    tabs[0]!.close();
    tabs[1]!.close();
    // Both closes were handled once a later presence query answers without a leave.
    await until(() => watcher.state === 'open', 'open');
    expect((await watcher.presence('room:1')).map((m) => m.id).sort()).toEqual(['alice', 'watcher']);
    expect(leaves).toEqual([]);
    tabs[2]!.close();
    await until(() => leaves.length === 1, 'alice leaves with her last tab');
    expect(leaves).toEqual([{ id: 'alice', info: { name: 'ALICE' } }]);
    expect(sub.members().map((m) => m.id)).toEqual(['watcher']);
    expect(joins).toHaveLength(1);
  });

  it('reports a throwing presence listener as a client error event; the other listeners still hear it, and unsubscribe removes them', async () => {
    const { url } = await setup();
    const watcher = scope.client(url, { token: 'watcher' });
    const errors: Error[] = [];
    watcher.on('error', (e) => errors.push(e));
    const sub = watcher.subscribe('room:9', () => {});
    const joins: string[] = [];
    sub.on('join', () => {
      throw new Error('listener bug');
    });
    sub.on('join', (m) => joins.push(m.id));
    await sub.ready;
    const dana = scope.client(url, { token: 'dana' });
    await dana.subscribe('room:9', () => {}).ready;
    await until(() => joins.length === 1, 'second join listener still called');
    expect(joins).toEqual(['dana']);
    expect(errors.map((e) => e.message)).toEqual(['listener bug']);
    // A second handle keeps the topic; the first handle's listeners go with its unsubscribe.
    const other = watcher.subscribe('room:9', () => {});
    const otherJoins: string[] = [];
    other.on('join', (m) => otherJoins.push(m.id));
    sub.unsubscribe();
    const erin = scope.client(url, { token: 'erin' });
    await erin.subscribe('room:9', () => {}).ready;
    await until(() => otherJoins.includes('erin'), 'erin joins');
    expect(joins).toEqual(['dana']);
    expect(errors).toHaveLength(1);
  });

  it('re-syncs the member list after a reconnect, reporting differences as join/leave', async () => {
    const first = await setup();
    const watcher = scope.client(first.url, { token: 'watcher', reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
    const bob = scope.client(first.url, { token: 'bob', reconnect: false });
    const sub = watcher.subscribe('room:2', () => {});
    await sub.ready;
    await bob.subscribe('room:2', () => {}).ready;
    await until(() => sub.members().length === 2, 'bob present');
    const leaves: string[] = [];
    const joins: string[] = [];
    sub.on('leave', (m) => leaves.push(m.id));
    sub.on('join', (m) => joins.push(m.id));
    await first.server.close();
    const second = await scope.server<{ id: string }>(
      { port: first.port, authenticate: (_r, t) => (t ? { id: t } : null) },
      (s) => s.topic('room:*', { subscribe: true, presence: true }),
    );
    const carol = scope.client(second.url, { token: 'carol' });
    await carol.subscribe('room:2', () => {}).ready;
    await until(() => leaves.includes('bob') && sub.members().length === 2, 'member list re-synced');
    expect(sub.members().map((m) => m.id).sort()).toEqual(['carol', 'watcher']);
    expect(joins).toContain('carol');
  });

  it('ends a subscription whose re-subscription is refused after a reconnect, with an error event', async () => {
    const first = await setup();
    const c = scope.client(first.url, { token: 'x', reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
    const sub = c.subscribe('room:3', () => {});
    await sub.ready;
    const failed = within(new Promise((r) => sub.on('error', r)), 'subscription error');
    await first.server.close();
    // The restarted server has no rule for room:* any more.
    await scope.server({ port: first.port });
    expect(await failed).toMatchObject({ code: 'FORBIDDEN' });
  });

  it('two handles that add the same listener function each keep it until their own unsubscribe', async () => {
    const { url } = await setup();
    const c = scope.client(url, { token: 'watcher' });
    const joined: string[] = [];
    const onJoin = (m: Member) => joined.push(m.id);
    const a = c.subscribe('room:shared', () => {});
    const b = c.subscribe('room:shared', () => {});
    a.on('join', onJoin);
    b.on('join', onJoin);
    await Promise.all([a.ready, b.ready]);
    a.unsubscribe();
    const other = scope.client(url, { token: 'bob' });
    await other.subscribe('room:shared', () => {}).ready;
    await until(() => joined.includes('bob'), 'the remaining handle to see bob join');
    expect(joined.filter((id) => id === 'bob')).toEqual(['bob']);
  });
});
