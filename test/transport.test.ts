/**
 * The Node transport behind the transport boundary (docs/server.md, "Runtimes and transports";
 * docs/performance.md, "Frame once" and "Write coalescing"): one frame built per publish and codec
 * and written as the same bytes to every subscriber, ws's own path where that would not be safe
 * (compression), the optional write-coalescing window (batched, in order, flushed on close), and the
 * `runtime` / `writeDelayMs` options. The server's TCP sockets are observed, not replaced: their
 * writes are counted on the way to the kernel.
 */
import { createServer as createHttpServer, IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createServer, silentLogger, type ServerOptions } from '../src/server/index.js';
import { resolveRuntime } from '../src/server/transport/select.js';
import { RawPeer, createTestScope, guardUnhandledRejections, until, within } from './helpers.js';

const scope = createTestScope();
guardUnhandledRejections();

/** What one server-side socket handed to the kernel: one entry per write call, the chunks of a writev together. */
type Writes = Buffer[][];

/** A server on an HTTP server of the test's own, so its TCP sockets can be watched; `writes` per accepted socket, in order. */
async function watchedServer(options: ServerOptions = {}) {
  const http = createHttpServer();
  const writes: Writes[] = [];
  http.on('connection', (s: Socket) => {
    const log: Writes = [];
    writes.push(log);
    const w = s as Socket & { _write: (...a: unknown[]) => unknown; _writev: (...a: unknown[]) => unknown };
    const write = w._write;
    const writev = w._writev;
    w._write = function (chunk: unknown, ...rest: unknown[]) {
      log.push([chunk as Buffer]);
      return write.call(this, chunk, ...rest);
    };
    w._writev = function (chunks: unknown, ...rest: unknown[]) {
      log.push((chunks as { chunk: Buffer }[]).map((c) => c.chunk));
      return writev.call(this, chunks, ...rest);
    };
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  scope.defer(() => new Promise<void>((r) => (http.closeAllConnections(), http.close(() => r()))));
  const server = scope.track(createServer({ server: http, logger: silentLogger, ...options }).topic('t:*', { subscribe: true }));
  await server.listen();
  const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/ws`;
  return { server, url, writes };
}

/** A raw peer subscribed to `topic`. */
async function subscriber(url: string, topic: string, protocols?: string[]): Promise<RawPeer> {
  const p = await scope.peer(url, protocols).ready();
  p.send({ t: 'sub', id: 1, topic });
  await p.answer(1);
  return p;
}

const msgs = (p: RawPeer) => p.frames.filter((f) => f.t === 'msg').map((f) => (f.data as { n: number }).n);
const nextTurn = () => new Promise((r) => setImmediate(r));

describe('frame once', () => {
  it('writes the same frame Buffer to every subscriber of a codec, and each decodes it', async () => {
    const { server, url, writes } = await watchedServer();
    const peers = [await subscriber(url, 't:1'), await subscriber(url, 't:1'), await subscriber(url, 't:1')];
    const packed = await subscriber(url, 't:1', ['switchboard.v1.msgpack']);
    const marks = writes.map((w) => w.length);
    await server.publish('t:1', { n: 7, text: 'x'.repeat(200) });
    for (const p of [...peers, packed]) await until(() => msgs(p).length === 1, 'the message');
    expect([...peers, packed].map(msgs)).toEqual([[7], [7], [7], [7]]);
    // One write per socket since the marks, each one whole buffer: the frame.
    const sent = writes.map((w, i) => w.slice(marks[i]).flat());
    expect(sent.map((s) => s.length)).toEqual([1, 1, 1, 1]);
    const [a, b, c, d] = sent.map((s) => s[0]!);
    expect(b).toBe(a);
    expect(c).toBe(a);
    expect(d).not.toBe(a); // another codec, another frame
    expect(a![0]).toBe(0x81); // FIN + text: JSON travels as text
    expect(d![0]).toBe(0x82); // MessagePack as binary
  });

  it('with compression on, takes ws\'s own path (compressed frames), and delivery is unchanged', async () => {
    const { server, url, writes } = await watchedServer({ compression: true });
    const peers = [
      await subscriber(url, 't:1', ['switchboard.v1.json']),
      await subscriber(url, 't:1', ['switchboard.v1.json']),
    ];
    for (const p of peers) expect(p.ws.extensions).toContain('permessage-deflate');
    const marks = writes.map((w) => w.length);
    await server.publish('t:1', { n: 1, text: 'y'.repeat(4_096) });
    for (const p of peers) await until(() => msgs(p).length === 1, 'the message');
    const first = writes.map((w, i) => w.slice(marks[i]).flat()[0]!);
    expect(first[0]![0]! & 0x40).toBe(0x40); // RSV1: compressed by ws
    expect(first[1]).not.toBe(first[0]);
  });
});

describe('write coalescing (writeDelayMs)', () => {
  it('is off by default: messages published in separate turns leave in separate writes', async () => {
    const { server, url, writes } = await watchedServer();
    const p = await subscriber(url, 't:1');
    const mark = writes[0]!.length;
    for (let n = 0; n < 5; n++) {
      await server.publish('t:1', { n });
      await nextTurn();
    }
    await until(() => msgs(p).length === 5, 'five messages');
    expect(writes[0]!.length - mark).toBe(5);
  });

  it('frames for one connection within the window leave in one write, in order', async () => {
    // A window far longer than the five turns take, so it holds on a loaded machine too.
    const { server, url, writes } = await watchedServer({ writeDelayMs: 2_000 });
    const p = await subscriber(url, 't:1');
    const mark = writes[0]!.length;
    for (let n = 0; n < 5; n++) {
      await server.publish('t:1', { n });
      await nextTurn();
    }
    await until(() => msgs(p).length === 5, 'five messages', 10_000);
    expect(msgs(p)).toEqual([0, 1, 2, 3, 4]);
    expect(writes[0]!.slice(mark).map((w) => w.length)).toEqual([5]);
  });

  it('flushes what waits when the connection closes: answers first, then the close frame, without waiting for the window', async () => {
    const { server, url } = await watchedServer({ writeDelayMs: 60_000 });
    const handled: number[] = [];
    server.command('echo', (n: number) => (handled.push(n), n));
    // The handshake and the welcome are not held by the window.
    const p = await scope.peer(url).ready();
    p.send({ t: 'call', id: 1, name: 'echo', input: 1 });
    p.send({ t: 'call', id: 2, name: 'echo', input: 2 });
    await until(() => handled.length === 2, 'both calls to run');
    await nextTurn();
    // Both answers now wait for the window (a minute); closing writes them out, then the close frame.
    const closing = server.close();
    expect(await p.closed(4_000)).toBe(1001);
    expect(p.frames.filter((f) => f.t === 'ok').map((f) => f.id)).toEqual([1, 2]);
    await within(closing, 'the server to close');
  });

  it('rejects an impossible window with a TypeError naming the option', () => {
    expect(() => createServer({ writeDelayMs: -1 })).toThrow(/writeDelayMs/);
    expect(() => createServer({ writeDelayMs: Number.NaN })).toThrow(/writeDelayMs/);
  });
});

describe('the runtime option', () => {
  it("'auto' and 'node' run the Node transport here; 'bun' under Node, or anything else, is a TypeError", () => {
    expect(resolveRuntime('auto', undefined)).toBe('node');
    expect(resolveRuntime('node', undefined)).toBe('node');
    expect(() => createServer({ runtime: 'bun' })).toThrow(/runtime 'bun' needs the Bun runtime/);
    expect(() => createServer({ runtime: 'deno' as never })).toThrow(/runtime/);
  });

  it('authenticate receives the IncomingMessage itself on Node', async () => {
    const seen: unknown[] = [];
    const { url } = await scope.server({
      authenticate: (req) => {
        seen.push(req);
        return 'alice';
      },
    });
    await scope.peer(url).ready();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeInstanceOf(IncomingMessage);
  });
});
