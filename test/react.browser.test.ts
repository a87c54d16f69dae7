/**
 * switchboard/react in a real Chromium, under React StrictMode (development build: every effect
 * mounts, unmounts and mounts again), with React 19 and with React 18: what the server sees on the
 * wire is one connection, one `sub` per topic however many hooks share it, one `stream` per
 * stream, and on unmount one `unsub` and one `cancel` (docs/react.md, "Cleanup and StrictMode").
 * The server's development trace (docs/server.md, "Diagnostics") counts the frames.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ServerError } from '../src/server/index.js';
import { startStatic } from './bridge-fixtures.js';
import { chromiumFor, launchChromium } from './browser.js';
import { recordingLogger, startServer, until, within, type StartedServer } from './helpers.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const hasChromium = chromiumFor('React browser tests');
const REACT18 = resolve(root, 'test/fixtures/react18/node_modules');

/** The test app bundled with React's development build; `react18` swaps in React 18 and react-dom 18. */
async function bundleApp(react18: boolean): Promise<string> {
  const out = await build({
    entryPoints: [resolve(root, 'test/fixtures/react-app.ts')],
    bundle: true,
    // Minified (the development build still): half the parse time of each page load.
    minify: true,
    format: 'esm',
    write: false,
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"development"' },
    ...(react18 ? { alias: { react: resolve(REACT18, 'react'), 'react-dom': resolve(REACT18, 'react-dom') } } : {}),
  });
  return out.outputFiles[0]!.text;
}

const page = (code: string) =>
  `<!doctype html><meta charset="utf-8"><title>react</title><body><div id="root"></div><script type="module">${code.replace(/<\/script/g, '<\\/script')}</script>`;

type Started = StartedServer<string> & { log: ReturnType<typeof recordingLogger>; slowCalls: ((v: string) => void)[] };

/** A server with what the app uses, its debug trace recorded. */
async function appServer(): Promise<Started> {
  const log = recordingLogger();
  /** The pending `slow` calls: the test answers them. */
  const slowCalls: ((v: string) => void)[] = [];
  const traced = Object.assign(log, { isLevelEnabled: (level: string) => level === 'debug' });
  const started = await startServer<string>({ logger: traced, authenticate: (_req, token) => token ?? null }, (s) => {
    s.topic('room:*', { subscribe: true, publish: true, presence: true, history: { size: 50, ttlMs: 60_000 } });
    s.command('add', ({ a, b }: { a: number; b: number }) => a + b);
    s.command('fail', () => {
      throw new ServerError('NOPE', 'refused on purpose');
    });
    s.command('slow', () => new Promise<string>((resolve) => slowCalls.push(resolve)));
    s.stream('ticks', async function* ({ every }: { every: number }, ctx) {
      for (let i = 0; !ctx.signal.aborted; i++) {
        yield i;
        await new Promise((r) => setTimeout(r, every));
      }
    });
  });
  return Object.assign(started, { log, slowCalls });
}

/** Frames of `kind` the server received, and connections it opened, from its trace. */
function wire(s: Started) {
  const lines = s.log.lines.filter((l) => l.level === 'debug');
  const framesIn = (kind: string) => lines.filter((l) => l.msg === 'frame' && (l.obj as { direction: string; kind: string }).direction === 'in' && (l.obj as { kind: string }).kind === kind).length;
  return {
    connections: lines.filter((l) => l.msg === 'connection opened').length,
    sub: framesIn('sub'),
    unsub: framesIn('unsub'),
    stream: framesIn('stream'),
    cancel: framesIn('cancel'),
  };
}

/** The JSON an element of the app shows. */
async function read<T = Record<string, unknown>>(p: Page, id: string): Promise<T> {
  return JSON.parse((await p.getByTestId(id).textContent({ timeout: 5_000 })) ?? 'null') as T;
}

/** Waits until the element `id` shows something `pred` accepts. */
async function waitFor<T = Record<string, unknown>>(p: Page, id: string, pred: (v: T) => boolean, what: string): Promise<T> {
  let last: T | undefined;
  const deadline = Date.now() + 5_000;
  for (;;) {
    last = await read<T>(p, id);
    if (pred(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; ${id} shows ${JSON.stringify(last)}`);
    await p.waitForTimeout(20);
  }
}

/** One browser and one site for both React versions: /app19.html and /app18.html. */
let browser: Browser | undefined;
let site: Awaited<ReturnType<typeof startStatic>> | undefined;
if (hasChromium) {
  beforeAll(async () => {
    const [code19, code18, b] = await Promise.all([bundleApp(false), bundleApp(true), launchChromium()]);
    browser = b;
    site = await startStatic({ '/app19.html': page(code19), '/app18.html': page(code18) });
  }, 30_000);
  afterAll(async () => {
    await within(browser?.close() ?? Promise.resolve(), 'the browser to close', 10_000).catch((e: unknown) => console.warn(e));
    await site?.close();
  });
}

describe.skipIf(!hasChromium).each([
  ['React 19', false],
  ['React 18', true],
])('switchboard/react in Chromium, StrictMode on (%s)', (_label, react18) => {
  let server: Started | undefined;
  const pageErrors: string[] = [];

  afterEach(async () => {
    await server?.server.close();
    server = undefined;
    expect(pageErrors.splice(0)).toEqual([]);
  });

  async function open(token = 'ann'): Promise<Page> {
    const context = await browser!.newContext();
    const p = await context.newPage();
    p.on('pageerror', (e) => pageErrors.push(e.message));
    await p.goto(`${site!.origin}/app${react18 ? 18 : 19}.html?url=${encodeURIComponent(server!.url)}&token=${token}`, { timeout: 10_000 });
    return p;
  }

  it('every hook works, and the wire carries one connection, one sub per topic and one stream; unmount ends each once', async () => {
    server = await appServer();
    for (const text of ['m1', 'm2', 'm3', 'm4']) await server.server.publish('room:a', { text });
    const p = await open();

    // History (5) replayed into a buffer of 3, in both hooks that share the topic.
    for (const id of ['room-1', 'room-2']) await waitFor(p, id, (v) => v.ready === true && JSON.stringify(v.texts) === '["m2","m3","m4"]', `${id} to replay`);
    await waitFor(p, 'presence', (v) => JSON.stringify(v.members) === '["ann"]', 'presence to list ann');
    // A topic no rule allows: the hook shows the refusal and its reason.
    await waitFor(p, 'secret', (v) => v.error === 'FORBIDDEN' && v.reason === 'no-rule' && v.ready === false, 'the refusal');
    await waitFor(p, 'ticks', (v) => (v.received as number) >= 8 && v.items === 5, 'ticks to fill the window');
    expect(await read(p, 'connection')).toMatchObject({ state: 'open', attempt: 0, error: null });

    // Live messages, a call and its error, a targeted event.
    await server.server.publish('room:a', { text: 'm5' });
    await waitFor(p, 'room-1', (v) => v.last === 'm5' && JSON.stringify(v.texts) === '["m3","m4","m5"]', 'a live message');
    // onMessage heard every message once, the replayed ones included, though StrictMode mounted twice.
    expect(await p.evaluate(() => (window as { heard?: string[] }).heard)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    await p.getByTestId('add').click();
    await waitFor(p, 'add-state', (v) => v.data === 5 && v.pending === false, 'add to resolve');
    await p.getByTestId('fail').click();
    await waitFor(p, 'fail-state', (v) => v.error === 'NOPE' && v.pending === false, 'fail to reject');
    // A cancelled call: pending ends at once, no error shows, and its late answer is ignored.
    await p.getByTestId('slow').click();
    await waitFor(p, 'slow-state', (v) => v.pending === true, 'slow to be pending');
    await until(() => server!.slowCalls.length === 1, 'the slow call on the server');
    await p.getByTestId('slow-cancel').click();
    await waitFor(p, 'slow-state', (v) => v.pending === false && v.error === null, 'slow to be cancelled');
    server.slowCalls[0]!('late');
    // A call after it shows its own answer, and nothing of the late one.
    await p.getByTestId('slow').click();
    await until(() => server!.slowCalls.length === 2, 'the second slow call on the server');
    server.slowCalls[1]!('second');
    await waitFor(p, 'slow-state', (v) => v.data === 'second' && v.pending === false, 'the second slow call to resolve');

    await server.server.send({ member: 'ann' }, 'note', { text: 'hello' });
    await server.server.send({ member: 'ann' }, 'other', { text: 'not this one' });
    await waitFor<string[]>(p, 'events', (v) => v.join() === 'hello', 'the note event');

    // StrictMode mounted every effect twice: one connection (the provider's double mount). The
    // hooks first rendered before the provider's client existed; their double mount with a live
    // client is the remount below.
    expect(wire(server)).toEqual({ connections: 1, sub: 2, unsub: 0, stream: 1, cancel: 0 });

    // A new stream input cancels the stream and opens one for it.
    await p.getByTestId('ticks-rate').click();
    await until(() => wire(server!).stream === 2 && wire(server!).cancel === 1, 'the stream for the new input');

    // Unmounting the hooks ends the shared subscription and the stream, once each.
    await p.getByTestId('toggle').click();
    await until(() => wire(server!).unsub === 1 && wire(server!).cancel === 2, 'unsub and cancel after unmount');
    expect(await server.server.presence('room:a')).toEqual([]);
    // Mounted again, now with the client open, and StrictMode mounts each hook twice: one more sub
    // and stream on the wire, not two, and the connection is the same.
    await p.getByTestId('toggle').click();
    await waitFor(p, 'room-1', (v) => v.ready === true, 'the room again');
    await waitFor(p, 'ticks', (v) => (v.received as number) >= 1, 'ticks again');
    expect(wire(server)).toEqual({ connections: 1, sub: 4, unsub: 1, stream: 3, cancel: 2 });

    // Unmounting the provider closes the client it created.
    expect(server.server.connections).toBe(1);
    await p.getByTestId('provider-toggle').click();
    await until(() => server!.server.connections === 0, 'the provider to close its client');
    await p.context().close();
  });

  // Not React-specific beyond the hooks above: run once, on React 19.
  if (!react18) it('the banner shows reconnecting after a drop; the subscription resumes and the stream reopens', async () => {
    server = await appServer();
    const p = await open('bob');
    await waitFor(p, 'ticks', (v) => (v.received as number) >= 3, 'ticks');
    await waitFor(p, 'room-1', (v) => v.ready === true, 'the room');
    const before = wire(server);
    // MOVED (4002): the client reconnects by itself.
    await server.server.kick({ member: 'bob' }, { reconnect: true });
    const states = await p.waitForFunction(() => {
      const s = (window as { states?: string[] }).states ?? [];
      return s.length >= 4 && s;
    }, undefined, { timeout: 5_000 });
    expect(await states.jsonValue()).toEqual(['connecting', 'open', 'reconnecting', 'open']);
    await waitFor(p, 'connection', (v) => v.state === 'open' && v.error === null, 'the banner to show open');
    const received = (await read(p, 'ticks')).received as number;
    await waitFor(p, 'ticks', (v) => (v.received as number) > received + 2 && v.error === null, 'the stream to reopen');
    await server.server.publish('room:a', { text: 'after' });
    await waitFor(p, 'room-1', (v) => v.last === 'after', 'a message after the reconnect');
    const after = wire(server);
    expect({ connections: after.connections - before.connections, stream: after.stream - before.stream, sub: after.sub - before.sub }).toEqual({ connections: 1, stream: 1, sub: 1 });
    await p.context().close();
  });
});
