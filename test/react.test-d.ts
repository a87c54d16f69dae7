/**
 * Type-level tests of switchboard/react: `createSwitchboardHooks<typeof server>()` types calls,
 * streams, topics and members from the server as `connect<typeof server>()` does, and the untyped
 * hooks stay loose (docs/react.md, "Types").
 */
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import type { Client, Member } from '../src/client/index.js';
import { createServer } from '../src/server/index.js';
import {
  createSwitchboardHooks,
  SwitchboardProvider,
  useCall,
  useClient,
  useConnectionState,
  usePresence,
  useServerEvent,
  useStream,
  useSubscription,
  type CallState,
  type ConnectionSnapshot,
  type SubscriptionState,
} from '../src/react/index.js';

const server = createServer({
  authenticate: () => ({ id: 'u1', name: 'Ann' }),
  presence: { info: (identity) => ({ name: identity.name }) },
})
  .command('add', ({ a, b }: { a: number; b: number }) => a + b)
  .command('me', () => ({ id: 'u1' }))
  .stream('ticks', async function* ({ every }: { every: number }) {
    yield { t: every, value: 1 };
  })
  .topic('room:*', { subscribe: true, publish: true, presence: true, schema: z.object({ text: z.string() }) })
  .topic<'cursor:*', { x: number; y: number }>('cursor:*', { subscribe: true });

const hooks = createSwitchboardHooks<typeof server>();

describe('createSwitchboardHooks<typeof server>()', () => {
  it('types useCall from the commands', () => {
    const add = hooks.useCall('add');
    expectTypeOf(add.call({ a: 1, b: 2 })).toEqualTypeOf<Promise<number>>();
    expectTypeOf(add.data).toEqualTypeOf<number | undefined>();
    // @ts-expect-error wrong input
    void add.call({ a: '1', b: 2 });
    // @ts-expect-error unknown command
    hooks.useCall('nope');
    expectTypeOf(hooks.useCall('me').data).toEqualTypeOf<{ id: string } | undefined>();
  });

  it('types useStream from the streams', () => {
    const s = hooks.useStream('ticks', { every: 100 }, { window: 300 });
    expectTypeOf(s.items).toEqualTypeOf<readonly { t: number; value: number }[]>();
    expectTypeOf(s.last).toEqualTypeOf<{ t: number; value: number } | undefined>();
    // @ts-expect-error wrong input
    hooks.useStream('ticks', { every: '100' });
    // @ts-expect-error unknown stream
    hooks.useStream('tocks');
  });

  it('types useSubscription and usePresence from the topic rules', () => {
    const room = hooks.useSubscription('room:lobby', { buffer: 10, onMessage: (data) => expectTypeOf(data).toEqualTypeOf<{ text: string }>() });
    expectTypeOf(room.messages).toEqualTypeOf<readonly { text: string }[]>();
    expectTypeOf(room.members).toEqualTypeOf<readonly Member<{ name: string }>[]>();
    expectTypeOf(hooks.useSubscription('cursor:doc').last).toEqualTypeOf<{ x: number; y: number } | undefined>();
    // @ts-expect-error no rule matches
    hooks.useSubscription('user:bob');
    const topic: string = 'room:x';
    expectTypeOf(hooks.useSubscription(topic).last).toEqualTypeOf<{ text: string } | { x: number; y: number } | undefined>();
    expectTypeOf(hooks.usePresence('room:lobby').members).toEqualTypeOf<readonly Member<{ name: string }>[]>();
    // @ts-expect-error no rule matches
    hooks.usePresence('user:bob');
  });

  it('types useClient like connect<typeof server>()', () => {
    const client = hooks.useClient();
    expectTypeOf(client?.call('add', { a: 1, b: 2 })).toEqualTypeOf<Promise<number> | undefined>();
    expectTypeOf(hooks.useConnectionState()).toEqualTypeOf<ConnectionSnapshot>();
  });

  it('a hand-written command map types calls; topics stay loose', () => {
    type Api = { ping: { input: undefined; output: 'pong' } };
    const h = createSwitchboardHooks<Api>();
    expectTypeOf(h.useCall('ping').call()).toEqualTypeOf<Promise<'pong'>>();
    expectTypeOf(h.useSubscription<{ n: number }>('anything').last).toEqualTypeOf<{ n: number } | undefined>();
  });
});

describe('untyped hooks', () => {
  it('are loose unless the caller states the types', () => {
    expectTypeOf(useClient()).toEqualTypeOf<Client | undefined>();
    expectTypeOf(useCall('x')).toEqualTypeOf<CallState<unknown, unknown>>();
    expectTypeOf(useCall<{ a: number }, number>('add').call({ a: 1 })).toEqualTypeOf<Promise<number>>();
    expectTypeOf(useSubscription('t')).toEqualTypeOf<SubscriptionState<unknown, unknown>>();
    expectTypeOf(useSubscription<{ text: string }>('t').messages).toEqualTypeOf<readonly { text: string }[]>();
    expectTypeOf(useStream<number>('s', { every: 1 }).items).toEqualTypeOf<readonly number[]>();
    expectTypeOf(usePresence('t').members).toEqualTypeOf<readonly Member<unknown>[]>();
    expectTypeOf(useConnectionState().state).toEqualTypeOf<'connecting' | 'open' | 'reconnecting' | 'closed'>();
    useServerEvent<{ text: string }>('note', (data, name) => {
      expectTypeOf(data).toEqualTypeOf<{ text: string }>();
      expectTypeOf(name).toEqualTypeOf<string>();
    });
  });

  it('the provider takes a url (with options) or a client, not neither nor both', () => {
    const client = {} as Client;
    expectTypeOf(SwitchboardProvider).toBeCallableWith({ url: 'ws://x/ws', options: { timeoutMs: 1_000 } });
    expectTypeOf(SwitchboardProvider).toBeCallableWith({ client });
    // @ts-expect-error neither
    SwitchboardProvider({});
    // @ts-expect-error both
    SwitchboardProvider({ url: 'ws://x', client });
    // @ts-expect-error options belong to a url
    SwitchboardProvider({ client, options: {} });
  });
});
