/**
 * The byte-exact examples of docs/protocol.md, run as written: every `>` line of a marked example
 * (`<!-- example: name -->`) is sent to a real server as one text message, and every `<` line must
 * be the next text message received, byte for byte (the only substitution: the server's random
 * epochs for the placeholders). The MessagePack and envelope bytes quoted there go through the
 * real codecs. If the document or the server changes, this fails.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { z } from 'zod';
import { encodeEnvelope } from '../src/protocol/binary.js';
import { jsonCodec } from '../src/protocol/codec.js';
import { msgpackCodec } from '../src/protocol/msgpack.js';
import { createTestScope, until } from './helpers.js';

const scope = createTestScope();
const doc = readFileSync(new URL('../docs/protocol.md', import.meta.url), 'utf8');

/** The lines of the example block marked `name`. */
function example(name: string): string[] {
  const m = new RegExp(`<!-- example: ${name} -->\\n\`\`\`\\n([\\s\\S]*?)\\n\`\`\``).exec(doc);
  if (!m) throw new Error(`docs/protocol.md has no example "${name}"`);
  return m[1]!.split('\n');
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex').toUpperCase().replace(/(..)(?=.)/g, '$1 ');

async function start() {
  return scope.server({}, (s) =>
    s
      .topic('room:lobby', { subscribe: true, history: { size: 100, ttlMs: 60_000 } })
      .command('add', { input: z.object({ a: z.number(), b: z.number() }) }, ({ a, b }) => a + b)
      .stream('count', function* (n: number) {
        for (let i = 0; i < n; i++) yield i;
      }),
  );
}

/** Runs an example's lines on a fresh connection; `subs` maps placeholders to real values. */
async function run(url: string, lines: string[], subs: Record<string, string> = {}): Promise<void> {
  const swap = (line: string) => Object.entries(subs).reduce((l, [from, to]) => l.split(from).join(to), line);
  const ws = new WebSocket(url, ['switchboard.v1.json']);
  const got: string[] = [];
  ws.on('message', (data: Buffer, isBinary) => {
    expect(isBinary).toBe(false);
    got.push(data.toString('utf8'));
  });
  try {
    await until(() => got.length === 1, 'welcome');
    expect(JSON.parse(got[0]!)).toMatchObject({ t: 'welcome', v: 1 });
    let next = 1;
    for (const line of lines) {
      const text = swap(line.slice(2));
      if (line.startsWith('> ')) ws.send(text);
      else {
        expect(line.startsWith('< ')).toBe(true);
        await until(() => got.length > next, `the answer ${line}`);
        expect(got[next++]).toBe(text);
      }
    }
    // Nothing more than the example shows.
    ws.send('{"t":"ping"}');
    await until(() => got.length > next, 'pong');
    expect(got.slice(next)).toEqual(['{"t":"pong"}']);
  } finally {
    ws.terminate();
  }
}

describe('docs/protocol.md examples, on the wire', () => {
  it('a call and a refused call (§2.1)', async () => {
    const { url } = await start();
    await run(url, example('call'));
  });

  it('a stream with credit (§2.3)', async () => {
    const { url } = await start();
    await run(url, example('stream'));
  });

  it('a sub with recovery, then a second sub (§2.7)', async () => {
    const { server, url } = await start();
    let epoch = '';
    for (let i = 1; i <= 43; i++) epoch = (await server.publish('room:lobby', i === 42 ? 'a' : i === 43 ? 'b' : i))!.epoch;
    await run(url, example('recovery'), { k3X9: epoch });
  });

  it('a sub from another epoch replays the whole new epoch (§2.7)', async () => {
    const { server, url } = await start();
    await server.publish('room:lobby', 'c');
    const { epoch } = (await server.publish('room:lobby', 'd'))!;
    await run(url, example('epoch'), { Qm7d: epoch });
  });
});

describe('docs/protocol.md bytes, through the real codecs', () => {
  it('MessagePack: the call and its answer (§2.6)', () => {
    for (const frame of [{ t: 'call', id: 1, name: 'add', input: { a: 2, b: 3 } }, { t: 'ok', id: 1, output: 5 }]) {
      const bytes = msgpackCodec.encode(frame) as Uint8Array;
      expect(doc).toContain(`the ${bytes.byteLength} bytes`);
      expect(doc).toContain(`\`${hex(bytes)}\``);
      const back = msgpackCodec.decode(bytes, true);
      expect(back).toEqual({ ok: true, value: frame });
    }
  });

  it('JSON: the binary envelope (§2.6)', () => {
    const frame = { t: 'call', id: 3, name: 'put', input: { name: 'a.png', bytes: new Uint8Array([1, 2, 3, 4, 5]) } };
    const bytes = encodeEnvelope(frame);
    const header = '{"f":{"t":"call","id":3,"name":"put","input":{"name":"a.png","bytes":null}},"b":[[["input","bytes"],5]]}';
    expect(hex(bytes.subarray(0, 5))).toBe('B1 00 00 00 68');
    expect(doc).toContain('`B1 00 00 00 68` (the header is 104 bytes) + `' + header + '`');
    expect(Buffer.from(bytes.subarray(5, 5 + 104)).toString('utf8')).toBe(header);
    expect([...bytes.subarray(109)]).toEqual([1, 2, 3, 4, 5]);
    expect(jsonCodec.decode(bytes, true)).toMatchObject({ ok: true, value: { input: { bytes: new Uint8Array([1, 2, 3, 4, 5]) } } });
  });
});
