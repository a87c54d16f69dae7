/**
 * The RightPlace SDK's own documented snippets, run as printed against our host in a real Chromium
 * (docs/bridge.md §3.3, §9): the raw postMessage protocol posts `ws.connect`, `ws.send` and
 * `ws.close` one after the other, and the Quick Start calls `ws.close()` right after `connect`.
 * The host processes each connection's requests in order: sends before `open` wait for it (bounded
 * by `limits.maxBufferedBytes`), a close asked for before `open` follows them, and after a close
 * request the guest hears only its `close`. The snippet texts in test/fixtures/ are byte-for-byte
 * the published ones; the host page maps their URL (`wss://echo.websocket.org`) to a local echo
 * server through the host's `WebSocket` option, so nothing in them is edited.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Frame, Page } from 'playwright-core';
import { bridgeSites, chromiumFor } from './browser.js';
import { afterEach, describe, expect, it } from 'vitest';
import type * as Bridge from '../src/bridge/index.js';
import { PAGE_WAIT_FOR, startEcho, type Echo } from './bridge-fixtures.js';
import { guardUnhandledRejections, until } from './helpers.js';

const hasChromium = chromiumFor('bridge snippet tests');

guardUnhandledRejections();

const RAW_SNIPPET = readFileSync(new URL('./fixtures/rightplace-raw-snippet.js', import.meta.url), 'utf8');
const QUICK_START = readFileSync(new URL('./fixtures/rightplace-quick-start.js', import.meta.url), 'utf8');
/** The URL both snippets open. */
const SNIPPET_URL = 'wss://echo.websocket.org';

type Entry = (string | number)[];
declare global {
  interface Window {
    bridge: typeof Bridge;
    host: Bridge.ResourceHost;
    pageReady: boolean;
    /** What the page's `console.log` / `console.error` printed: [kind, ...args]. */
    logs: Entry[];
    track(conn: Bridge.WsConnection): Entry[];
    waitFor<T>(pred: () => T, what: string, ms?: number): Promise<T>;
  }
}

/** Records the console, so the snippets' own `console.log("Closed:", …)` lines are what is checked. */
const CONSOLE = `<script>
window.logs = [];
const record = (kind) => (...args) => logs.push([kind, ...args.map((a) => (typeof a === 'number' ? a : String(a)))]);
console.log = record('log');
console.error = record('error');
${PAGE_WAIT_FOR}
</script>`;

/** The raw snippet, as a classic script of its own. */
const RAW_PAGE = `<!doctype html><meta charset="utf-8"><title>raw</title><body>
${CONSOLE}
<script>window.pageReady = true;</script>
<script>
${RAW_SNIPPET}
</script>`;

/** The Quick Start, as a module whose `@rightplace/sdk` is our guest SDK. */
const QUICK_START_PAGE = `<!doctype html><meta charset="utf-8"><title>quick start</title><body>
${CONSOLE}
<script type="importmap">{ "imports": { "@rightplace/sdk": "/dist/bridge/index.js" } }</script>
<script>window.pageReady = true;</script>
<script type="module">
${QUICK_START}
</script>`;

/** The guest SDK, with a tracker that keeps each error's code and message. */
const SDK_PAGE = `<!doctype html><meta charset="utf-8"><title>sdk</title><body>
${CONSOLE}
<script type="module">
import * as bridge from '/dist/bridge/index.js';
window.bridge = bridge;
window.track = (conn) => {
  const log = [];
  conn.on('open', () => log.push(['open']));
  conn.on('message', (d) => log.push(['message', typeof d === 'string' ? d : 'bytes:' + new Uint8Array(d).join(',')]));
  conn.on('error', (m, e) => log.push(['error', e.code, m]));
  conn.on('close', (c, r) => log.push(['close', c, r]));
  return log;
};
window.pageReady = true;
</script>`;

/** A port on 127.0.0.1 where nothing listens. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe.skipIf(!hasChromium)('the RightPlace snippets, as printed, against our host', () => {
  const sites = bridgeSites({ '/raw.html': RAW_PAGE, '/quick-start.html': QUICK_START_PAGE, '/sdk.html': SDK_PAGE });
  let echo: Echo;

  afterEach(async () => {
    await echo?.close();
  });

  const manifest = { id: 'com.example.realtime-dashboard', capabilities: ['network:ws'] };

  /**
   * A host page whose WebSocket constructor sends the snippets' URL to the local echo server, and
   * a sandboxed iframe from another origin running the guest page `path`.
   */
  async function open(path: string, limits?: Partial<Bridge.HostLimits>): Promise<{ page: Page; guest: Frame }> {
    echo = await startEcho();
    const page = await sites.hostPage();
    const src = `${sites.guestOrigin()}${path}`;
    await page.evaluate(
      ({ src, from, to, manifest, limits }) => {
        const Real = window.WebSocket;
        class Mapped extends Real {
          constructor(url: string, protocols?: string | string[]) {
            super(url === from ? to : url, protocols);
          }
        }
        const iframe = document.createElement('iframe');
        iframe.id = 'guest';
        iframe.setAttribute('sandbox', 'allow-scripts');
        iframe.src = src;
        // Created before the iframe loads: the raw snippet posts at once, and must find a host.
        window.host = window.bridge.createResourceHost({
          iframe,
          manifest,
          policy: { allow: ['wss://echo.websocket.org', 'ws://127.0.0.1:*'] },
          WebSocket: Mapped,
          ...(limits ? { limits } : {}),
        });
        document.body.append(iframe);
      },
      { src, from: `${SNIPPET_URL}/`, to: echo.url, manifest, limits },
    );
    await until(() => page.frames().some((f) => f.url() === src), `frame ${src}`, 10_000);
    const guest = page.frames().find((f) => f.url() === src)!;
    await guest.waitForFunction(() => window.pageReady === true, undefined, { timeout: 10_000 });
    return { page, guest };
  }

  it('the raw "Without the SDK" snippet delivers "Hello!" upstream and logs one Closed: 1000', async () => {
    const { page, guest } = await open('/raw.html');
    await until(() => echo.connections[0]?.closed !== undefined, 'the upstream to see the close', 8_000);
    const up = echo.connections[0]!;
    expect(up.messages.map((m) => [m.binary, m.data.toString()])).toEqual([[false, 'Hello!']]);
    expect(up.closed).toEqual({ code: 1000, reason: '' });
    const logs = await guest.evaluate(async () => {
      await window.waitFor(() => window.logs.length > 0, 'a log line');
      return window.logs;
    });
    // Asked to close before it opened: the guest hears its close and nothing else.
    expect(logs).toEqual([['log', 'Closed:', 1000, '']]);
    expect(echo.connections).toHaveLength(1);
    expect(await page.evaluate(() => window.host.connections)).toBe(0);
  });

  it('the Quick Start logs one Closed: 1000 and no error; its open handler never runs', async () => {
    const { page, guest } = await open('/quick-start.html');
    await until(() => echo.connections[0]?.closed !== undefined, 'the upstream to see the close', 8_000);
    const up = echo.connections[0]!;
    // open → close 1000 upstream; "Hello, server!" is sent from the open handler, which never runs.
    expect(up.messages).toEqual([]);
    expect(up.closed).toEqual({ code: 1000, reason: '' });
    const logs = await guest.evaluate(async () => {
      await window.waitFor(() => window.logs.length > 0, 'a log line');
      return window.logs;
    });
    expect(logs).toEqual([['log', 'Closed:', 1000, '']]);
    expect(await page.evaluate(() => window.host.connections)).toBe(0);
  });

  it('the same sequence through the guest SDK: sends before open go out in order, then close 1000', async () => {
    const { guest } = await open('/sdk.html');
    const result = await guest.evaluate(async (url) => {
      const rp = window.bridge.createResourceClient();
      const ws = rp.ws.connect(url);
      const log = window.track(ws);
      ws.send('Hello!');
      ws.send(new Uint8Array([1, 2, 3]));
      ws.close();
      const opened = await ws.opened.then(() => 'opened', (e: Bridge.BridgeError) => e.code);
      await window.waitFor(() => ws.state === 'closed', 'the close');
      // A send after close() is refused, and told to nobody: the connection is over.
      ws.send('late');
      await new Promise((r) => setTimeout(r, 50));
      return { log, opened, state: ws.state };
    }, SNIPPET_URL);
    expect(result).toEqual({ log: [['close', 1000, '']], opened: 'ABORTED', state: 'closed' });
    await until(() => echo.connections[0]?.closed !== undefined, 'the upstream to see the close');
    const up = echo.connections[0]!;
    expect(up.messages.map((m) => (m.binary ? [...m.data] : m.data.toString()))).toEqual(['Hello!', [1, 2, 3]]);
    expect(up.closed).toEqual({ code: 1000, reason: '' });
  });

  it('bounds the sends held before open by limits.maxBufferedBytes (LIMIT_EXCEEDED), and flushes the rest in order on open', async () => {
    const { page, guest } = await open('/sdk.html', { maxBufferedBytes: 64 });
    const log = await guest.evaluate(async (url) => {
      const rp = window.bridge.createResourceClient();
      const ws = rp.ws.connect(url);
      const log = window.track(ws);
      ws.send('a'.repeat(40));
      ws.send('b'.repeat(40)); // 80 > 64: refused, not queued
      ws.send('c'.repeat(24)); // 64: fits
      await window.waitFor(() => log.filter((e) => e[0] === 'message').length === 2, 'two echoes');
      return log.map((e) => (e[0] === 'error' ? e.slice(0, 2) : e));
    }, SNIPPET_URL);
    expect(log).toEqual([['error', 'LIMIT_EXCEEDED'], ['open'], ['message', 'a'.repeat(40)], ['message', 'c'.repeat(24)]]);
    expect(echo.connections[0]!.messages.map((m) => m.data.toString())).toEqual(['a'.repeat(40), 'c'.repeat(24)]);
    expect(await page.evaluate(() => window.host.connections)).toBe(1);
  });

  it('a connection that never opens reports its queued sends in its one error and drops them; after close() only close 1006', async () => {
    const port = await deadPort();
    const { page, guest } = await open('/sdk.html');
    const result = await guest.evaluate(async (url) => {
      const rp = window.bridge.createResourceClient();
      const a = rp.ws.connect(url);
      const aLog = window.track(a);
      a.send('one');
      a.send('two');
      const b = rp.ws.connect(url);
      const bLog = window.track(b);
      b.send('three');
      b.close();
      await window.waitFor(() => a.state === 'closed' && b.state === 'closed', 'both to close');
      return { aLog, bLog, bOpened: await b.opened.catch((e: Bridge.BridgeError) => e.code) };
    }, `ws://127.0.0.1:${port}/`);
    expect(result.aLog).toEqual([['error', 'UPSTREAM_FAILED', expect.stringContaining('2 queued messages were dropped')], ['close', 1006, '']]);
    expect(result.bLog).toEqual([['close', 1006, '']]);
    expect(result.bOpened).toBe('ABORTED');
    expect(await page.evaluate(() => window.host.connections)).toBe(0);
  });
});
