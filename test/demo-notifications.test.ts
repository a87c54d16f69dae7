/**
 * The notification centre's server side (demo/lib/notifications.js), from a Node client: tokens
 * from `POST /api/sign-in`, an inbox only its owner may read (not another user, not a chat user of
 * the same name), `POST /api/notify` for a backend, and `markRead` answered once per idempotency
 * key. The browser suites (test/apps.*.test.ts) drive the same through the app.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type Client } from '../src/client/node.js';
import { startDemo, type DemoProcess } from './demo-process.js';
import { until, within } from './helpers.js';

describe('the notification centre server', () => {
  let demo: DemoProcess | undefined;
  const clients: Client[] = [];

  beforeAll(async () => {
    demo = await startDemo();
  }, 120_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await demo?.stop();
  });

  const api = (path: string, init?: RequestInit) => fetch(new URL(path, demo!.url), init);
  async function tokenFor(user: string): Promise<string> {
    const res = await api('/api/sign-in', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user }) });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { token: string; expiresAt: number; user: { id: string } };
    expect(body.user.id).toBe(user);
    expect(body.expiresAt - Date.now()).toBeLessThanOrEqual(300_000); // short-lived
    return body.token;
  }
  function client(token: string): Client {
    const c = connect(`ws://localhost:${demo!.port}/ws`, { token, reconnect: false });
    c.on('error', () => {});
    clients.push(c);
    return c;
  }

  it('signs in only the demo users', async () => {
    const bad = await api('/api/sign-in', { method: 'POST', body: JSON.stringify({ user: 'mallory' }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toContain('alice');
    expect((await api('/api/sign-in', { method: 'POST', body: 'not json' })).status).toBe(400);
    expect((await api('/api/users')).status).toBe(200);
    expect((await api('/api/nope')).status).toBe(404);
  });

  it('lets each user read only their own inbox', async () => {
    const alice = client(await tokenFor('alice'));
    await within(alice.subscribe('inbox:alice', () => {}).ready, 'alice reads her inbox');
    await expect(within(alice.subscribe('inbox:bob', () => {}).ready, 'the refusal')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(alice.publish('inbox:alice', { kind: 'notification', id: 'x', title: 'forged' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    // A chat user (a name as the token) named alice is not the notification user alice.
    const chatAlice = client('alice');
    await expect(within(chatAlice.subscribe('inbox:alice', () => {}).ready, 'the refusal')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    await expect(chatAlice.call('notify', { to: 'bob', title: 'hi' })).rejects.toMatchObject({ code: 'NOT_SIGNED_IN' });
    // And a notification user cannot post in the chat.
    await expect(within(alice.subscribe('chat:lobby', () => {}).ready, 'the refusal')).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('delivers POST /api/notify to that user only, and refuses it without a valid token', async () => {
    const bobToken = await tokenFor('bob');
    const carol = client(await tokenFor('carol'));
    const dave = client(await tokenFor('dave'));
    const got: Record<string, unknown[]> = { carol: [], dave: [] };
    await within(carol.subscribe('inbox:carol', (d) => got.carol!.push(d)).ready, 'carol subscribed');
    await within(dave.subscribe('inbox:dave', (d) => got.dave!.push(d)).ready, 'dave subscribed');

    const post = (body: unknown, token?: string) =>
      api('/api/notify', { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    expect((await post({ to: 'carol', title: 'no token' })).status).toBe(401);
    expect((await post({ to: 'carol', title: 'bad token' }, 'x.y.z')).status).toBe(401);
    expect((await post({ to: 'nobody', title: 'who?' }, bobToken)).status).toBe(400);
    expect((await post({ to: 'carol', title: '' }, bobToken)).status).toBe(400);
    const res = await post({ to: 'carol', title: 'Deploy finished', body: 'v1.2.3' }, bobToken);
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };

    // A marker to dave after it: once dave has it, carol's (sent first) has been fanned out too.
    await dave.call('notify', { to: 'dave', title: 'marker' });
    await until(() => got.dave!.length > 0 && got.carol!.length > 0, 'both deliveries');
    expect(got.carol).toEqual([expect.objectContaining({ kind: 'notification', id, title: 'Deploy finished', body: 'v1.2.3', from: 'bob' })]);
    expect(got.dave!.map((d) => (d as { title: string }).title)).toEqual(['marker']);
  });

  it('marks as read once per idempotency key, and only notifications of the caller', async () => {
    const token = await tokenFor('bob');
    const bob = client(token);
    const entries: { kind: string; ids?: string[] }[] = [];
    await within(bob.subscribe('inbox:bob', (d) => entries.push(d as { kind: string })).ready, 'bob subscribed');
    const { id } = (await bob.call('notify', { to: 'bob', title: 'to read' })) as { id: string };
    const key = 'read-once-1';
    expect(await bob.call('markRead', { ids: [id] }, { idempotencyKey: key })).toEqual({ marked: 1 });
    // The same key again: the first outcome, the handler not run again.
    expect(await bob.call('markRead', { ids: [id] }, { idempotencyKey: key })).toEqual({ marked: 1 });
    // A new key: nothing left to mark.
    expect(await bob.call('markRead', { ids: [id] }, { idempotencyKey: 'read-once-2' })).toEqual({ marked: 0 });
    // Another user's id is not the caller's to mark.
    const alice = client(await tokenFor('alice'));
    expect(await alice.call('markRead', { ids: [id] })).toEqual({ marked: 0 });
    await bob.call('notify', { to: 'bob', title: 'marker' });
    await until(() => entries.filter((e) => e.kind === 'notification').length === 2, 'the marker');
    expect(entries.filter((e) => e.kind === 'read')).toEqual([expect.objectContaining({ kind: 'read', ids: [id] })]);
  });
});
