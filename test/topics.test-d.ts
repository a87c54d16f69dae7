/**
 * Type-level tests of typed topics: a rule's payload type (from its schema, or a type argument)
 * travels in `typeof server` to `client.subscribe`, `client.publish` and `server.publish`, the
 * first matching rule decides as at run time, and an untyped client stays loose
 * (docs/client.md, "Typed topics").
 */
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { connect, type DeliveryMeta, type Member, type PatternTopics, type StreamPosition, type Subscription, type TopicsOf } from '../src/client/node.js';
import { createServer } from '../src/server/index.js';

// Input and output differ (a date string in, epoch milliseconds out), and both are JSON-safe.
const chat = z.object({ text: z.string(), at: z.string().transform((s) => Date.parse(s)) });

const server = createServer({
  authenticate: () => ({ id: 'u1', name: 'Ann', admin: false }),
  presence: { info: (identity) => ({ name: identity.name }) },
})
  .topic('room:admin', { subscribe: (ctx) => ctx.identity.admin, publish: true, schema: z.object({ command: z.string() }) })
  .topic('room:*', { subscribe: true, publish: true, presence: true, schema: chat, history: { size: 100 } })
  .topic<'cursor:*:*', { x: number; y: number }>('cursor:*:*', { subscribe: true, publish: true })
  .topic('ticker', { subscribe: true });

type Chat = { text: string; at: number };

describe('typed topics', () => {
  const client = connect<typeof server>('ws://x');

  it('infers subscribe data from the rule whose pattern matches, first rule first', () => {
    client.subscribe('room:lobby', (data, meta) => {
      // What subscribers receive is the schema's output: the server fans out the validated value.
      expectTypeOf(data).toEqualTypeOf<Chat>();
      expectTypeOf(meta).toEqualTypeOf<DeliveryMeta>();
    });
    // 'room:admin' matches both patterns: the first registered rule governs it, as TopicRules.find.
    client.subscribe('room:admin', (data) => expectTypeOf(data).toEqualTypeOf<{ command: string }>());
    // `*` matches any run of characters, the empty one and ones with ':' included.
    client.subscribe('room:', (data) => expectTypeOf(data).toEqualTypeOf<Chat>());
    client.subscribe('room:a:b', (data) => expectTypeOf(data).toEqualTypeOf<Chat>());
    client.subscribe('cursor:doc1:ann', (data) => expectTypeOf(data).toEqualTypeOf<{ x: number; y: number }>());
    client.subscribe('cursor:a:b:c', (data) => expectTypeOf(data).toEqualTypeOf<{ x: number; y: number }>());
    // A rule with neither schema nor type argument: unknown.
    client.subscribe('ticker', (data) => expectTypeOf(data).toEqualTypeOf<unknown>());
    expectTypeOf<PatternTopics<'cursor:*:*'>>().toEqualTypeOf<`cursor:${string}:${string}`>();
    expectTypeOf<PatternTopics<'*'>>().toEqualTypeOf<string>();
  });

  it('matches topics to patterns as compilePattern does: `*` is any run of characters', () => {
    // Each pair agrees with compilePattern(pattern).test(topic) in server/topic-rules.ts.
    expectTypeOf<'xx'>().toExtend<PatternTopics<'x*x'>>();
    expectTypeOf<'x'>().not.toExtend<PatternTopics<'x*x'>>();
    expectTypeOf<'aab'>().toExtend<PatternTopics<'a*ab'>>();
    expectTypeOf<'ab'>().not.toExtend<PatternTopics<'a*ab'>>();
    expectTypeOf<'a:b:c:end'>().toExtend<PatternTopics<'*:*:end'>>();
    expectTypeOf<'::end'>().toExtend<PatternTopics<'*:*:end'>>();
    expectTypeOf<':end'>().not.toExtend<PatternTopics<'*:*:end'>>();
    expectTypeOf<'a.b'>().toExtend<PatternTopics<'a.b'>>();
    expectTypeOf<'aXb'>().not.toExtend<PatternTopics<'a.b'>>(); // '.' is literal, not a RegExp dot
    expectTypeOf<'line\nbreak'>().toExtend<PatternTopics<'line*'>>();
    expectTypeOf<'room:*'>().toExtend<PatternTopics<'room:*'>>();
    expectTypeOf<''>().toExtend<PatternTopics<'**'>>();
  });

  it('makes a topic no rule matches a compile error', () => {
    // @ts-expect-error no rule matches 'user:bob'
    client.subscribe('user:bob', () => {});
    // @ts-expect-error 'cursor:x' has one segment after the prefix: `cursor:*:*` needs a second ':'
    client.subscribe('cursor:x', () => {});
    // @ts-expect-error exact patterns match only themselves
    client.subscribe('tickers', () => {});
    // @ts-expect-error no rule matches
    void client.publish('user:bob', { text: 'hi' });
    // @ts-expect-error no rule matches
    void client.presence('user:bob');
  });

  it('checks published payloads against the schema input type', () => {
    expectTypeOf(client.publish('room:lobby', { text: 'hi', at: '2026-01-01' })).toEqualTypeOf<Promise<void>>();
    void client.publish('room:lobby', { text: 'hi', at: '2026-01-01' }, { echo: false, timeoutMs: 1_000 });
    // @ts-expect-error `at` is the schema INPUT (a string), not the transformed number
    void client.publish('room:lobby', { text: 'hi', at: 1_767_225_600_000 });
    // @ts-expect-error missing text
    void client.publish('room:lobby', { at: '2026-01-01' });
    void client.publish('room:admin', { command: 'kick' });
    // @ts-expect-error the first rule governs 'room:admin': a chat message is the wrong payload
    void client.publish('room:admin', { text: 'hi', at: '2026-01-01' });
    void client.publish('cursor:doc:ann', { x: 1, y: 2 });
    // @ts-expect-error y is a number
    void client.publish('cursor:doc:ann', { x: 1, y: '2' });
    void client.publish('ticker', 42);
  });

  it('accepts a topic typed string, with the union of the payloads of the rules that may match it', () => {
    const topic: string = 'room:lobby';
    // The 'ticker' rule's data is unknown, so the union is.
    client.subscribe(topic, (data) => expectTypeOf(data).toEqualTypeOf<unknown>());
    const typed = createServer()
      .topic('room:*', { subscribe: true, publish: true, schema: chat })
      .topic<'cursor:*', { x: number }>('cursor:*', { subscribe: true, publish: true });
    const c2 = connect<typeof typed>('ws://x');
    c2.subscribe(topic, (data) => expectTypeOf(data).toEqualTypeOf<Chat | { x: number }>());
    void c2.publish(topic, { x: 1 });
    void c2.publish(topic, { text: 'hi', at: '2026-01-01' });
    // @ts-expect-error a payload no rule takes
    void c2.publish(topic, { y: 1 });
    const room = `room:${topic}` as `room:${string}`;
    // 'room:admin' may be among them: both rules that may match count, in order.
    client.subscribe(room, (data) => expectTypeOf(data).toEqualTypeOf<{ command: string } | Chat>());
    const cursor = 'cursor:a:b' as `cursor:${string}:${string}`;
    client.subscribe(cursor, (data) => expectTypeOf(data).toEqualTypeOf<{ x: number; y: number }>());
    const either = 'room:lobby' as 'room:lobby' | 'cursor:a:b';
    client.subscribe(either, (data) => expectTypeOf(data).toEqualTypeOf<Chat | { x: number; y: number }>());
    // @ts-expect-error every member of a union of literals must match a rule
    client.subscribe('room:lobby' as 'room:lobby' | 'user:bob', () => {});
  });

  it('types presence members with the server’s presence.info', () => {
    expectTypeOf(client.presence('room:lobby')).toEqualTypeOf<Promise<Member<{ name: string }>[]>>();
    const sub = client.subscribe('room:lobby', () => {});
    expectTypeOf(sub).toEqualTypeOf<Subscription<{ name: string }, 'room:lobby'>>();
    expectTypeOf(sub.topic).toEqualTypeOf<'room:lobby'>();
    expectTypeOf(sub.members()).toEqualTypeOf<Member<{ name: string }>[]>();
    sub.on('join', (m) => expectTypeOf(m.info).toEqualTypeOf<{ name: string } | undefined>());
    sub.on('leave', (m) => expectTypeOf(m.id).toBeString());
    sub.on('gap', (g) => expectTypeOf(g.to).toEqualTypeOf<StreamPosition | undefined>());
    expectTypeOf(sub.ready).toEqualTypeOf<Promise<void>>();
    expectTypeOf(sub.position()).toEqualTypeOf<StreamPosition | undefined>();
    expectTypeOf(sub.unsubscribe).toEqualTypeOf<() => void>();
    expectTypeOf(server.presence('room:lobby')).toEqualTypeOf<Promise<Member<{ name: string }>[]>>();
  });

  it('keeps the since and history options', () => {
    client.subscribe('room:lobby', () => {}, { history: 20 });
    client.subscribe('room:lobby', () => {}, { since: { epoch: 'e', offset: 3 } });
    // @ts-expect-error since needs an offset
    client.subscribe('room:lobby', () => {}, { since: { epoch: 'e' } });
    // @ts-expect-error history is a number
    client.subscribe('room:lobby', () => {}, { history: '20' });
  });

  it('checks server.publish on the rules’ topics and leaves other topics loose', () => {
    expectTypeOf(server.publish('room:lobby', { text: 'hi', at: 1_767_225_600_000 })).toEqualTypeOf<Promise<StreamPosition | undefined>>();
    // @ts-expect-error the server publishes what subscribers receive: the schema's output (a number)
    void server.publish('room:lobby', { text: 'hi', at: '2026-01-01' });
    void server.publish('cursor:a:b', { x: 1, y: 2 });
    // @ts-expect-error y is a number
    void server.publish('cursor:a:b', { x: 1, y: '2' });
    // Rules do not apply to the server: a topic none matches takes any data.
    void server.publish('internal', { anything: true });
    const topic: string = 'room:lobby';
    void server.publish(topic, 1);
  });

  it('records the rules in order in typeof server', () => {
    type Topics = TopicsOf<typeof server>;
    expectTypeOf<Topics['length']>().toEqualTypeOf<4>();
    expectTypeOf<Topics[0]['pattern']>().toEqualTypeOf<'room:admin'>();
    expectTypeOf<Topics[1]>().toEqualTypeOf<{ pattern: 'room:*'; input: { text: string; at: string }; data: Chat }>();
    expectTypeOf<Topics[2]>().toEqualTypeOf<{ pattern: 'cursor:*:*'; input: { x: number; y: number }; data: { x: number; y: number } }>();
    // A type argument without the pattern would lose the pattern: TypeScript rejects it.
    // @ts-expect-error two type arguments: the pattern, then the payload
    createServer().topic<{ text: string }>('room:*', { subscribe: true });
    // A type argument with a schema: the schema decides, so the two cannot be combined.
    // @ts-expect-error the type-argument form is for rules without a schema
    createServer().topic<'room:*', { text: string }>('room:*', { subscribe: true, schema: chat });
  });
});

describe('untyped clients and servers', () => {
  it('keeps unknown data and any topic on a client without the server type', () => {
    const loose = connect('ws://x');
    loose.subscribe('anything:at:all', (data, meta) => {
      expectTypeOf(data).toEqualTypeOf<unknown>();
      expectTypeOf(meta.topic).toBeString();
    });
    // The caller may still vouch for a payload type, as before.
    loose.subscribe<{ text: string }>('room:1', (data) => expectTypeOf(data).toEqualTypeOf<{ text: string }>());
    void loose.publish('whatever', { any: 'thing' });
    expectTypeOf(loose.presence('x')).toEqualTypeOf<Promise<Member[]>>();
    expectTypeOf(loose.subscribe('x', () => {})).toEqualTypeOf<Subscription>();
  });

  it('types a hand-written command map’s topics loosely', () => {
    type Api = { ping: { input: undefined; output: 'pong' } };
    const client = connect<Api>('ws://x');
    client.subscribe('x', (data) => expectTypeOf(data).toEqualTypeOf<unknown>());
  });

  it('types topics loosely for a server type with no chained rule (rules added as separate statements)', () => {
    const bare = createServer().command('ping', () => 'pong' as const);
    bare.topic('room:*', { subscribe: true });
    const client = connect<typeof bare>('ws://x');
    expectTypeOf(client.call('ping')).toEqualTypeOf<Promise<'pong'>>();
    client.subscribe('room:1', (data) => expectTypeOf(data).toEqualTypeOf<unknown>());
    void client.publish('room:1', { anything: true });
  });

  it('reads a run of stars as one star, as the server does (`**` matches the empty string too)', () => {
    const s = createServer()
      .topic<'log:**', { a: number }>('log:**', { subscribe: true })
      .topic<'log:', { b: string }>('log:', { subscribe: true });
    const client = connect<typeof s>('ws://x');
    // The server gives 'log:' to the first rule ('log:**' matches it), so do the types.
    client.subscribe('log:', (data) => expectTypeOf(data).toEqualTypeOf<{ a: number }>());
    client.subscribe('log:x', (data) => expectTypeOf(data).toEqualTypeOf<{ a: number }>());
    expectTypeOf<PatternTopics<'a**b'>>().toEqualTypeOf<`a${string}b`>();
  });

  it('leaves member info unknown where presence.info is not set', () => {
    const s = createServer().topic('room:*', { subscribe: true, presence: true });
    expectTypeOf(connect<typeof s>('ws://x').presence('room:1')).toEqualTypeOf<Promise<Member<unknown>[]>>();
  });
});
