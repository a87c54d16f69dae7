/**
 * Idempotent calls (docs/protocol.md §2.8): a key runs its command once per scope, repeats get
 * the first outcome, a different input is a conflict, and a keyed call in flight when the
 * connection drops is re-sent after the reconnect instead of failing.
 */
import { describe, expect, it } from 'vitest';
import type { Client, ClientOptions } from '../src/client/node.js';
import { ServerError, type Server, type ServerOptions } from '../src/server/index.js';
import { createChaosProxy } from './chaos-proxy.js';
import { createTestScope, until, within } from './helpers.js';

const scope = createTestScope();

/** A client that reconnects fast and forever. */
function client(url: string, opts: ClientOptions = {}): Client {
  return scope.client(url, { reconnect: { initialDelayMs: 5, maxDelayMs: 50, maxAttempts: Infinity, stableAfterMs: 1_000 }, ...opts });
}

async function setup(options: Omit<ServerOptions<string>, 'authenticate'> = {}) {
  const runs: { name: string; input: unknown; user: unknown }[] = [];
  let release: (() => void) | undefined;
  const started = await scope.server<string>(
    { authenticate: (_req, token) => token ?? 'anon', ...options },
    (s: Server<string>) => {
      s.command('charge', (input: { amount: number }, ctx) => {
        runs.push({ name: 'charge', input, user: ctx.identity });
        return { receipt: runs.length, amount: input.amount };
      });
      s.command('refuse', (input: unknown) => {
        runs.push({ name: 'refuse', input, user: undefined });
        throw new ServerError('INSUFFICIENT_FUNDS', 'no money', { balance: 0 });
      });
      s.command('slow', async (input: unknown) => {
        runs.push({ name: 'slow', input, user: undefined });
        await new Promise<void>((res) => (release = res));
        return 'done';
      });
    },
  );
  return { ...started, runs, release: () => release?.() };
}

describe('idempotency keys', () => {
  it('runs a keyed call once; repeats, from other connections of the same user too, get the first result', async () => {
    const { url, runs } = await setup();
    const a = client(url, { token: 'alice' });
    const first = await a.call('charge', { amount: 5 }, { idempotencyKey: 'k1' });
    const again = await a.call('charge', { amount: 5 }, { idempotencyKey: 'k1' });
    const other = await client(url, { token: 'alice' }).call('charge', { amount: 5 }, { idempotencyKey: 'k1' });
    expect(first).toEqual({ receipt: 1, amount: 5 });
    expect(again).toEqual(first);
    expect(other).toEqual(first);
    expect(runs).toHaveLength(1);
    // Without a key, every call runs.
    await a.call('charge', { amount: 5 });
    expect(runs).toHaveLength(2);
  });

  it('scopes keys per identity and per command', async () => {
    const { url, runs } = await setup();
    await client(url, { token: 'alice' }).call('charge', { amount: 1 }, { idempotencyKey: 'same' });
    const bob = await client(url, { token: 'bob' }).call('charge', { amount: 1 }, { idempotencyKey: 'same' });
    expect(bob).toEqual({ receipt: 2, amount: 1 });
    await expect(client(url, { token: 'bob' }).call('refuse', { amount: 1 }, { idempotencyKey: 'same' })).rejects.toMatchObject({ code: 'INSUFFICIENT_FUNDS' });
    expect(runs.map((r) => [r.name, r.user])).toEqual([['charge', 'alice'], ['charge', 'bob'], ['refuse', undefined]]);
  });

  it('refuses the same key with a different input (IDEMPOTENCY_CONFLICT) without running it', async () => {
    const { url, runs } = await setup();
    const a = client(url, { token: 'alice' });
    await a.call('charge', { amount: 5 }, { idempotencyKey: 'k' });
    await expect(a.call('charge', { amount: 500 }, { idempotencyKey: 'k' })).rejects.toMatchObject({ code: 'IDEMPOTENCY_CONFLICT' });
    expect(runs).toHaveLength(1);
  });

  it('remembers failures too: a repeat gets the same error without running the handler again', async () => {
    const { url, runs } = await setup();
    const a = client(url);
    const e1 = await a.call('refuse', 1, { idempotencyKey: 'r' }).catch((e: unknown) => e);
    const e2 = await a.call('refuse', 1, { idempotencyKey: 'r' }).catch((e: unknown) => e);
    expect(e1).toMatchObject({ code: 'INSUFFICIENT_FUNDS', message: 'no money', details: { balance: 0 } });
    expect(e2).toMatchObject({ code: 'INSUFFICIENT_FUNDS', message: 'no money', details: { balance: 0 } });
    expect(runs).toHaveLength(1);
  });

  it('makes a repeat that arrives while the first still runs wait for it', async () => {
    const { url, runs, release } = await setup();
    const a = client(url);
    const b = client(url);
    const p1 = a.call('slow', 'x', { idempotencyKey: 's' });
    await until(() => runs.length === 1, 'first running');
    const p2 = b.call('slow', 'x', { idempotencyKey: 's' });
    // The repeat is answered only with the first one's outcome.
    await b.call('charge', { amount: 1 });
    release();
    expect(await within(Promise.all([p1, p2]), 'both answered')).toEqual(['done', 'done']);
    expect(runs.filter((r) => r.name === 'slow')).toHaveLength(1);
  });

  it('forgets outcomes after idempotency.ttlMs', async () => {
    const { url, runs } = await setup({ idempotency: { ttlMs: 100 } });
    const a = client(url);
    await a.call('charge', { amount: 1 }, { idempotencyKey: 't' });
    const after = Date.now() + 120;
    await until(() => Date.now() > after, 'window passed', 1_000);
    await a.call('charge', { amount: 1 }, { idempotencyKey: 't' });
    expect(runs).toHaveLength(2);
  });

  it('re-sends a keyed call in flight when the connection drops, and it runs once; an unkeyed one rejects DISCONNECTED', async () => {
    const { port, runs, release } = await setup();
    const proxy = await createChaosProxy(port);
    scope.track(proxy);
    const a = client(proxy.url);
    await within(new Promise((res) => a.on('open', () => res(undefined))), 'open');
    const keyed = a.call('slow', 'once', { idempotencyKey: 'flight' });
    const plain = a.call('slow', 'plain');
    await until(() => runs.length === 2, 'both running');
    const reopened = new Promise((res) => {
      const off = a.on('close', () => (off(), a.on('open', () => res(undefined))));
    });
    proxy.severAll();
    await expect(plain).rejects.toMatchObject({ code: 'DISCONNECTED' });
    await within(reopened, 'reconnected');
    // The repeat reached the server and waits for the first run.
    release();
    expect(await within(keyed, 'keyed call answered after the reconnect')).toBe('done');
    expect(runs.filter((r) => r.input === 'once')).toHaveLength(1);
  });

  it('rejects bad keys: TypeError in the client, BAD_REQUEST on the wire', async () => {
    const { url, runs } = await setup();
    const a = client(url);
    await expect(a.call('charge', { amount: 1 }, { idempotencyKey: '' })).rejects.toThrow(TypeError);
    await expect(a.call('charge', { amount: 1 }, { idempotencyKey: 'k'.repeat(257) })).rejects.toThrow(TypeError);
    const peer = scope.peer(url);
    await until(() => peer.frames.some((f) => f.t === 'welcome'), 'welcome');
    peer.ws.send(JSON.stringify({ t: 'call', id: 1, name: 'charge', input: { amount: 1 }, key: 7 }));
    peer.ws.send(JSON.stringify({ t: 'call', id: 2, name: 'charge', input: { amount: 1 }, key: 'k'.repeat(257) }));
    await until(() => peer.frames.filter((f) => f.t === 'err').length === 2, 'two refusals');
    expect(peer.frames.filter((f) => f.t === 'err').map((f) => f.code)).toEqual(['BAD_REQUEST', 'BAD_REQUEST']);
    expect(runs).toHaveLength(0);
  });
});

describe('idempotency edge cases (regressions from review)', () => {
  it('never shares a key scope between two users whose identities have no id or sub', async () => {
    const { url } = await scope.server<{ name: string }>(
      { authenticate: (_req, token) => (token ? { name: token } : null) },
      (s) => s.command('balance', (_: unknown, ctx) => `${ctx.identity.name}'s balance`),
    );
    const alice = await client(url, { token: 'alice' }).call('balance', 1, { idempotencyKey: 'b-1' });
    const bob = await client(url, { token: 'bob' }).call('balance', 1, { idempotencyKey: 'b-1' });
    expect([alice, bob]).toEqual(["alice's balance", "bob's balance"]);
    // The same user on another connection still shares the scope.
    expect(await client(url, { token: 'alice' }).call('balance', 1, { idempotencyKey: 'b-1' })).toBe("alice's balance");
  });

  it('rejects a keyed call in flight with DISCONNECTED, not CLOSED, when the client stops reconnecting', async () => {
    const { port, release } = await setup();
    const proxy = await createChaosProxy(port);
    scope.track(proxy);
    const c = client(proxy.url, { reconnect: false });
    await within(new Promise((res) => c.on('open', () => res(undefined))), 'open');
    const keyed = c.call('slow', 'k', { idempotencyKey: 'gone' }).catch((e: { code: string }) => e.code);
    const plain = c.call('slow', 'p').catch((e: { code: string }) => e.code);
    await until(() => false, 'both sent', 100).catch(() => {});
    proxy.severAll();
    expect(await within(Promise.all([keyed, plain]), 'both rejected')).toEqual(['DISCONNECTED', 'DISCONNECTED']);
    release();
  });
});
