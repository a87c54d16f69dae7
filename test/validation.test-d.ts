/**
 * Type-level tests of validated commands: the handler's input is the schema's OUTPUT type, and
 * `connect<typeof server>().call` takes the schema's INPUT type and resolves the handler's output.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import * as v from 'valibot';
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { connect, type CommandsOf } from '../src/client/node.js';
import { createServer, type CommandContext } from '../src/server/index.js';

const order = z.object({
  sku: z.string(),
  qty: z.number().int().default(1),
  when: z.string().transform((s) => new Date(s)),
});

const server = createServer<{ sub: string }>()
  .command('order', { input: order }, (input, ctx) => {
    expectTypeOf(input).toEqualTypeOf<{ sku: string; qty: number; when: Date }>();
    expectTypeOf(ctx).toEqualTypeOf<CommandContext<{ sub: string }>>();
    return { id: 1, at: input.when };
  })
  .command('length', { input: v.pipe(v.string(), v.transform((s) => s.length)) }, (n) => {
    expectTypeOf(n).toEqualTypeOf<number>();
    return n > 3;
  })
  .command('profile', { input: v.object({ name: v.optional(v.string(), 'anon'), age: v.number() }) }, async (p) => {
    expectTypeOf(p).toEqualTypeOf<{ name: string; age: number }>();
    return `${p.name}:${p.age}`;
  })
  .command('checked', { input: z.string().refine(async (s) => s.length > 0), output: z.number() }, (s) => {
    expectTypeOf(s).toEqualTypeOf<string>();
    return s.length;
  })
  .command('plain', (x: { a: number }) => x.a);

type Api = CommandsOf<typeof server>;

describe('validated command types', () => {
  it('infers the handler input from the schema output (zod and valibot)', () => {
    // The checks run inside the handlers above; here the command map records the schema INPUT.
    expectTypeOf<Api['order']['input']>().toEqualTypeOf<{ sku: string; qty?: number | undefined; when: string }>();
    expectTypeOf<Api['length']['input']>().toEqualTypeOf<string>();
    expectTypeOf<Api['profile']['input']>().toEqualTypeOf<{ name?: string | undefined; age: number }>();
    expectTypeOf<Api['order']['output']>().toEqualTypeOf<{ id: number; at: Date }>();
    expectTypeOf<Api['profile']['output']>().toEqualTypeOf<string>();
  });

  it('client.call takes the schema input and resolves the handler output', () => {
    const client = connect<typeof server>('ws://x');
    expectTypeOf(client.call('order', { sku: 'a', when: '2024-01-01' })).toEqualTypeOf<Promise<{ id: number; at: Date }>>();
    expectTypeOf(client.call('order', { sku: 'a', qty: 2, when: '2024-01-01' })).toEqualTypeOf<Promise<{ id: number; at: Date }>>();
    expectTypeOf(client.call('length', 'abcd')).toEqualTypeOf<Promise<boolean>>();
    expectTypeOf(client.call('profile', { age: 3 })).toEqualTypeOf<Promise<string>>();
    expectTypeOf(client.call('checked', 'x')).toEqualTypeOf<Promise<number>>();
    expectTypeOf(client.call('plain', { a: 1 })).toEqualTypeOf<Promise<number>>();

    // @ts-expect-error `when` is the schema INPUT (a string), not the transformed Date
    void client.call('order', { sku: 'a', when: new Date() });
    // @ts-expect-error `sku` is required by the schema
    void client.call('order', { when: '2024-01-01' });
    // @ts-expect-error the valibot input is a string, not the number it becomes
    void client.call('length', 4);
    // @ts-expect-error `age` must be a number
    void client.call('profile', { age: '3' });
  });

  it('refuses, at compile time, a handler that expects something other than the schema output', () => {
    createServer().command(
      'wrong',
      { input: z.object({ n: z.coerce.number() }) },
      // @ts-expect-error the handler's input is { n: number }, not { n: string }
      (input: { n: string }) => input.n,
    );
    // A spec without `input` is not a CommandSpec.
    // @ts-expect-error `input` is required
    createServer().command('noInput', {}, (x: unknown) => x);
  });

  it('works with any Standard Schema, written by hand', () => {
    const schema = {} as StandardSchemaV1<string, { upper: string }>;
    const s = createServer().command('shout', { input: schema }, (i) => {
      expectTypeOf(i).toEqualTypeOf<{ upper: string }>();
      return i.upper;
    });
    expectTypeOf(connect<typeof s>('ws://x').call('shout', 'hi')).toEqualTypeOf<Promise<string>>();
  });
});
