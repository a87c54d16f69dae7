/**
 * Property-based tests (fast-check) of everything that reads untrusted bytes: the JSON codec's
 * decoder, the client-frame validator (pure, thousands of runs), and a live server fed random,
 * mutated and oversize messages over real sockets (docs/protocol.md §2, §4, §5).
 * fast-check prints the seed of a failure; PROPERTY_RUNS=2000 runs the live property longer.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { z } from 'zod';
import { jsonCodec } from '../src/protocol/codec.js';
import { MAX_CREDIT, MAX_NAME_LENGTH, MAX_TOKEN_LENGTH, validateClientFrame, type Validated } from '../src/protocol/frames.js';
import { ServerError } from '../src/server/index.js';
import { FLOW_KINDS, RawPeer, expectedOutcome, startServer, until, validFlowControl, type Outcome, guardUnhandledRejections } from './helpers.js';

const V1 = 'switchboard.v1.json';
/** Client frame kinds of docs/protocol.md §2.1, streams included (§2.3). */
const KNOWN_KINDS = ['call', 'sub', 'unsub', 'pub', 'presence', 'ping', 'auth', 'stream', 'upload', 'credit', 'item', 'end', 'cancel'];
/** Flow-control kinds: they answer nothing, and for an id that is not a live stream they are dropped. */
const isCredit = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 1 && x <= MAX_CREDIT;

const servers: { close(): Promise<void> }[] = [];
const peers: RawPeer[] = [];
guardUnhandledRejections();

afterEach(async () => {
  for (const p of peers.splice(0)) p.ws.terminate();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** Strings with everything a decoder dislikes: any code point, lone surrogates, BOMs, JSON syntax. */
const nastyString = fc.string({
  unit: fc.oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
    fc.constantFrom('{', '}', '"', ':', ',', '[', ']', '\\', 't', 'id', 'call', '\u0000', '\uFEFF', '\u2028'),
  ),
  maxLength: 64,
});

const ids = fc.oneof(fc.nat(), fc.constantFrom(0, Number.MAX_SAFE_INTEGER));
const credits = fc.oneof(fc.integer({ min: 1, max: MAX_CREDIT }), fc.constantFrom(1, MAX_CREDIT));
const names = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('echo', 'boom', 'coded', 'later', 'schema', 'missing', 'f:1', 'f:2', 'g:1', 'nope') },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 8 }) },
);

/** Frames a correct client may send (docs/protocol.md §2.1). */
const validFrame: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record({ t: fc.constant('call'), id: ids, name: names, input: fc.jsonValue({ maxDepth: 3 }) }, { requiredKeys: ['t', 'id', 'name'] }),
  fc.record({ t: fc.constantFrom('sub', 'unsub', 'presence'), id: ids, topic: names }),
  fc.record({ t: fc.constant('pub'), id: ids, topic: names, data: fc.jsonValue({ maxDepth: 3 }), echo: fc.boolean() }, { requiredKeys: ['t', 'id', 'topic'] }),
  fc.record({ t: fc.constant('auth'), id: ids, token: fc.string({ minLength: 1, maxLength: 16 }) }, { requiredKeys: ['t', 'token'] }),
  fc.constant({ t: 'ping' }),
  fc.record({ t: fc.constant('stream'), id: ids, name: names, input: fc.jsonValue({ maxDepth: 3 }), credit: credits }, { requiredKeys: ['t', 'id', 'name', 'credit'] }),
  fc.record({ t: fc.constant('upload'), id: ids, name: names, input: fc.jsonValue({ maxDepth: 3 }) }, { requiredKeys: ['t', 'id', 'name'] }),
  fc.record({ t: fc.constant('credit'), id: ids, n: credits }),
  fc.record({ t: fc.constant('item'), id: ids, items: fc.array(fc.jsonValue({ maxDepth: 2 }), { minLength: 1, maxLength: 4 }) }),
  fc.record({ t: fc.constantFrom('end', 'cancel'), id: ids }),
);

const DELETE = Symbol('delete');
/** A valid frame with one member replaced by an arbitrary JSON value, or deleted. */
const mutatedFrame = fc
  .record({
    frame: validFrame,
    key: fc.constantFrom('t', 'id', 'name', 'topic', 'data', 'echo', 'input', 'token', 'credit', 'n', 'items', '__proto__', 'extra'),
    value: fc.oneof(
      fc.constant<typeof DELETE>(DELETE),
      fc.jsonValue({ maxDepth: 2 }),
      fc.constantFrom(-1, 0, 1.5, 2 ** 31, 2 ** 53, -0, '', 'x'.repeat(MAX_NAME_LENGTH + 1), 't'.repeat(MAX_TOKEN_LENGTH + 1), 'ping', 'auth', 'subscribe', 'stream', 'credit', 'cancel', null, [], {}),
    ),
  })
  .map(({ frame, key, value }) => {
    const copy: Record<string, unknown> = { ...frame };
    if (value === DELETE) delete copy[key];
    else Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
    return copy;
  });

// ---------------------------------------------------------------------------------------------

/** What docs/protocol.md allows `validateClientFrame` to conclude about `input`. */
function checkVerdict(input: unknown, v: Validated): void {
  if (v.ok) {
    const f = v.frame as unknown as Record<string, unknown>;
    expect(KNOWN_KINDS).toContain(f.t);
    const isName = (x: unknown) => typeof x === 'string' && x.length >= 1 && x.length <= MAX_NAME_LENGTH;
    const isId = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
    if (f.t === 'ping') return;
    if (f.t === 'auth') {
      expect(typeof f.token === 'string' && f.token.length >= 1 && f.token.length <= MAX_TOKEN_LENGTH).toBe(true);
      if (f.id !== undefined) expect(isId(f.id)).toBe(true);
      return;
    }
    expect(isId(f.id)).toBe(true);
    if (f.t === 'call' || f.t === 'upload') expect(isName(f.name)).toBe(true);
    else if (f.t === 'stream') expect(isName(f.name) && isCredit(f.credit)).toBe(true);
    else if (FLOW_KINDS.includes(f.t as string)) {
      expect(validFlowControl(f)).toBe(true);
      // end and cancel carry nothing else; the validator passes no other member on.
      if (f.t === 'end' || f.t === 'cancel') expect(Object.keys(f).sort()).toEqual(['id', 't']);
    } else expect(isName(f.topic)).toBe(true);
    if (f.t === 'pub') expect(f.echo === undefined || typeof f.echo === 'boolean').toBe(true);
  } else if (v.fault.kind === 'close') {
    expect(v.fault.code).toBe(1002);
    // ws throws on a close reason over 123 bytes (RFC 6455 §5.5): it must always fit.
    expect(Buffer.byteLength(v.fault.reason)).toBeLessThanOrEqual(123);
  } else {
    const { frame } = v.fault;
    // A malformed credit or item ends its live stream, or is answered (docs/protocol.md §2.3).
    if (v.fault.kind === 'flow') {
      expect(['credit', 'item']).toContain((input as { t?: unknown }).t);
      expect(validFlowControl(input as Record<string, unknown>)).toBe(false);
      expect(frame.code).toBe('BAD_REQUEST');
    }
    expect(frame.t).toBe('err');
    expect(['BAD_REQUEST', 'UNKNOWN_FRAME']).toContain(frame.code);
    expect(typeof frame.message).toBe('string');
    // An err answers the request it is about.
    expect(frame.id).toBe((input as { id?: unknown }).id);
  }
}

describe('decoder and validator (pure)', () => {
  const runs = { numRuns: 3_000 };

  it('jsonCodec.decode never throws: arbitrary strings and bytes decode or are refused with 1007', () => {
    fc.assert(
      fc.property(nastyString, (s) => {
        const d = jsonCodec.decode(s, false);
        if (d.ok) expect(d.value).toEqual(JSON.parse(s));
        else expect(d.code).toBe(1007);
      }),
      runs,
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (bytes, binary) => {
        const d = jsonCodec.decode(bytes, binary);
        // Binary is an envelope (docs/protocol.md §2.6): arbitrary bytes are refused with 1007.
        if (binary && bytes[0] !== 0xb1) expect(d).toMatchObject({ ok: false, code: 1007 });
        else if (!d.ok) expect(d.code).toBe(1007);
      }),
      runs,
    );
  });

  it('jsonCodec.decode round-trips every JSON value, as text and as UTF-8 bytes', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const text = JSON.stringify(v);
        for (const input of [text, new TextEncoder().encode(text)]) {
          const d = jsonCodec.decode(input, false);
          expect(d.ok).toBe(true);
          // Compared as JSON: -0 legitimately becomes 0.
          if (d.ok) expect(JSON.stringify(d.value)).toBe(text);
        }
      }),
      runs,
    );
  });

  it('jsonCodec.decode agrees with JSON.parse on JSON texts with a hostile character inserted anywhere', () => {
    const hostile = fc.oneof(
      fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)),
      fc.constantFrom('\u0000', '\uFEFF', '\u2028', '"', '\\', ',', '}', ']', ' ', '\n', 'e', '-', '0'),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    );
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), fc.nat(), hostile, (v, at, ch) => {
        const json = JSON.stringify(v);
        const i = at % (json.length + 1);
        const s = json.slice(0, i) + ch + json.slice(i);
        let expected: { ok: true; text: string } | { ok: false };
        try {
          expected = { ok: true, text: JSON.stringify(JSON.parse(s)) };
        } catch {
          expected = { ok: false };
        }
        const d = jsonCodec.decode(s, false);
        if (expected.ok) expect(d.ok && JSON.stringify(d.value)).toBe(expected.text);
        else expect(d).toMatchObject({ ok: false, code: 1007 });
      }),
      runs,
    );
  });

  it('validateClientFrame never throws and only concludes what docs/protocol.md allows', () => {
    const property = (input: unknown) => checkVerdict(input, validateClientFrame(input));
    fc.assert(fc.property(fc.jsonValue(), property), runs);
    fc.assert(fc.property(fc.anything({ withNullPrototype: true, withBoxedValues: true, withMap: true, withSet: true }), property), runs);
    fc.assert(fc.property(validFrame, (f) => {
      const v = validateClientFrame(f);
      checkVerdict(f, v);
      // Generated valid frames (names of 1-8 units, safe ids, tokens of 1-16) are all accepted.
      expect(v.ok).toBe(true);
    }), runs);
    fc.assert(fc.property(mutatedFrame, property), runs);
    // Through the decoder, as the server does it.
    fc.assert(
      fc.property(mutatedFrame, (f) => {
        const d = jsonCodec.decode(JSON.stringify(f), false);
        expect(d.ok).toBe(true);
        if (d.ok) checkVerdict(d.value, validateClientFrame(d.value));
      }),
      runs,
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('a live server under random input', () => {
  const maxPayload = 4_096;

  /** One WebSocket message to send. */
  interface Message {
    bytes: Buffer;
    binary: boolean;
  }
  const text = (s: string): Message => ({ bytes: Buffer.from(s, 'utf8'), binary: false });
  const message: fc.Arbitrary<Message> = fc.oneof(
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => text(JSON.stringify(v))) },
    { weight: 1, arbitrary: nastyString.map(text) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 48 }).map((b) => ({ bytes: Buffer.from(b), binary: false })) },
    // Never starting with the envelope magic, so the oracle is exact: 1007.
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 48 }).map((b) => ({ bytes: Buffer.from(b[0] === 0xb1 ? [0, ...b.subarray(1)] : b), binary: true })) },
    { weight: 3, arbitrary: validFrame.map((f) => text(JSON.stringify(f))) },
    { weight: 4, arbitrary: mutatedFrame.map((f) => text(JSON.stringify(f))) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 300 }).map((n) => text(JSON.stringify({ t: 'call', id: 1, name: 'echo', input: 'x'.repeat(maxPayload + n) }))) },
  );

  const oracle = ({ bytes, binary }: Message): Outcome => expectedOutcome(bytes, binary, maxPayload);

  const ERR_CODES = [
    'NOT_FOUND', 'FORBIDDEN', 'BAD_REQUEST', 'UNKNOWN_FRAME', 'NOT_SUBSCRIBED', 'INTERNAL', 'INVALID_INPUT',
    'RATE_LIMITED', 'LIMIT_EXCEEDED', 'UNAUTHORIZED', 'APP_CODE',
  ];

  it('answers each message for its id or closes with 1002/1007/1008/1009, and keeps serving', async () => {
    const { url, server } = await startServer({ limits: { maxPayload } }, (s) =>
      s
        .command('echo', (x) => x)
        .command('later', async (x) => x)
        .command('boom', () => {
          throw new Error('boom');
        })
        .command('coded', () => {
          throw new ServerError('APP_CODE', 'coded', { n: 1 });
        })
        .command('schema', { input: z.object({ a: z.number() }) }, ({ a }) => a)
        .topic('f:*', { subscribe: true, publish: true, presence: true })
        .topic('g:*', { subscribe: async () => true, publish: true, schema: z.number() }),
    );
    servers.push(server);
    const open = (): Promise<RawPeer> => {
      const p = new RawPeer(url, [V1]);
      peers.push(p);
      return p.ready();
    };
    let p = await open();
    const tally = new Map<string, number>();
    const count = (k: string) => tally.set(k, (tally.get(k) ?? 0) + 1);

    await fc.assert(
      fc.asyncProperty(message, async (m) => {
        if (p.ws.readyState !== WebSocket.OPEN) p = await open();
        const expected = oracle(m);
        const from = p.frames.length;
        const after = () => p.frames.slice(from);
        const answer = (id: number) => after().find((f) => f.id === id && (f.t === 'ok' || f.t === 'err'));
        p.ws.send(m.bytes, { binary: m.binary });
        const what = `${JSON.stringify(m.bytes.toString('latin1').slice(0, 80))} (binary: ${m.binary}) → ${JSON.stringify(expected)}`;
        if ('close' in expected) {
          await until(() => p.closeCode !== undefined, what, 2_000);
          expect(p.closeCode, what).toBe(expected.close);
          // Nothing was answered for a message the server refused.
          expect(after().filter((f) => f.t === 'ok' || f.t === 'err' || f.t === 'pong'), what).toEqual([]);
          count(`close ${expected.close}`);
        } else if ('pong' in expected) {
          await until(() => after().some((f) => f.t === 'pong'), what, 2_000);
          count('pong');
        } else if ('ignored' in expected) {
          // A call behind it is a fence: once it is answered, the dropped frame was processed.
          const fence = expected.ignored === 1 ? 2 : 1;
          p.ws.send(JSON.stringify({ t: 'call', id: fence, name: 'echo', input: 'fence' }));
          await until(() => answer(fence) !== undefined || p.closeCode !== undefined, what, 2_000);
          expect(answer(expected.ignored), what).toBeUndefined();
          if (answer(fence) === undefined) expect(p.closeCode, what).toBe(1008);
          count('ignored');
        } else {
          // The rate limit (default 100/s, burst 200) may refuse or, after enough refusals, close.
          await until(() => answer(expected.answer) !== undefined || p.closeCode !== undefined, what, 2_000);
          const a = answer(expected.answer);
          if (a === undefined) {
            expect(p.closeCode, what).toBe(1008);
            count('close 1008');
          } else if (a.t === 'err') {
            expect(ERR_CODES, what).toContain(a.code);
            expect(typeof a.message, what).toBe('string');
            count(`err ${String(a.code)}`);
          } else {
            count('ok');
          }
        }
      }),
      { numRuns: Number(process.env.PROPERTY_RUNS ?? 150), interruptAfterTimeLimit: 25_000, markInterruptAsFailure: true },
    );

    if (process.env.SB_FIGURES) console.log(tally);
    // Every kind of outcome was exercised, not only the easy ones.
    for (const k of ['ok', 'pong', 'ignored', 'close 1002', 'close 1007', 'close 1009']) expect(tally.get(k) ?? 0, k).toBeGreaterThan(0);
    expect([...tally.keys()].filter((k) => k.startsWith('err')).length).toBeGreaterThan(2);

    // Still serving: a good client gets answers, and only the open peers are connections.
    const good = await open();
    good.send({ t: 'call', id: 1, name: 'echo', input: 'after the storm' });
    expect(await good.answer(1)).toEqual({ t: 'ok', id: 1, output: 'after the storm' });
    const openPeers = () => peers.filter((x) => x.ws.readyState === WebSocket.OPEN).length;
    await until(() => server.connections === openPeers(), 'server.connections to equal the open peers');
    expect(server.connections).toBe(p.ws.readyState === WebSocket.OPEN ? 2 : 1);
  });
});
