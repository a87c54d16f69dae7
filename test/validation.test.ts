/**
 * Standard Schema validation (docs/server.md "Validated input", docs/protocol.md §4 INVALID_INPUT):
 * command input and output schemas, topic payload schemas, with zod, valibot and hand-written
 * schemas, over real sockets.
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createServer } from '../src/server/index.js';
import { createTestScope, guardUnhandledRejections, recordingLogger, until, within } from './helpers.js';

guardUnhandledRejections();
const scope = createTestScope();

/** The rejection of `p`, which must reject. */
async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string; details: unknown }> {
  try {
    await within(p, 'call to settle');
  } catch (err) {
    return err as { code: string; message: string; details: unknown };
  }
  throw new Error('expected a rejection');
}

/** A hand-written Standard Schema that counts its runs and accepts strings only (upper-cased). */
function countingSchema(): StandardSchemaV1<string, string> & { runs: unknown[] } {
  const runs: unknown[] = [];
  return {
    runs,
    '~standard': {
      version: 1,
      vendor: 'test',
      validate: (value) => {
        runs.push(value);
        return typeof value === 'string' ? { value: value.toUpperCase() } : { issues: [{ message: 'not a string', path: [] }] };
      },
    },
  };
}

describe('command input schemas', () => {
  it('zod: bad input is INVALID_INPUT with every issue (message and path) and the handler does not run', async () => {
    const seen: unknown[] = [];
    const input = z.object({
      name: z.string().min(2),
      address: z.object({ zip: z.string().regex(/^\d{5}$/) }),
      tags: z.array(z.string()),
    });
    const { url } = await scope.server({}, (s) => s.command('create', { input }, (i) => (seen.push(i), 'created')));
    const c = scope.client(url);
    const err = await rejection(c.call('create', { name: 'x', address: { zip: 'abc' }, tags: ['ok', 7] }));
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.details).toEqual({
      issues: [
        { message: expect.stringMatching(/.+/), path: ['name'] },
        { message: expect.stringMatching(/.+/), path: ['address', 'zip'] },
        { message: expect.stringMatching(/.+/), path: ['tags', 1] },
      ],
    });
    // A missing input is validated too (undefined is not an object).
    expect((await rejection(c.call('create'))).details).toEqual({ issues: [{ message: expect.any(String) }] });
    expect(seen).toEqual([]);
    expect(await c.call('create', { name: 'ok', address: { zip: '12345' }, tags: [] })).toBe('created');
    expect(seen).toHaveLength(1);
  });

  it('the wire answer is { t: "err", code: "INVALID_INPUT", message, details: { issues } }', async () => {
    const { url } = await scope.server({}, (s) => s.command('n', { input: z.number() }, (n) => n));
    const p = await scope.peer(url).ready();
    p.send({ t: 'call', id: 1, name: 'n', input: 'seven' });
    expect(await p.answer(1)).toEqual({
      t: 'err',
      id: 1,
      code: 'INVALID_INPUT',
      // The message names the first issue (no path: it is about the whole value).
      message: 'Invalid input: Invalid input: expected number, received string',
      details: { issues: [{ message: 'Invalid input: expected number, received string' }] },
    });
  });

  it('zod: the handler receives the schema output (coerce, default, transform, stripped keys)', async () => {
    const seen: unknown[] = [];
    const input = z.object({
      count: z.coerce.number().int(),
      tags: z.array(z.string()).default(['none']),
      email: z.string().trim().toLowerCase(),
      when: z.string().transform((s) => new Date(s).getUTCFullYear()),
    });
    const { url } = await scope.server({}, (s) => s.command('save', { input }, (i) => (seen.push(i), i)));
    const c = scope.client(url);
    const sent = { count: '42', email: '  Ada@Example.COM ', when: '2024-05-01T00:00:00Z', admin: true };
    const expected = { count: 42, tags: ['none'], email: 'ada@example.com', when: 2024 };
    expect(await c.call('save', sent)).toEqual(expected);
    expect(seen).toEqual([expected]); // `admin` (unknown key) stripped before the handler saw it
  });

  it('valibot: issues with paths on failure, the output (transform, default) on success', async () => {
    const seen: unknown[] = [];
    const input = v.object({
      id: v.pipe(v.string(), v.transform(Number), v.number(), v.minValue(1)),
      name: v.optional(v.pipe(v.string(), v.minLength(3)), 'anonymous'),
      items: v.array(v.object({ qty: v.pipe(v.number(), v.integer()) })),
    });
    const { url } = await scope.server({}, (s) => s.command('order', { input }, (i) => (seen.push(i), i)));
    const c = scope.client(url);
    const err = await rejection(c.call('order', { id: '0', name: 'ab', items: [{ qty: 1 }, { qty: 1.5 }] }));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.details).toEqual({
      issues: [
        { message: expect.stringMatching(/.+/), path: ['id'] },
        { message: expect.stringMatching(/.+/), path: ['name'] },
        { message: expect.stringMatching(/.+/), path: ['items', 1, 'qty'] },
      ],
    });
    expect(seen).toEqual([]);
    expect(await c.call('order', { id: '12', items: [{ qty: 2 }] })).toEqual({ id: 12, name: 'anonymous', items: [{ qty: 2 }] });
    expect(seen).toHaveLength(1);
  });

  it('an async schema (zod refine with an async check) validates before the handler', async () => {
    const taken = new Set(['alice']);
    let ran = 0;
    const input = z.object({
      user: z.string().refine(async (u) => {
        await new Promise((r) => setTimeout(r, 5));
        return !taken.has(u);
      }, 'name is taken'),
    });
    const { url } = await scope.server({}, (s) => s.command('register', { input }, ({ user }) => (ran++, `hello ${user}`)));
    const c = scope.client(url);
    const err = await rejection(c.call('register', { user: 'alice' }));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.details).toEqual({ issues: [{ message: 'name is taken', path: ['user'] }] });
    expect(ran).toBe(0);
    expect(await c.call('register', { user: 'bob' })).toBe('hello bob');
    expect(ran).toBe(1);
  });

  it('sends at most 50 issues', async () => {
    const { url } = await scope.server({}, (s) => s.command('many', { input: z.array(z.number()) }, (a) => a.length));
    const c = scope.client(url);
    const err = await rejection(c.call('many', Array.from({ length: 80 }, (_, i) => `n${i}`)));
    const issues = (err.details as { issues: { path: unknown[] }[] }).issues;
    expect(issues).toHaveLength(50);
    expect(issues[49]!.path).toEqual([49]);
  });

  it('a schema that throws is INTERNAL to the caller, logged on the server', async () => {
    const logger = recordingLogger();
    const input = z.string().transform((): string => {
      throw new Error('validator bug with secret detail');
    });
    const { url } = await scope.server({ logger }, (s) => s.command('boom', { input }, (x) => x));
    const c = scope.client(url);
    const err = await rejection(c.call('boom', 'x'));
    expect(err).toMatchObject({ code: 'INTERNAL', message: 'Internal server error' });
    expect(JSON.stringify(err)).not.toContain('secret detail');
    expect(logger.lines.filter((l) => l.level === 'error')).toHaveLength(1);
  });
});

describe('command output schemas', () => {
  it('an output that fails its schema is INTERNAL to the caller and logged with the issues', async () => {
    const logger = recordingLogger();
    const { url } = await scope.server({ logger }, (s) =>
      s.command('price', { input: z.object({ sku: z.string() }), output: z.object({ cents: z.number().int() }) }, ({ sku }) =>
        sku === 'bad' ? { cents: 'a lot' } : { cents: 995 },
      ),
    );
    const c = scope.client(url);
    expect(await c.call('price', { sku: 'good' })).toEqual({ cents: 995 });
    expect(logger.lines).toEqual([]);
    const err = await rejection(c.call('price', { sku: 'bad' }));
    expect(err).toMatchObject({ code: 'INTERNAL', message: 'Internal server error', details: undefined });
    const line = logger.lines.find((l) => l.msg === 'command output failed its schema');
    expect(line?.level).toBe('error');
    expect(line?.obj).toMatchObject({
      what: 'command price',
      err: { code: 'INVALID_INPUT', details: { issues: [{ message: expect.any(String), path: ['cents'] }] } },
    });
  });

  it('the caller receives the output schema\'s output (unknown keys stripped, transforms applied)', async () => {
    const output = z.object({ id: z.string(), name: z.string().transform((n) => n.toUpperCase()) });
    const { url } = await scope.server({}, (s) =>
      s.command('user', { input: z.string(), output }, (id) => ({ id, name: 'ada', passwordHash: '$2b$10$secret' })),
    );
    const c = scope.client(url);
    expect(await c.call('user', 'u1')).toEqual({ id: 'u1', name: 'ADA' });
  });

  it('an output schema alone (no input schema) validates the output and passes input through', async () => {
    const { url } = await scope.server({}, (s) => s.command('len', { output: z.number() } as never, (x: unknown) => (typeof x === 'string' ? x.length : x)));
    const c = scope.client(url);
    expect(await c.call('len', 'abcd')).toBe(4);
    expect((await rejection(c.call('len', { not: 'a string' }))).code).toBe('INTERNAL');
  });
});

describe('registration', () => {
  it('throws TypeError for schemas that do not implement Standard Schema, and for bare schemas', () => {
    const s = createServer();
    const handler = () => 1;
    expect(() => s.command('a', { input: { parse: () => 1 } } as never, handler)).toThrow(TypeError);
    expect(() => s.command('b', { input: { '~standard': { version: 1 } } } as never, handler)).toThrow(TypeError);
    expect(() => s.command('c', { input: z.string(), output: {} } as never, handler)).toThrow(TypeError);
    // A schema passed where the spec goes would validate nothing: refused rather than ignored.
    expect(() => s.command('d', z.object({ a: z.string() }) as never, handler)).toThrow(TypeError);
    expect(() => s.command('e', v.string() as never, handler)).toThrow(TypeError);
    expect(() => s.command('f', {} as never, handler)).toThrow(TypeError);
    expect(() => s.command('g', 42 as never, handler)).toThrow(TypeError);
    expect(() => s.topic('t', { schema: { validate: () => ({}) } as never })).toThrow(TypeError);
    // None of the refused names was registered: registering them now works.
    for (const name of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) s.command(name, { input: z.string() }, handler);
  });

  it('accepts a callable Standard Schema (as arktype makes) as input, and refuses one passed bare', async () => {
    const validate = (value: unknown): StandardSchemaV1.Result<number> =>
      typeof value === 'number' ? { value: value * 2 } : { issues: [{ message: 'expected a number' }] };
    const callable = Object.assign((x: unknown) => x, { '~standard': { version: 1 as const, vendor: 'fn', validate } });
    expect(() => createServer().command('bare', callable as never, (x: unknown) => x)).toThrow(TypeError);
    const { url } = await scope.server({}, (s) => s.command('double', { input: callable as StandardSchemaV1<unknown, number> }, (n) => n));
    const c = scope.client(url);
    expect(await c.call('double', 21)).toBe(42);
    expect(await rejection(c.call('double', 'x'))).toMatchObject({ code: 'INVALID_INPUT', details: { issues: [{ message: 'expected a number' }] } });
  });
});

describe('topic payload schemas', () => {
  const message = z
    .object({ text: z.string().min(1).max(20) })
    .transform((m) => ({ text: m.text, length: m.text.length }));

  it('refuses an invalid payload with INVALID_INPUT and delivers nothing; a valid one arrives as the schema output', async () => {
    const { url } = await scope.server({}, (s) => s.topic('chat:*', { schema: message, publish: true, subscribe: true }));
    const publisher = scope.client(url);
    const reader = scope.client(url);
    const got: unknown[] = [];
    await within(reader.subscribe('chat:1', (d) => got.push(d)).ready, 'subscribed');
    const err = await rejection(publisher.publish('chat:1', { text: '' }));
    expect(err.code).toBe('INVALID_INPUT');
    expect(err.message).toBe('Invalid message: text: Too small: expected string to have >=1 characters');
    expect(err.details).toEqual({ issues: [{ message: expect.any(String), path: ['text'] }] });
    expect((await rejection(publisher.publish('chat:1', 'just text'))).code).toBe('INVALID_INPUT');
    await publisher.publish('chat:1', { text: 'hello', extra: 'dropped' });
    // Per-topic order: had an invalid payload been delivered, it would have arrived first.
    await until(() => got.length >= 1, 'valid message');
    expect(got).toEqual([{ text: 'hello', length: 5 }]);
  });

  it('checks publish permission before the schema: a forbidden invalid payload is FORBIDDEN, and the schema never runs', async () => {
    const schema = countingSchema();
    const asked: unknown[] = [];
    const { url } = await scope.server({}, (s) =>
      s.topic('locked', {
        subscribe: true,
        publish: (_ctx, _topic, data) => (asked.push(data), data === 'let me in'),
        schema,
      }),
    );
    const c = scope.client(url);
    const got: unknown[] = [];
    await within(c.subscribe('locked', (d) => got.push(d)).ready, 'subscribed');
    expect((await rejection(c.publish('locked', 12345))).code).toBe('FORBIDDEN');
    expect(schema.runs).toEqual([]);
    // The permission function sees the raw payload; subscribers get the schema's output.
    await c.publish('locked', 'let me in');
    await until(() => got.length === 1, 'allowed message');
    expect(got).toEqual(['LET ME IN']);
    expect(asked).toEqual([12345, 'let me in']);
    expect(schema.runs).toEqual(['let me in']);
  });

  it('a topic without a publish rule refuses with FORBIDDEN whatever the payload', async () => {
    const schema = countingSchema();
    const { url } = await scope.server({}, (s) => s.topic('ticker:*', { subscribe: true, schema }));
    const c = scope.client(url);
    expect((await rejection(c.publish('ticker:btc', 'valid'))).code).toBe('FORBIDDEN');
    expect((await rejection(c.publish('ticker:btc', 42))).code).toBe('FORBIDDEN');
    expect(schema.runs).toEqual([]);
  });

  it('server.publish is not validated', async () => {
    const schema = countingSchema();
    const { url, server } = await scope.server({}, (s) => s.topic('feed', { subscribe: true, publish: true, schema }));
    const c = scope.client(url);
    const got: unknown[] = [];
    await within(c.subscribe('feed', (d) => got.push(d)).ready, 'subscribed');
    await server.publish('feed', { not: 'a string' });
    await until(() => got.length === 1, 'server message');
    expect(got).toEqual([{ not: 'a string' }]);
    expect(schema.runs).toEqual([]);
  });

  it('an async topic schema (valibot pipeAsync) keeps publish order per connection', async () => {
    const schema = v.pipeAsync(
      v.number(),
      v.checkAsync(async (n) => {
        await new Promise((r) => setTimeout(r, n % 2 === 0 ? 15 : 0));
        return n >= 0;
      }, 'negative'),
    );
    const { url } = await scope.server({}, (s) => s.topic('seq', { subscribe: true, publish: true, schema }));
    const c = scope.client(url);
    const got: unknown[] = [];
    await within(c.subscribe('seq', (d) => got.push(d)).ready, 'subscribed');
    const results = await Promise.allSettled([0, 1, -1, 2, 3].map((n) => c.publish('seq', n)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ code: 'INVALID_INPUT', details: { issues: [{ message: 'negative' }] } });
    await until(() => got.length === 4, 'four messages');
    expect(got).toEqual([0, 1, 2, 3]);
  });
});
