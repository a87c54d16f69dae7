/**
 * Server control (docs/server.md, "Server control"; docs/protocol.md §2.9): connection hooks,
 * targeted events, kicks and server-side subscriptions, run on the in-memory engine (one node) and
 * on the Redis engine across two nodes sharing one prefix, where every command is sent from the
 * node the target is NOT connected to. The Redis entry is skipped with a printed reason without Redis.
 */
import { describe, expect, it } from 'vitest';
import { msgpack } from '../src/msgpack/index.js';
import type { Client, ClientOptions, Subscription } from '../src/client/node.js';
import { redisEmitter, redisEngine } from '../src/engines/redis/index.js';
import { CloseCode, ErrorCode, SwitchboardError, type ConnectInfo, type DisconnectInfo, type Server, type ServerOptions } from '../src/server/index.js';
import { createTestScope, guardUnhandledRejections, recordingLogger, until, within, type RawPeer } from './helpers.js';
import { dropPrefix, REDIS_URL, requireRedis, testPrefix } from './redis-helpers.js';

const hasRedis = await requireRedis('test/server-control.test.ts (redis entries)');
guardUnhandledRejections();
const scope = createTestScope();

/** Reconnects fast: kicks with `reconnect: true` are part of the tests. */
const FAST = { initialDelayMs: 5, maxDelayMs: 50, maxAttempts: 20, stableAfterMs: 1_000 };
const HISTORY = { size: 100, ttlMs: 60_000 };

/** The identity is the token itself: the member id is the user's name (docs/server.md, "Presence"). */
const BASE: ServerOptions<string> = { authenticate: (_req, token) => token || undefined };

function rules(s: Server<string>): void {
  s.topic('room:*', { subscribe: true, publish: true, presence: true });
  s.topic('private:*', { subscribe: false, presence: true, history: HISTORY });
  s.topic('open:*', { subscribe: (ctx) => ctx.identity !== 'mallory', history: HISTORY });
  s.command('echo', (x: unknown) => x);
}

interface Cluster {
  /** The node commands are sent from. */
  a: { server: Server<string>; url: string };
  /** The node the targets are connected to (the same node on the memory engine). */
  b: { server: Server<string>; url: string };
}

const NODES: { name: string; skip?: string; start(o?: ServerOptions<string>): Promise<Cluster> }[] = [
  {
    name: 'memory (one node)',
    async start(o = {}) {
      const one = await scope.server<string>({ ...BASE, ...o }, rules);
      return { a: one, b: one };
    },
  },
  {
    name: 'redis (two nodes)',
    ...(hasRedis ? {} : { skip: `no Redis answers at ${REDIS_URL}` }),
    async start(o = {}) {
      const prefix = testPrefix();
      scope.defer(() => dropPrefix(prefix));
      const engine = () => scope.track(redisEngine({ url: REDIS_URL, prefix }));
      const a = await scope.server<string>({ ...BASE, ...o, engine: engine() }, rules);
      const b = await scope.server<string>({ ...BASE, ...o, engine: engine() }, rules);
      return { a, b };
    },
  },
];

function user(url: string, token: string, o: ClientOptions = {}): Client {
  return scope.client(url, { token, reconnect: FAST, ...o });
}

async function opened(c: Client): Promise<string> {
  await until(() => c.state === 'open', 'client open');
  return c.clientId!;
}

/** A raw peer authenticated as `token` (subprotocol transport, docs/protocol.md §1.1). */
function rawUser(url: string, token: string): RawPeer {
  return scope.peer(url, ['switchboard.v1.json', `switchboard.auth.${Buffer.from(token).toString('base64url')}`]);
}

/** Records a client's targeted events. */
function eventsOf(c: Client): { name: string; data?: unknown }[] {
  const seen: { name: string; data?: unknown }[] = [];
  c.on('event', ({ name, data }) => void seen.push({ name, data }));
  return seen;
}

describe.each(NODES)('server control on $name', ({ skip, start }) => {
  describe.skipIf(skip)('connection hooks', () => {
    it('report accepted and closed connections of this node, with who closed', async () => {
      const { a, b } = await start();
      const connects: ConnectInfo<string>[] = [];
      const disconnects: DisconnectInfo<string>[] = [];
      b.server.on('connect', (info) => void connects.push(info));
      b.server.on('disconnect', (info) => void disconnects.push(info));
      const onA: ConnectInfo<string>[] = [];
      if (a !== b) a.server.on('connect', (info) => void onA.push(info));

      const alice = user(b.url, 'alice');
      const id = await opened(alice);
      const bob = user(b.url, 'bob', { codec: msgpack() });
      const bobId = await opened(bob);
      expect(connects).toEqual([
        { clientId: id, identity: 'alice', member: 'alice', remoteAddress: '127.0.0.1', codec: 'json', transport: 'websocket' },
        { clientId: bobId, identity: 'bob', member: 'bob', remoteAddress: '127.0.0.1', codec: 'msgpack', transport: 'websocket' },
      ]);
      if (a !== b) expect(onA).toEqual([]); // hooks see their own node's connections only

      alice.close(1000, 'bye');
      await until(() => disconnects.length === 1, 'disconnect of alice');
      expect(disconnects[0]).toMatchObject({ clientId: id, member: 'alice', code: 1000, reason: 'bye', initiator: 'client' });

      await a.server.kick({ clientId: bobId }, { reason: 'enough' });
      await until(() => disconnects.length === 2, 'disconnect of bob');
      expect(disconnects[1]).toMatchObject({ clientId: bobId, code: CloseCode.KICKED, reason: 'enough', initiator: 'server', codec: 'msgpack' });
    });

    it('log a throwing hook and leave the connection alone; the returned function removes a hook', async () => {
      const logger = recordingLogger();
      const { b } = await start({ logger });
      let calls = 0;
      const off = b.server.on('connect', () => {
        calls++;
        throw new Error('hook bug');
      });
      b.server.on('disconnect', async () => {
        throw new Error('async hook bug');
      });
      const c = user(b.url, 'alice');
      await opened(c);
      expect(await c.call('echo', 7)).toBe(7);
      expect(logger.lines.some((l) => l.level === 'error' && (l.obj as { err?: Error }).err?.message === 'hook bug')).toBe(true);
      off();
      const d = user(b.url, 'bob');
      await opened(d);
      expect(calls).toBe(1);
      d.close();
      await until(() => logger.lines.some((l) => (l.obj as { err?: Error }).err?.message === 'async hook bug'), 'the async hook failure logged');
      expect(await c.call('echo', 8)).toBe(8);
    });

    it('report the code the server closed with for a protocol fault, whatever the peer echoes', async () => {
      const { b } = await start();
      const disconnects: DisconnectInfo<string>[] = [];
      b.server.on('disconnect', (info) => void disconnects.push(info));
      const p = rawUser(b.url, 'alice');
      await p.ready();
      p.send('not json');
      expect(await p.closed()).toBe(1007);
      await until(() => disconnects.length === 1, 'disconnect');
      expect(disconnects[0]).toMatchObject({ member: 'alice', code: 1007, reason: 'message is not valid JSON', initiator: 'server' });
    });

    it('refuse an unknown event or a hook that is not a function', async () => {
      const { b } = await start();
      expect(() => b.server.on('open' as 'connect', () => {})).toThrow(TypeError);
      expect(() => b.server.on('connect', 'nope' as never)).toThrow(TypeError);
    });
  });

  describe.skipIf(skip)('targeted events', () => {
    it('reach one connection by clientId, or every connection of a member, on any node, in order', async () => {
      const { a, b } = await start();
      const alice1 = user(b.url, 'alice');
      const alice2 = user(a.url, 'alice', { codec: msgpack() });
      const bob = user(b.url, 'bob');
      const [id1] = await Promise.all([opened(alice1), opened(alice2), opened(bob)]);
      const [e1, e2, eb] = [eventsOf(alice1), eventsOf(alice2), eventsOf(bob)];

      await a.server.send({ clientId: id1 }, 'only-you', { n: 0 });
      for (let i = 1; i <= 20; i++) await a.server.send({ member: 'alice' }, 'seq', i);
      await a.server.send({ member: 'alice' }, 'bytes', new Uint8Array([1, 2, 3]));
      await a.server.send({ member: 'alice' }, 'bare');
      await a.server.send({ member: 'bob' }, 'marker', null);
      await until(() => e1.length === 23 && e2.length === 22 && eb.length === 1, 'every event');

      const seq = Array.from({ length: 20 }, (_, i) => ({ name: 'seq', data: i + 1 }));
      expect(e1.slice(0, 21)).toEqual([{ name: 'only-you', data: { n: 0 } }, ...seq]);
      expect(e2.slice(0, 20)).toEqual(seq);
      for (const e of [e1, e2]) {
        expect(new Uint8Array(e.at(-2)!.data as Uint8Array)).toEqual(new Uint8Array([1, 2, 3]));
        expect(e.at(-1)).toEqual({ name: 'bare', data: undefined });
      }
      expect(eb).toEqual([{ name: 'marker', data: null }]); // bob received nothing meant for alice
    });

    it('to an offline target resolve and are not kept; bad input throws and disturbs nothing', async () => {
      const { a, b } = await start();
      const alice = user(b.url, 'alice');
      await opened(alice);
      const seen = eventsOf(alice);
      await a.server.send({ clientId: 'nobody' }, 'lost', 1);
      await a.server.send({ member: 'nobody' }, 'lost', 1);
      // A client that connects later gets nothing of what was sent before (docs/protocol.md §2.9).
      const later = user(b.url, 'nobody');
      await opened(later);
      const laterSeen = eventsOf(later);

      for (const target of [{}, { clientId: '' }, { member: 1 }, { clientId: 'x', member: 'y' }, null, 'alice']) {
        await expect(a.server.send(target as never, 'e', 1)).rejects.toThrow(TypeError);
      }
      await expect(a.server.send({ member: 'alice' }, '', 1)).rejects.toThrow(TypeError);
      await expect(a.server.send({ member: 'alice' }, 'x'.repeat(257), 1)).rejects.toThrow(TypeError);
      let deep: unknown = 1;
      for (let i = 0; i < 1_001; i++) deep = [deep];
      await expect(a.server.send({ member: 'alice' }, 'deep', deep)).rejects.toMatchObject({ code: ErrorCode.BAD_REQUEST });

      await a.server.send({ member: 'alice' }, 'after', 2);
      await a.server.send({ member: 'nobody' }, 'after', 3);
      await until(() => seen.length === 1 && laterSeen.length === 1, 'the events after the refusals');
      expect(seen).toEqual([{ name: 'after', data: 2 }]);
      expect(laterSeen).toEqual([{ name: 'after', data: 3 }]);
      expect(await alice.call('echo', 'still here')).toBe('still here');
    });
  });

  describe.skipIf(skip)('kick', () => {
    it('closes with KICKED (final) on any node, every connection of a member', async () => {
      const { a, b } = await start();
      const alice1 = user(b.url, 'alice');
      const alice2 = user(a.url, 'alice');
      const bob = user(b.url, 'bob');
      await Promise.all([opened(alice1), opened(alice2), opened(bob)]);
      const closes: { code: number; reason: string; willReconnect: boolean }[] = [];
      for (const c of [alice1, alice2]) c.on('close', ({ code, reason, willReconnect }) => void closes.push({ code, reason, willReconnect }));
      await a.server.kick({ member: 'alice' }, { reason: 'banned for spam' });
      await until(() => alice1.state === 'closed' && alice2.state === 'closed', 'both of alice closed');
      expect(closes).toEqual([
        { code: 4502, reason: 'banned for spam', willReconnect: false },
        { code: 4502, reason: 'banned for spam', willReconnect: false },
      ]);
      expect(bob.state).toBe('open');
      expect(await bob.call('echo', 1)).toBe(1);
    });

    it('with reconnect: true closes with MOVED, and the client comes back on a new connection', async () => {
      const { a, b } = await start();
      const alice = user(b.url, 'alice');
      const first = await opened(alice);
      const closes: { code: number; willReconnect: boolean }[] = [];
      alice.on('close', ({ code, willReconnect }) => void closes.push({ code, willReconnect }));
      await a.server.kick({ clientId: first }, { reconnect: true });
      await until(() => closes.length === 1 && alice.state === 'open', 'alice back');
      expect(closes).toEqual([{ code: CloseCode.MOVED, willReconnect: true }]);
      expect(alice.clientId).not.toBe(first);
    });

    it('refuses a bad reason or option with a TypeError, and a kick of nobody changes nothing', async () => {
      const { a, b } = await start();
      const alice = user(b.url, 'alice');
      await opened(alice);
      await expect(a.server.kick({ member: 'alice' }, { reason: 'é'.repeat(62) })).rejects.toThrow(TypeError);
      await expect(a.server.kick({ member: 'alice' }, { reason: 5 as never })).rejects.toThrow(TypeError);
      await expect(a.server.kick({ member: 'alice' }, { reconnect: 'yes' as never })).rejects.toThrow(TypeError);
      await expect(a.server.kick({ member: 'alice' }, 'now' as never)).rejects.toThrow(TypeError);
      await expect(a.server.kick({ oops: 'alice' } as never)).rejects.toThrow(TypeError);
      await a.server.kick({ clientId: 'nobody' });
      expect(await alice.call('echo', 'fine')).toBe('fine');
      expect(alice.state).toBe('open');
    });
  });

  describe.skipIf(skip)('server-side subscriptions', () => {
    /** Subscribes to what the server subscribes this client to, from the first message. */
    function follow(c: Client): Map<string, unknown[]> {
      const got = new Map<string, unknown[]>();
      c.on('subscribed', ({ topic }) => {
        const list: unknown[] = [];
        got.set(topic, list);
        c.subscribe(topic, (data) => void list.push(data));
      });
      return got;
    }

    it('listeners get only the documented fields: { topic } for subscribed (never the grant), { name, data } for event', async () => {
      const { a, b } = await start();
      const alice = user(b.url, 'alice');
      const id = await opened(alice);
      const subscribed: unknown[] = [];
      const events: unknown[] = [];
      alice.on('subscribed', (info) => void subscribed.push(info));
      alice.on('event', (info) => void events.push(info));
      await a.server.subscribe({ clientId: id }, 'private:alice', { bypassRules: true });
      await a.server.send({ clientId: id }, 'ping', { n: 1 });
      await a.server.send({ clientId: id }, 'bare');
      await until(() => subscribed.length === 1 && events.length === 2, 'the subscribed and event listeners');
      expect(subscribed).toEqual([{ topic: 'private:alice' }]);
      expect(events).toEqual([{ name: 'ping', data: { n: 1 } }, { name: 'bare' }]);
    });

    it('bypassing the rules: messages and presence as for its own, and nothing lost across a reconnect', async () => {
      const { a, b } = await start();
      const alice = user(b.url, 'alice');
      const first = await opened(alice);
      const got = follow(alice);
      await a.server.publish('private:alice', 'before'); // history, not replayed: live from the subscription on
      await a.server.subscribe({ member: 'alice' }, 'private:alice', { bypassRules: true });
      await until(() => got.has('private:alice'), 'subscribed event');
      const sub = alice.subscribe('private:alice', () => {});
      await sub.ready;
      expect(sub.members().map((m) => m.id)).toEqual(['alice']);
      for (let i = 1; i <= 5; i++) await a.server.publish('private:alice', i);
      await until(() => got.get('private:alice')!.length === 5, 'five live messages');

      // Moved: while it is away messages keep coming; it re-subscribes with its grant and position.
      const during: Promise<unknown>[] = [];
      alice.on('close', () => {
        for (let i = 6; i <= 10; i++) during.push(a.server.publish('private:alice', i));
      });
      await a.server.kick({ clientId: first }, { reconnect: true });
      await until(() => alice.state === 'open' && alice.clientId !== first && during.length === 5, 'reconnected');
      await Promise.all(during);
      for (let i = 11; i <= 12; i++) await a.server.publish('private:alice', i);
      await until(() => got.get('private:alice')!.length === 12, 'every message once');
      expect(got.get('private:alice')).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    });

    it('honouring the rules: a refused target is left alone, an allowed one subscribed', async () => {
      const logger = recordingLogger();
      const { a, b } = await start({ logger });
      const alice = user(b.url, 'alice');
      const mallory = user(b.url, 'mallory');
      await Promise.all([opened(alice), opened(mallory)]);
      const [ga, gm] = [follow(alice), follow(mallory)];
      await a.server.subscribe({ member: 'mallory' }, 'open:news');
      await a.server.subscribe({ member: 'alice' }, 'open:news');
      await a.server.subscribe({ member: 'alice' }, 'private:x'); // no bypass: its rule refuses
      await until(() => ga.has('open:news'), 'alice subscribed');
      await alice.subscribe('open:news', () => {}).ready;
      await a.server.publish('open:news', 'hello');
      await until(() => ga.get('open:news')!.length === 1, 'the message');
      // Both refusals (mallory's by the rule function, private:x by `subscribe: false`) are logged.
      await until(() => logger.lines.filter((l) => l.msg === 'server-side subscription refused by the topic rules').length === 2, 'refusals logged');
      expect([...gm.keys()]).toEqual([]);
      expect([...ga.keys()]).toEqual(['open:news']);
    });

    it('revoked: a client subscription ends with REVOKED and the reason, and nothing more arrives', async () => {
      const { a, b } = await start();
      const alice = user(b.url, 'alice');
      const id = await opened(alice);
      const got: unknown[] = [];
      const sub = alice.subscribe('room:1', (d) => void got.push(d));
      await sub.ready;
      const errors: SwitchboardError[] = [];
      sub.on('error', (e) => void errors.push(e));
      await a.server.publish('room:1', 'one');
      await until(() => got.length === 1, 'first message');
      await a.server.unsubscribe({ clientId: id }, 'room:1', { reason: 'membership ended' });
      await until(() => errors.length === 1, 'revoked');
      expect(errors[0]).toMatchObject({ code: ErrorCode.REVOKED, message: 'membership ended' });
      const seen = eventsOf(alice);
      await a.server.publish('room:1', 'two');
      // Sent after the publish from the same node: once it is in, the publish was delivered or dropped.
      await a.server.send({ clientId: id }, 'marker');
      await until(() => seen.length === 1, 'marker after the publish');
      expect(got).toEqual(['one']);
      expect(alice.state).toBe('open');
    });

    it('grants are bound to their member and deleted by unsubscribe (raw peers, docs/protocol.md §2.9)', async () => {
      const { a, b } = await start();
      const p = rawUser(b.url, 'alice');
      await p.ready();
      await a.server.subscribe({ member: 'alice' }, 'private:alice', { bypassRules: true });
      const f = await p.next((x) => x.t === 'subscribed', 'subscribed frame');
      expect(f).toMatchObject({ topic: 'private:alice', output: { position: { offset: 0 }, members: [{ id: 'alice' }] } });
      const grant = f.grant as string;
      expect(grant).toMatch(/^m:/);

      // Another connection of alice (a reconnect) may use it; bob may not.
      const again = rawUser(a.url, 'alice');
      await again.ready();
      again.send({ t: 'sub', id: 1, topic: 'private:alice', grant });
      expect(await again.answer(1)).toMatchObject({ t: 'ok' });
      const bob = rawUser(a.url, 'bob');
      await bob.ready();
      bob.send({ t: 'sub', id: 1, topic: 'private:alice', grant });
      expect(await bob.answer(1)).toMatchObject({ t: 'err', code: ErrorCode.FORBIDDEN });
      bob.send({ t: 'sub', id: 2, topic: 'private:bob', grant });
      expect(await bob.answer(2)).toMatchObject({ t: 'err', code: ErrorCode.FORBIDDEN });
      bob.send({ t: 'sub', id: 3, topic: 'private:bob', grant: 7 });
      expect(await bob.answer(3)).toMatchObject({ t: 'err', code: ErrorCode.BAD_REQUEST });

      await a.server.unsubscribe({ member: 'alice' }, 'private:alice');
      expect(await p.next((x) => x.t === 'unsubscribed', 'unsubscribed frame')).toEqual({
        t: 'unsubscribed', topic: 'private:alice', code: 'REVOKED', message: 'Unsubscribed by the server',
      });
      await again.next((x) => x.t === 'unsubscribed', 'unsubscribed on the second connection');
      const late = rawUser(b.url, 'alice');
      await late.ready();
      late.send({ t: 'sub', id: 1, topic: 'private:alice', grant });
      expect(await late.answer(1)).toMatchObject({ t: 'err', code: ErrorCode.FORBIDDEN });
    });

    it('an anonymous connection gets a bearer grant for itself; bad input throws', async () => {
      const { a, b } = await start({ authenticate: undefined });
      const p = scope.peer(b.url);
      await p.ready();
      const clientId = (p.frames.find((f) => f.t === 'welcome') as { clientId: string }).clientId;
      await a.server.subscribe({ clientId }, 'private:guest', { bypassRules: true });
      const f = await p.next((x) => x.t === 'subscribed', 'subscribed frame');
      expect(f.grant).toMatch(/^c:/);
      const next = scope.peer(a.url);
      await next.ready();
      next.send({ t: 'sub', id: 1, topic: 'private:guest', grant: f.grant });
      expect(await next.answer(1)).toMatchObject({ t: 'ok' });

      await expect(a.server.subscribe({ clientId }, '')).rejects.toThrow(TypeError);
      await expect(a.server.subscribe({ clientId }, 'x'.repeat(257))).rejects.toThrow(TypeError);
      await expect(a.server.subscribe({ clientId }, 'room:1', { bypassRules: 1 as never })).rejects.toThrow(TypeError);
      await expect(a.server.subscribe({ id: clientId } as never, 'room:1')).rejects.toThrow(TypeError);
      await expect(a.server.unsubscribe({ clientId }, 'room:1', { reason: 'x'.repeat(124) })).rejects.toThrow(TypeError);
      await a.server.subscribe({ clientId: 'nobody' }, 'room:1');
      await a.server.unsubscribe({ member: 'nobody' }, 'room:1');
      p.send({ t: 'call', id: 9, name: 'echo', input: 'ok' });
      expect(await within(p.answer(9), 'echo answer')).toMatchObject({ t: 'ok', output: 'ok' });
    });
  });
});

describe.each(NODES)('server control on $name: revocation, reconnects, ordering', ({ skip, start }) => {
  /** A raw peer of `token`, welcomed, and its clientId. */
  async function rawIn(url: string, token: string): Promise<[RawPeer, string]> {
    const p = await rawUser(url, token).ready();
    return [p, (p.frames.find((f) => f.t === 'welcome') as { clientId: string }).clientId];
  }
  /** Whether a new connection of `token` may subscribe to `topic` with `grant` (the rules refuse it). */
  async function admits(url: string, token: string, topic: string, grant: string): Promise<boolean> {
    const [p] = await rawIn(url, token);
    const answer = await p.request({ t: 'sub', id: 1, topic, grant });
    p.ws.close();
    await p.closed();
    if (answer.t === 'err') expect(answer.code).toBe(ErrorCode.FORBIDDEN);
    return answer.t === 'ok';
  }
  const grantOf = async (p: RawPeer, topic: string) => (await p.next((f) => f.t === 'subscribed' && f.topic === topic, `subscribed to ${topic}`)).grant as string;

  it.skipIf(skip)('unsubscribing a member revokes the grants made for its connections, offline ones included', async () => {
    const { a, b } = await start();
    const [p, id] = await rawIn(b.url, 'alice');
    await a.server.subscribe({ clientId: id }, 'private:alice', { bypassRules: true });
    const grant = await grantOf(p, 'private:alice');
    expect(grant).toMatch(/^c:/);
    p.ws.close();
    await p.closed();
    expect(await admits(a.url, 'alice', 'private:alice', grant)).toBe(true);
    await a.server.unsubscribe({ member: 'alice' }, 'private:alice');
    expect(await admits(b.url, 'alice', 'private:alice', grant)).toBe(false);
  });

  it.skipIf(skip)('unsubscribing a connection revokes every grant it holds: its member\'s, its own, one it re-subscribed with', async () => {
    const { a, b } = await start();
    // The member's grant, held by a connection that is then unsubscribed by clientId.
    const [p, id] = await rawIn(b.url, 'alice');
    await a.server.subscribe({ member: 'alice' }, 'private:alice', { bypassRules: true });
    const memberGrant = await grantOf(p, 'private:alice');
    expect(memberGrant).toMatch(/^m:/);
    await a.server.unsubscribe({ clientId: id }, 'private:alice');
    await p.next((f) => f.t === 'unsubscribed', 'unsubscribed');
    expect((await p.request({ t: 'sub', id: 1, topic: 'private:alice', grant: memberGrant })).code).toBe(ErrorCode.FORBIDDEN);

    // A connection's own grant, revoked while it is offline.
    const [q, qId] = await rawIn(b.url, 'bob');
    await a.server.subscribe({ clientId: qId }, 'private:bob', { bypassRules: true });
    const own = await grantOf(q, 'private:bob');
    q.ws.close();
    await q.closed();
    await a.server.unsubscribe({ clientId: qId }, 'private:bob');
    expect(await admits(b.url, 'bob', 'private:bob', own)).toBe(false);

    // The grant of an earlier connection that a reconnect subscribed with: revoked by the new clientId.
    const [r, rId] = await rawIn(b.url, 'carol');
    await a.server.subscribe({ clientId: rId }, 'private:carol', { bypassRules: true });
    const earlier = await grantOf(r, 'private:carol');
    r.ws.close();
    const [again, againId] = await rawIn(a.url, 'carol');
    expect(await again.request({ t: 'sub', id: 1, topic: 'private:carol', grant: earlier })).toMatchObject({ t: 'ok' });
    again.ws.close();
    await again.closed();
    await b.server.unsubscribe({ clientId: againId }, 'private:carol');
    expect(await admits(a.url, 'carol', 'private:carol', earlier)).toBe(false);
  });

  it.skipIf(skip)('a sub with `since` on a topic the server subscribed the connection to replays what followed it', async () => {
    const { a, b } = await start();
    const [p, id] = await rawIn(b.url, 'alice');
    await a.server.subscribe({ clientId: id }, 'private:alice', { bypassRules: true });
    const grant = await grantOf(p, 'private:alice');
    for (let i = 1; i <= 5; i++) await a.server.publish('private:alice', i);
    await until(() => p.frames.filter((f) => f.t === 'msg').length === 5, 'five live messages');
    const epoch = (p.frames.find((f) => f.t === 'msg')!.meta as { epoch: string }).epoch;
    p.frames.length = 0;
    const ok = await p.request({ t: 'sub', id: 1, topic: 'private:alice', grant, since: { epoch, offset: 2 } });
    expect(ok.output).toMatchObject({ position: { epoch, offset: 2 }, recovered: true });
    await until(() => p.frames.filter((f) => f.t === 'msg').length === 3, 'the replay');
    expect(p.frames.filter((f) => f.t === 'msg').map((f) => f.data)).toEqual([3, 4, 5]);
    await a.server.publish('private:alice', 6);
    await until(() => p.frames.filter((f) => f.t === 'msg').length === 4, 'the next live message');
    expect(p.frames.filter((f) => f.t === 'msg').map((f) => f.data)).toEqual([3, 4, 5, 6]);
  });

  it.skipIf(skip)('the connect-hook pattern loses and repeats nothing across reconnects, with one grant per connection chain', async () => {
    const { a, b } = await start();
    const T = 'private:alice';
    b.server.on('connect', ({ clientId, member }) => {
      if (member === 'alice') void b.server.subscribe({ clientId }, T, { bypassRules: true });
    });
    const alice = user(b.url, 'alice');
    const got: unknown[] = [];
    const problems: unknown[] = [];
    alice.on('error', (e) => void problems.push(e));
    // The app follows what the server subscribes it to, once (docs/server.md, "Server control").
    const sub = await within(
      new Promise<Subscription>((resolve) => {
        const off = alice.on('subscribed', ({ topic }) => {
          if (topic !== T) return;
          off();
          resolve(alice.subscribe(T, (d) => void got.push(d)));
        });
      }),
      'the first subscribed event',
    );
    sub.on('error', (e) => void problems.push(e));
    sub.on('gap', (g) => void problems.push(g));
    await sub.ready;
    let n = 0;
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 3; i++) await a.server.publish(T, ++n);
      await until(() => got.length === n, `messages up to ${n}`);
      const first = alice.clientId;
      const during: Promise<unknown>[] = [];
      const off = alice.on('close', () => {
        for (let i = 0; i < 3; i++) during.push(a.server.publish(T, ++n));
      });
      await b.server.kick({ clientId: first! }, { reconnect: true });
      await until(() => alice.state === 'open' && alice.clientId !== first && during.length === 3, 'reconnected');
      off();
      await Promise.all(during);
    }
    await a.server.publish(T, ++n);
    await until(() => got.length >= n, 'every message');
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(problems).toEqual([]);
  });

  it.skipIf(skip)('a connection that re-subscribes with its grant keeps that one: the connect hook\'s new grant is deleted', async () => {
    const { a, b } = await start();
    const T = 'private:guest';
    b.server.on('connect', ({ clientId, member }) => {
      if (member === 'guest') void b.server.subscribe({ clientId }, T, { bypassRules: true });
    });
    const [p] = await rawIn(b.url, 'guest');
    const first = await grantOf(p, T);
    p.ws.close();
    await p.closed();
    const [q] = await rawIn(b.url, 'guest');
    expect(await q.request({ t: 'sub', id: 1, topic: T, grant: first })).toMatchObject({ t: 'ok' });
    const hooks = q.frames.filter((f) => f.t === 'subscribed').map((f) => f.grant as string);
    expect(hooks).toHaveLength(1);
    await q.settled();
    // Either the hook's subscription came first (its grant is deleted) or the client's (reused).
    if (hooks[0] !== first) expect(await admits(a.url, 'guest', T, hooks[0]!)).toBe(false);
    expect(await admits(a.url, 'guest', T, first)).toBe(true);
  });

  it.skipIf(skip)('commands to one connection apply in the order sent: subscribe/unsubscribe bursts end as the last one says', async () => {
    const { a, b } = await start();
    const [p, id] = await rawIn(b.url, 'alice');
    const sent: Promise<void>[] = [];
    // open:* has a rule function (an await); private:* is bypassed (grants are written).
    for (let i = 0; i < 5; i++) {
      sent.push(a.server.subscribe({ clientId: id }, 'open:burst'), a.server.unsubscribe({ clientId: id }, 'open:burst'));
      sent.push(a.server.subscribe({ clientId: id }, 'private:burst', { bypassRules: true }), a.server.unsubscribe({ clientId: id }, 'private:burst'));
    }
    sent.push(a.server.subscribe({ clientId: id }, 'private:burst', { bypassRules: true }), a.server.send({ clientId: id }, 'done'));
    await Promise.all(sent);
    await p.next((f) => f.t === 'event', 'the event sent last');
    const seq = (topic: string) => p.frames.filter((f) => f.topic === topic).map((f) => f.t);
    expect(seq('open:burst')).toEqual(Array.from({ length: 5 }, () => ['subscribed', 'unsubscribed']).flat());
    expect(seq('private:burst')).toEqual([...Array.from({ length: 5 }, () => ['subscribed', 'unsubscribed']).flat(), 'subscribed']);
    // The event came after every (un)subscription; the last state holds on the server.
    expect(p.frames.findIndex((f) => f.t === 'event')).toBe(p.frames.length - 1);
    await a.server.publish('open:burst', 'not for alice');
    await a.server.publish('private:burst', 'for alice');
    await p.next((f) => f.t === 'msg', 'the message of the topic still subscribed');
    await p.settled();
    expect(p.frames.filter((f) => f.t === 'msg').map((f) => f.data)).toEqual(['for alice']);
  });
});

describe.skipIf(!hasRedis)('server control from a process without clients (redisEmitter)', () => {
  it('sends events, subscribes and kicks through the cluster, with the same checks', async () => {
    const prefix = testPrefix();
    scope.defer(() => dropPrefix(prefix));
    const node = await scope.server<string>({ ...BASE, engine: scope.track(redisEngine({ url: REDIS_URL, prefix })) }, rules);
    const emitter = scope.track(await redisEmitter({ url: REDIS_URL, prefix }));
    const alice = user(node.url, 'alice');
    await opened(alice);
    const seen = eventsOf(alice);
    const topics: string[] = [];
    alice.on('subscribed', ({ topic }) => void topics.push(topic));
    await emitter.send({ member: 'alice' }, 'invoice-paid', { id: 7 });
    await emitter.subscribe({ member: 'alice' }, 'private:alice', { bypassRules: true });
    await until(() => seen.length === 1 && topics.length === 1, 'event and subscription');
    expect(seen).toEqual([{ name: 'invoice-paid', data: { id: 7 } }]);
    expect(topics).toEqual(['private:alice']);
    await expect(emitter.send({ user: 'alice' } as never, 'x')).rejects.toThrow(TypeError);
    const closes: number[] = [];
    alice.on('close', ({ code }) => void closes.push(code));
    await emitter.kick({ member: 'alice' });
    await until(() => alice.state === 'closed', 'alice kicked');
    expect(closes).toEqual([CloseCode.KICKED]);
  });
});

describe.skipIf(!hasRedis)('a malformed message on the Redis control channel', () => {
  it('is logged by the engine and ignored: no throw, no other client disturbed', async () => {
    const prefix = testPrefix();
    scope.defer(() => dropPrefix(prefix));
    const logger = recordingLogger();
    const node = await scope.server<string>({ ...BASE, engine: scope.track(redisEngine({ url: REDIS_URL, prefix, logger })) }, rules);
    const alice = user(node.url, 'alice');
    await opened(alice);
    const seen = eventsOf(alice);
    const { Redis } = await import('ioredis');
    const raw = new Redis(REDIS_URL);
    scope.defer(() => raw.quit().then(() => undefined));
    for (const bad of ['not json', '{"op":"event"}', '{"op":"kick","target":null}', '{"op":"event","target":{"clientId":7}}']) {
      await raw.publish(`${prefix}ctl`, bad);
    }
    await until(() => logger.lines.filter((l) => l.level === 'error' && /control/.test(l.msg ?? '')).length === 4, 'four control errors logged');
    await node.server.send({ member: 'alice' }, 'still-here');
    await until(() => seen.length === 1, 'a valid event after the bad ones');
    expect(seen).toEqual([{ name: 'still-here' }]);
    expect(alice.state).toBe('open');
  });
});

describe('a presence.key that throws for an identity', () => {
  it('leaves the connection working, addressed by its clientId as member, and logs the error', async () => {
    const logger = recordingLogger();
    const connects: ConnectInfo<string>[] = [];
    const node = await scope.server<string>(
      { ...BASE, logger, presence: { key: (id: string) => { if (id === 'odd') throw new Error('no key for odd'); return id; } } },
      (s) => {
        rules(s);
        s.on('connect', (info) => void connects.push(info));
      },
    );
    const odd = user(node.url, 'odd');
    const id = await opened(odd);
    expect(await odd.call('echo', 1)).toBe(1);
    await until(() => connects.length === 1, 'the connect hook');
    expect(connects[0]).toMatchObject({ clientId: id, member: id });
    expect(logger.lines.some((l) => l.level === 'error' && /presence\.key threw/.test(l.msg ?? ''))).toBe(true);
  });
});
