/**
 * The pure parts of switchboard/react, without a renderer: the shared-resource table that keeps
 * StrictMode's double mount off the wire (src/react/shared-resources.ts; docs/react.md, "Cleanup
 * and StrictMode"), and the listener set behind every store.
 */
import { describe, expect, it } from 'vitest';
import type { Client } from '../src/client/index.js';
import { ClientHolder } from '../src/react/context.js';
import { ExternalStore } from '../src/react/external-store.js';
import { acquire, heldResources } from '../src/react/shared-resources.js';
import { until } from './helpers.js';

/**
 * Resolves after the timers already due at 0 ms ran: timers of equal delay fire in the order they
 * were set, so a release scheduled before this call has run (or was cancelled) when it resolves.
 */
const afterPendingTimers = () => new Promise((r) => setTimeout(r, 0));

/** A stand-in for a client: the table only uses it as a key. */
const fakeClient = () => ({}) as Client;

function counted() {
  const made: string[] = [];
  const disposed: string[] = [];
  const create = (key: string) => () => {
    made.push(key);
    return { store: { key }, dispose: () => void disposed.push(key) };
  };
  return { made, disposed, create };
}

describe('shared resources', () => {
  it('a release followed by an acquire in the same task (StrictMode) keeps the resource: made once, never disposed', async () => {
    const client = fakeClient();
    const c = counted();
    const first = acquire(client, 'topic:a', c.create('a'));
    first.release();
    const second = acquire(client, 'topic:a', c.create('a'));
    expect(second.store).toBe(first.store);
    // The release would have run by now: it was taken back.
    await afterPendingTimers();
    expect({ made: c.made, disposed: c.disposed, held: heldResources(client) }).toEqual({ made: ['a'], disposed: [], held: 1 });
    second.release();
    await until(() => c.disposed.length === 1, 'the dispose after the last release');
    expect(heldResources(client)).toBe(0);
  });

  it('holders count: the resource goes after the last release only, once; release is idempotent', async () => {
    const client = fakeClient();
    const c = counted();
    const a = acquire(client, 'k', c.create('k'));
    const b = acquire(client, 'k', c.create('k'));
    a.release();
    a.release(); // a second release of one holder does not release the other
    await afterPendingTimers();
    expect(c.disposed).toEqual([]);
    b.release();
    await until(() => c.disposed.length === 1, 'the dispose');
    // After disposal, the key makes a new resource.
    const again = acquire(client, 'k', c.create('k'));
    expect(c.made).toEqual(['k', 'k']);
    again.release();
    await until(() => c.disposed.length === 2, 'the second dispose');
  });

  it('keys and clients are separate tables', () => {
    const c = counted();
    const one = fakeClient();
    const two = fakeClient();
    const held = [acquire(one, 'x', c.create('one/x')), acquire(one, 'y', c.create('one/y')), acquire(two, 'x', c.create('two/x'))];
    expect(c.made).toEqual(['one/x', 'one/y', 'two/x']);
    expect([heldResources(one), heldResources(two)]).toEqual([2, 1]);
    for (const h of held) h.release();
  });
});

describe("the provider's client holder", () => {
  it('a call made before the provider created its client waits for it; an abort ends the wait with ABORTED', async () => {
    const holder = new ClientHolder(undefined, undefined);
    const notified: (Client | undefined)[] = [];
    holder.subscribe(() => notified.push(holder.get()));
    const waiting = holder.whenReady();
    const abort = new AbortController();
    const aborted = holder.whenReady(abort.signal);
    abort.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'ABORTED' });
    const client = fakeClient();
    holder.set(client);
    expect(await waiting).toBe(client);
    expect(notified).toEqual([client]);
    // Set again to the same client: nothing to tell.
    holder.set(client);
    expect(notified).toEqual([client]);
    expect(await holder.whenReady()).toBe(client);
    // What server rendering and hydration see is the client given as a prop, here none.
    expect(holder.getInitial()).toBeUndefined();
  });
});

describe('external store', () => {
  it('notifies every listener; one that throws does not stop the others and is rethrown outside', async () => {
    const store = new ExternalStore();
    const calls: string[] = [];
    const rethrown: unknown[] = [];
    const onUncaught = (err: unknown) => void rethrown.push(err);
    process.prependListener('uncaughtException', onUncaught);
    try {
      const offA = store.subscribe(() => {
        calls.push('a');
        throw new Error('listener bug');
      });
      store.subscribe(() => calls.push('b'));
      store.notify();
      expect(calls).toEqual(['a', 'b']);
      await until(() => rethrown.length === 1, 'the rethrown listener error');
      expect((rethrown[0] as Error).message).toBe('listener bug');
      offA();
      store.notify();
      expect(calls).toEqual(['a', 'b', 'b']);
      expect(store.listenerCount).toBe(1);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});
