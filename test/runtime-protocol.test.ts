/**
 * The wire protocol (docs/protocol.md §1–§5) against a server process on every runtime of
 * test/runtime-server.ts: close codes for malformed messages, err answers that keep the connection,
 * command outcomes, topic rules, pub/sub and presence, the payload limit, heartbeats, JWT
 * authentication, and the fuzzers' oracle. The in-process suites (server-protocol, security-auth)
 * test the handler API; these test only what a peer sees on the wire, so they hold on Bun too.
 * The malformed-message and err-answer cases moved here from test/server-protocol.test.ts.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createTestScope, expectedOutcome, handshakeStatus, until, within, type RawPeer } from './helpers.js';
import { RUNTIMES, runtimeServer, sharedRuntimeServer, warnSkippedRuntimes } from './runtime-server.js';

warnSkippedRuntimes('test/runtime-protocol.test.ts');
const scope = createTestScope();

async function ready(url: string, protocols?: string[], opts?: WebSocket.ClientOptions): Promise<RawPeer> {
  return scope.peer(url, protocols, opts).ready();
}
describe.each(RUNTIMES)('the wire protocol on $name', (runtime) => {
  describe.skipIf(runtime.skip !== undefined)(runtime.skip ? `skipped: ${runtime.skip}` : 'against a server process', () => {
    const shared = sharedRuntimeServer(runtime);

    it('runs the fixture on the runtime it names', async () => {
      const c = scope.client(shared().url);
      expect(await c.call('runtime')).toBe(runtime.name);
    });

    describe('malformed messages close the connection with the code of docs/protocol.md §5', () => {
      const cases: { what: string; payload: string; code: number }[] = [
        { what: 'text that is not JSON', payload: 'hello {', code: 1007 },
        { what: 'an empty text message', payload: '', code: 1007 },
        { what: 'a JSON array', payload: '[{"t":"ping"}]', code: 1002 },
        { what: 'a JSON number', payload: '42', code: 1002 },
        { what: 'JSON null', payload: 'null', code: 1002 },
        { what: 'a JSON string', payload: '"call"', code: 1002 },
        { what: 'an object without t', payload: '{"id":1,"name":"echo"}', code: 1002 },
        { what: 't that is not a string', payload: '{"t":1,"id":1}', code: 1002 },
        { what: 't that is null', payload: '{"t":null,"id":1}', code: 1002 },
        { what: 'call without id', payload: '{"t":"call","name":"echo"}', code: 1002 },
        { what: 'sub with id null', payload: '{"t":"sub","id":null,"topic":"a"}', code: 1002 },
        { what: 'a negative id', payload: '{"t":"call","id":-1,"name":"echo"}', code: 1002 },
        { what: 'a fractional id', payload: '{"t":"call","id":1.5,"name":"echo"}', code: 1002 },
        { what: 'a string id', payload: '{"t":"call","id":"1","name":"echo"}', code: 1002 },
        { what: 'an id at 2^53', payload: '{"t":"call","id":9007199254740992,"name":"echo"}', code: 1002 },
        { what: 'an unknown kind without id', payload: '{"t":"hello"}', code: 1002 },
      ];
      it.each(cases)('$what → $code', async ({ payload, code }) => {
        const p = await ready(shared().url);
        p.send(payload);
        expect(await p.closed()).toBe(code);
      });

      it('a binary message that is not an envelope → 1007 (JSON codec, docs/protocol.md §2.6)', async () => {
        const p = await ready(shared().url);
        p.ws.send(Buffer.from(JSON.stringify({ t: 'ping' })), { binary: true });
        expect(await p.closed()).toBe(1007);
      });

      it('a text message on a MessagePack connection → 1003', async () => {
        const p = await ready(shared().url, ['switchboard.v1.msgpack']);
        expect(p.ws.protocol).toBe('switchboard.v1.msgpack');
        p.ws.send('{"t":"ping"}');
        expect(await p.closed()).toBe(1003);
      });

      it('a text frame with invalid UTF-8 → 1007', async () => {
        const p = await ready(shared().url);
        p.ws.send(Buffer.from([0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]), { binary: false });
        expect(await p.closed()).toBe(1007);
      });

      it('a text frame with a UTF-8 encoded surrogate → 1007', async () => {
        const p = await ready(shared().url);
        p.ws.send(Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]), { binary: false });
        expect(await p.closed()).toBe(1007);
      });

      it('the reason string of a protocol close is short and never echoes the frame', async () => {
        const p = await ready(shared().url);
        p.send(JSON.stringify({ t: 'x'.repeat(200), secret: 'tok-123' }));
        expect(await p.closed()).toBe(1002);
        expect(Buffer.byteLength(p.closeReason)).toBeLessThanOrEqual(123);
        expect(p.closeReason).not.toContain('tok-123');
      });
    });

    describe('frames answered with an err keep the connection usable', () => {
      it('unknown kind with a valid id → UNKNOWN_FRAME, and a following call works', async () => {
        const p = await ready(shared().url);
        expect(await p.request({ t: 'subscribe', id: 1, topic: 'a' })).toMatchObject({ t: 'err', id: 1, code: 'UNKNOWN_FRAME' });
        expect(await p.request({ t: 'call', id: 2, name: 'echo', input: 'ok' })).toEqual({ t: 'ok', id: 2, output: 'ok' });
        expect(p.ws.readyState).toBe(WebSocket.OPEN);
      });

      it('wrong field types and sizes → BAD_REQUEST', async () => {
        const p = await ready(shared().url);
        const bad: ({ t: string; id: number } & Record<string, unknown>)[] = [
          { t: 'call', id: 1, name: 5 },
          { t: 'call', id: 2, name: '' },
          { t: 'call', id: 3, name: 'x'.repeat(257) },
          { t: 'call', id: 4 },
          { t: 'sub', id: 5, topic: '' },
          { t: 'sub', id: 6, topic: 't'.repeat(300) },
          { t: 'sub', id: 7, topic: ['a'] },
          { t: 'unsub', id: 8 },
          { t: 'presence', id: 9, topic: 42 },
          { t: 'pub', id: 10, topic: 'plain', data: 1, echo: 'yes' },
          { t: 'pub', id: 11, topic: 'plain', data: 1, echo: null },
          { t: 'pub', id: 12, topic: '', data: 1 },
        ];
        for (const frame of bad) {
          const answer = await p.request(frame);
          expect(answer, JSON.stringify(frame)).toMatchObject({ t: 'err', id: frame.id, code: 'BAD_REQUEST' });
          expect(typeof answer.message).toBe('string');
        }
        // Limits are inclusive: 256 code units is a valid name (the fixture's `plain*` rule allows it).
        expect(await p.request({ t: 'sub', id: 13, topic: `plain${'t'.repeat(251)}` })).toEqual({ t: 'ok', id: 13, output: {} });
        expect(await p.request({ t: 'call', id: 14, name: 'echo', input: 1 })).toEqual({ t: 'ok', id: 14, output: 1 });
      });

      it('accepts ids 0 and 2^53-1 and unknown extra members', async () => {
        const p = await ready(shared().url);
        expect(await p.request({ t: 'call', id: 0, name: 'echo', input: 'zero', extra: { x: 1 } })).toEqual({ t: 'ok', id: 0, output: 'zero' });
        const max = Number.MAX_SAFE_INTEGER;
        expect(await p.request({ t: 'call', id: max, name: 'echo' })).toEqual({ t: 'ok', id: max });
      });

      it('ping → pong, even with extra members', async () => {
        const p = await ready(shared().url);
        p.send({ t: 'ping' });
        p.send({ t: 'ping', id: 'not-an-id' });
        await until(() => p.frames.filter((f) => f.t === 'pong').length === 2, 'two pongs');
        expect(p.frames.filter((f) => f.t === 'pong')).toEqual([{ t: 'pong' }, { t: 'pong' }]);
        expect(p.ws.readyState).toBe(WebSocket.OPEN);
      });
    });

    it('answers command outcomes: ServerError keeps its code and details, a crash is INTERNAL and generic, an unknown name is NOT_FOUND', async () => {
      const p = await ready(shared().url);
      expect(await p.request({ t: 'call', id: 1, name: 'fail', input: { code: 'OUT_OF_STOCK', message: 'none left', details: { sku: 7 } } })).toEqual({
        t: 'err',
        id: 1,
        code: 'OUT_OF_STOCK',
        message: 'none left',
        details: { sku: 7 },
      });
      const crash = await p.request({ t: 'call', id: 2, name: 'crash' });
      expect(crash).toMatchObject({ t: 'err', id: 2, code: 'INTERNAL' });
      expect(JSON.stringify(crash)).not.toContain('internal detail');
      expect(await p.request({ t: 'call', id: 3, name: 'nope' })).toMatchObject({ t: 'err', id: 3, code: 'NOT_FOUND' });
    });

    it('runs calls concurrently and aborts a running call when its connection closes', async () => {
      const c = scope.client(shared().url);
      const slow = c.call('sleep', 2_000);
      expect(await within(c.call('echo', 'fast'), 'the fast call beside the slow one', 1_500)).toBe('fast');
      c.close();
      await expect(slow).rejects.toMatchObject({ code: expect.any(String) });
    });

    it('refuses sub and pub with FORBIDDEN where no rule matches, and honours a rule that needs an identity', async () => {
      const p = await ready(shared().url);
      expect(await p.request({ t: 'sub', id: 1, topic: 'secret' })).toMatchObject({ t: 'err', code: 'FORBIDDEN' });
      expect(await p.request({ t: 'pub', id: 2, topic: 'secret', data: 1 })).toMatchObject({ t: 'err', code: 'FORBIDDEN' });
      expect(await p.request({ t: 'sub', id: 3, topic: 'private:x' })).toMatchObject({ t: 'err', code: 'FORBIDDEN' });
      const known = scope.client(shared().url, { token: 'alice' });
      await within(known.subscribe('private:x', () => {}).ready, 'an identified subscriber is allowed');
    });

    it('delivers publishes in order, echoes to the publisher by default and not with echo: false, and server publishes carry no from', async () => {
      const sub = await ready(shared().url);
      expect(await sub.request({ t: 'sub', id: 1, topic: 'room:order' })).toMatchObject({ t: 'ok', id: 1 });
      const pub = await ready(shared().url);
      for (let i = 0; i < 50; i++) pub.send({ t: 'pub', id: 10 + i, topic: 'room:order', data: i });
      await pub.answer(59);
      expect(await pub.request({ t: 'pub', id: 100, topic: 'room:order', data: 'quiet', echo: false })).toMatchObject({ t: 'ok' });
      await until(() => sub.frames.filter((f) => f.t === 'msg').length === 51, '51 messages');
      expect(sub.frames.filter((f) => f.t === 'msg').map((f) => f.data)).toEqual([...Array.from({ length: 50 }, (_, i) => i), 'quiet']);
      expect(pub.frames.some((f) => f.t === 'msg')).toBe(false); // it never subscribed
      const c = scope.client(shared().url);
      await c.call('publish', { topic: 'room:order', from: 1, to: 1 });
      const last = await sub.next((f) => f.t === 'msg' && f.data === 1 && f !== sub.frames.find((g) => g.t === 'msg' && g.data === 1), 'server publish');
      expect(last.meta === undefined || (last.meta as Record<string, unknown>).from === undefined).toBe(true);
    });

    it('tracks presence per identity: join once, leave with the last connection', async () => {
      const watcher = scope.client(shared().url, { token: 'watcher' });
      const joins: string[] = [];
      const leaves: string[] = [];
      const sub = watcher.subscribe('room:presence', () => {});
      sub.on('join', (m) => joins.push(m.id));
      sub.on('leave', (m) => leaves.push(m.id));
      await within(sub.ready, 'watcher subscribed');
      const a1 = scope.client(shared().url, { token: 'alice' });
      const a2 = scope.client(shared().url, { token: 'alice' });
      await within(Promise.all([a1.subscribe('room:presence', () => {}).ready, a2.subscribe('room:presence', () => {}).ready]), 'alice twice');
      await until(() => joins.includes('alice'), 'alice joined');
      expect(((await watcher.call('presence', 'room:presence')) as { id: string }[]).map((m) => m.id).sort()).toEqual(['alice', 'watcher']);
      a1.close();
      await until(() => sub.members().length === 2 && joins.length === 1, 'still two members');
      a2.close();
      await until(() => leaves.includes('alice'), 'alice left');
      expect(joins).toEqual(['alice']);
    });

    it('answers or closes with 1002/1007/1009 for every input, as the oracle says, and never falls over', async () => {
      const maxPayload = 1024 * 1024;
      const inputs = fc.sample(
        fc.oneof(
          fc.json().map((s) => Buffer.from(s)),
          fc.record({ t: fc.constantFrom('call', 'sub', 'pub', 'unsub', 'ping', 'credit', 'zzz'), id: fc.oneof(fc.nat(), fc.double(), fc.string()) }).map((o) => Buffer.from(JSON.stringify(o))),
          fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
        ),
        { numRuns: 60, seed: 14 },
      );
      for (const bytes of inputs) {
        const p = await ready(shared().url);
        p.ws.send(bytes, { binary: false });
        const want = expectedOutcome(bytes, false, maxPayload);
        if ('close' in want) expect(await p.closed()).toBe(want.close);
        else if ('answer' in want) await p.answer(want.answer);
        else if ('pong' in want) await p.next((f) => f.t === 'pong', 'pong');
        p.ws.terminate();
      }
      const c = scope.client(shared().url);
      expect(await c.call('echo', 'alive')).toBe('alive');
    });

    it('closes above limits.maxPayload with 1009 and accepts a message at the limit', async () => {
      const { url } = await runtimeServer(scope, runtime, { limits: { maxPayload: 1024 } });
      const ok = await ready(url);
      const frame = (n: number) => {
        const base = JSON.stringify({ t: 'call', id: 1, name: 'echo', input: '' });
        return JSON.stringify({ t: 'call', id: 1, name: 'echo', input: 'a'.repeat(n - base.length) });
      };
      ok.send(frame(1024));
      expect(await ok.answer(1)).toMatchObject({ t: 'ok' });
      const big = await ready(url);
      big.send(frame(1025));
      expect(await big.closed()).toBe(1009);
    });

    it('terminates a peer that never answers pings (1006) and keeps one that does', async () => {
      const { url } = await runtimeServer(scope, runtime, { heartbeat: { intervalMs: 150, timeoutMs: 150 } });
      const mute = await ready(url, undefined, { autoPong: false });
      const alive = await ready(url);
      expect(await mute.closed(3_000)).toBe(1006);
      expect(await alive.request({ t: 'call', id: 1, name: 'echo', input: 'here' })).toMatchObject({ t: 'ok', output: 'here' });
      expect(alive.ws.readyState).toBe(WebSocket.OPEN);
    });

    it('accepts a valid JWT as the identity and refuses a forged one with 401', async () => {
      const secret = randomBytes(32).toString('hex');
      const { url } = await runtimeServer(scope, runtime, { authSecret: secret });
      const sign = (key: string) => new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1m').sign(new TextEncoder().encode(key));
      const c = scope.client(url, { token: await sign(secret) });
      expect(await c.call('whoami')).toMatchObject({ sub: 'alice' });
      const forged = Buffer.from(await sign('not the secret')).toString('base64url');
      expect(await handshakeStatus(url, {}, ['switchboard.v1.json', `switchboard.auth.${forged}`])).toBe(401);
      expect(await handshakeStatus(url)).toBe(401);
    });
  });
});
