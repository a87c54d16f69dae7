import { describe, expectTypeOf, it } from 'vitest';
import { connect, type Client, type CommandMap as ClientCommandMap, type CommandsOf, type StreamMap as ClientStreamMap, type StreamsOf, type SwitchboardError, type UploadMap as ClientUploadMap, type UploadsOf } from '../src/client/node.js';
import { createServer, ServerError, type CommandContext, type CommandMap as ServerCommandMap, type StreamMap as ServerStreamMap, type UploadMap as ServerUploadMap } from '../src/server/index.js';

const server = createServer<{ id: string; admin: boolean }>({
  authenticate: () => ({ id: 'u', admin: false }),
})
  .command('add', (input: { a: number; b: number }) => input.a + input.b)
  .command('user', async (_input: undefined, ctx) => {
    expectTypeOf(ctx).toEqualTypeOf<CommandContext<{ id: string; admin: boolean }>>();
    return { id: ctx.identity.id };
  })
  .topic('room:*', { subscribe: (ctx) => ctx.identity.admin, publish: true, presence: true });

describe('inferred API', () => {
  it('types client.call from the server type', () => {
    const client = connect<typeof server>('ws://x');
    expectTypeOf(client.call('add', { a: 1, b: 2 })).toEqualTypeOf<Promise<number>>();
    expectTypeOf(client.call('user')).toEqualTypeOf<Promise<{ id: string }>>();
    // @ts-expect-error unknown command
    void client.call('nope');
    // @ts-expect-error wrong input type
    void client.call('add', { a: '1', b: 2 });
  });

  it('accepts a hand-written command map, and is loose without one', () => {
    type Api = { ping: { input: undefined; output: 'pong' } };
    expectTypeOf(connect<Api>('ws://x').call('ping')).toEqualTypeOf<Promise<'pong'>>();
    const loose = connect('ws://x');
    expectTypeOf(loose.call('anything', 1)).toEqualTypeOf<Promise<unknown>>();
    expectTypeOf<CommandsOf<typeof server>>().toHaveProperty('add');
  });

  it('types events, subscriptions and errors', () => {
    const client: Client = connect('ws://x');
    client.on('close', (e) => {
      expectTypeOf(e.code).toBeNumber();
      expectTypeOf(e.willReconnect).toBeBoolean();
    });
    client.on('reconnecting', (e) => expectTypeOf(e.delayMs).toBeNumber());
    // @ts-expect-error unknown event
    client.on('nope', () => {});
    const sub = client.subscribe<{ text: string }>('room:1', (data, meta) => {
      expectTypeOf(data).toEqualTypeOf<{ text: string }>();
      expectTypeOf(meta.topic).toBeString();
      expectTypeOf(meta.from).toEqualTypeOf<string | undefined>();
    });
    expectTypeOf(sub.ready).toEqualTypeOf<Promise<void>>();
    sub.on('join', (m) => expectTypeOf(m.id).toBeString());
    expectTypeOf(client.state).toEqualTypeOf<'connecting' | 'open' | 'reconnecting' | 'closed'>();
    expectTypeOf<SwitchboardError['code']>().toBeString();
    expectTypeOf(new ServerError('X', 'y').code).toBeString();
  });

  it('types history, gaps, positions and idempotency keys', () => {
    const client = connect<typeof server>('ws://x');
    const sub = client.subscribe('room:1', (data, meta) => {
      // The 'room:*' rule has no schema and no type argument: its payload is unknown.
      expectTypeOf(data).toEqualTypeOf<unknown>();
      expectTypeOf(meta.epoch).toEqualTypeOf<string | undefined>();
      expectTypeOf(meta.offset).toEqualTypeOf<number | undefined>();
      expectTypeOf(meta.recovered).toEqualTypeOf<boolean | undefined>();
    }, { history: 20 });
    sub.on('gap', (g) => {
      expectTypeOf(g.reason).toEqualTypeOf<'epoch' | 'window' | 'no-history' | 'skipped'>();
      expectTypeOf(g.to).toEqualTypeOf<{ epoch: string; offset: number } | undefined>();
    });
    expectTypeOf(sub.position()).toEqualTypeOf<{ epoch: string; offset: number } | undefined>();
    client.subscribe('room:1', () => {}, { since: { epoch: 'e', offset: 3 } });
    // A typed client takes the payload type from the server's rule, not from a type argument.
    // @ts-expect-error the type parameter of a typed client's subscribe is the topic
    client.subscribe<{ text: string }>('room:1', () => {});
    // @ts-expect-error since needs an offset
    client.subscribe('room:1', () => {}, { since: { epoch: 'e' } });
    expectTypeOf(client.call('add', { a: 1, b: 2 }, { idempotencyKey: 'k' })).toEqualTypeOf<Promise<number>>();
    // @ts-expect-error a key is a string
    void client.call('add', { a: 1, b: 2 }, { idempotencyKey: 1 });
    expectTypeOf(server.publish('room:1', 'x')).toEqualTypeOf<Promise<{ epoch: string; offset: number } | undefined>>();
    createServer({ history: { size: 10 } }).topic('t', { subscribe: true, history: false });
    // @ts-expect-error size is a number
    createServer({ history: { size: '10' } });
  });

  it('shares one set of API-map types between server and client, and infers streams and uploads', () => {
    expectTypeOf<ClientCommandMap>().toEqualTypeOf<ServerCommandMap>();
    expectTypeOf<ClientStreamMap>().toEqualTypeOf<ServerStreamMap>();
    expectTypeOf<ClientUploadMap>().toEqualTypeOf<ServerUploadMap>();
    const s = createServer()
      .stream('ticks', async function* (n: number) {
        yield n;
      })
      .upload('lines', async (_input: { file: string }, items: AsyncIterable<string>) => {
        for await (const _ of items);
        return 1;
      });
    expectTypeOf<StreamsOf<typeof s>['ticks']>().toEqualTypeOf<{ input: number; item: number }>();
    expectTypeOf<UploadsOf<typeof s>['lines']>().toEqualTypeOf<{ input: { file: string }; item: string; output: number }>();
    // A hand-written command map has no stream or upload map: loose ones.
    expectTypeOf<StreamsOf<{ ping: { input: undefined; output: 'pong' } }>>().toEqualTypeOf<ClientStreamMap>();
  });
});
