/**
 * The demo (`npm start`) in a real Chromium, through its chat app: two people join, see each
 * other, chat, and see each other leave; bad names are refused at the form and at the handshake;
 * the static server never leaves its folders; the process exits 0 on SIGTERM.
 * test/apps.browser.test.ts covers the three apps' own features.
 *
 * Runs `node demo/server.js` against `dist/`, so the build must have run (`npm test` does it).
 * Uses Debian's `chromium` (or `CHROMIUM_PATH`) and never downloads a browser: without one the
 * suite is skipped, with the reason printed.
 */
import { request } from 'node:http';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { chromiumFor, launchChromium } from './browser.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../src/client/node.js';
import { encodeTokenProtocol } from '../src/protocol/subprotocol.js';
import { startDemo, type DemoProcess } from './demo-process.js';
import { handshakeStatus, within } from './helpers.js';
import { createHttpProxy, type HttpProxy } from './http-proxy.js';

const hasChromium = chromiumFor('demo browser tests');

/** How long the page may take to show something a person would wait for. */
const UI_TIMEOUT = 5_000;

/** GETs a path exactly as written (no URL normalisation), as a hostile client would send it. */
function rawGet(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return within(
    new Promise((resolve, reject) => {
      const req = request({ host: 'localhost', port, path, method: 'GET' }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
      });
      req.on('error', reject);
      req.end();
    }),
    `GET ${path}`,
  );
}

describe.skipIf(!hasChromium)('chat demo in a real browser', () => {
  let demo: DemoProcess | undefined;
  let browser: Browser | undefined;
  /** Uncaught exceptions of every page, by name; each test expects none. */
  const pageErrors: string[] = [];

  beforeAll(async () => {
    [demo, browser] = await Promise.all([startDemo(), launchChromium()]);
  }, 120_000);

  afterAll(async () => {
    await within(browser?.close() ?? Promise.resolve(), 'the browser to close', 10_000).catch((e: unknown) => console.warn(e));
    // Only the process this suite spawned, by its handle (its PID), and only if still running.
    await demo?.stop();
  });

  async function openPage(context: BrowserContext, label: string): Promise<Page> {
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${label}: ${e.message}`));
    await page.goto(new URL('/chat/', demo!.url).href, { timeout: UI_TIMEOUT });
    return page;
  }

  /** Opens the demo in `context` and joins as `name`; resolves once the member list shows them. */
  async function joinAs(context: BrowserContext, name: string): Promise<Page> {
    const page = await openPage(context, name);
    await page.fill('#name', name);
    await page.click('#join');
    await page.locator('#state[data-state="open"]').waitFor({ timeout: UI_TIMEOUT });
    await page.locator(`#members [data-member="${name}"]`).waitFor({ timeout: UI_TIMEOUT });
    return page;
  }

  const notice = (page: Page, text: string) => page.locator('#messages [data-kind="notice"]', { hasText: text });
  const message = (page: Page, text: string) => page.locator('#messages [data-kind="message"]', { hasText: text });
  const member = (page: Page, name: string) => page.locator(`#members [data-member="${name}"]`);

  it('two people see each other, chat, and see each other leave', async () => {
    const aliceCtx = await browser!.newContext();
    const bobCtx = await browser!.newContext();
    try {
      const alice = await joinAs(aliceCtx, 'alice');
      const bob = await joinAs(bobCtx, 'bob');

      // Bob's snapshot lists alice; alice hears bob arrive.
      await member(bob, 'alice').waitFor({ timeout: UI_TIMEOUT });
      await notice(alice, 'bob joined').waitFor({ timeout: UI_TIMEOUT });
      await member(alice, 'bob').waitFor({ timeout: UI_TIMEOUT });
      expect(await bob.textContent('#member-count')).toBe('2');
      expect(await bob.textContent('#state')).toBe('online');

      // Markup in a message must arrive as text, not as elements.
      const text = 'Hello from <b>alice</b> & <img src=x onerror=alert(1)>';
      await alice.fill('#text', text);
      await alice.click('#send');
      const received = message(bob, 'Hello from');
      await received.waitFor({ timeout: UI_TIMEOUT });
      expect(await received.locator('.author').textContent()).toBe('alice');
      expect(await received.locator('.text').textContent()).toBe(text);
      expect(await received.locator('b, img').count()).toBe(0);
      expect(await received.getAttribute('data-mine')).toBeNull();
      // Alice sees her own message (echo), marked as hers, and her input is cleared.
      const own = message(alice, 'Hello from');
      await own.waitFor({ timeout: UI_TIMEOUT });
      expect(await own.getAttribute('data-mine')).toBe('');
      expect(await alice.inputValue('#text')).toBe('');

      // Enter sends too.
      await bob.fill('#text', 'hi alice');
      await bob.press('#text', 'Enter');
      const reply = message(alice, 'hi alice');
      await reply.waitFor({ timeout: UI_TIMEOUT });
      expect(await reply.locator('.author').textContent()).toBe('bob');

      // A newcomer sees the conversation so far (the topic keeps history; the page asks for 50).
      const carolCtx = await browser!.newContext();
      try {
        const carol = await joinAs(carolCtx, 'carol');
        await message(carol, 'hi alice').waitFor({ timeout: UI_TIMEOUT });
        const texts = await carol.locator('#messages [data-kind="message"]').allTextContents();
        expect(texts.filter((t) => t.includes('Hello from')), 'history in order').toHaveLength(1);
        expect(texts.findIndex((t) => t.includes('Hello from'))).toBeLessThan(texts.findIndex((t) => t.includes('hi alice')));
      } finally {
        await carolCtx.close();
      }
      await notice(bob, 'carol left').waitFor({ timeout: UI_TIMEOUT });

      // Closing alice's tab closes her socket; presence tells bob.
      await alice.close();
      await notice(bob, 'alice left').waitFor({ timeout: UI_TIMEOUT });
      await member(bob, 'alice').waitFor({ state: 'detached', timeout: UI_TIMEOUT });
      expect(await bob.textContent('#member-count')).toBe('1');
      expect(await bob.getAttribute('#state', 'data-state')).toBe('open');
    } finally {
      await aliceCtx.close();
      await bobCtx.close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('refuses an empty or overlong name at the form, and accepts 32 characters', async () => {
    const ctx = await browser!.newContext();
    try {
      const page = await openPage(ctx, 'form');
      for (const [name, why] of [
        ['', 'enter a name'],
        ['    ', 'enter a name'],
        ['x'.repeat(33), 'too long'],
      ] as const) {
        await page.fill('#name', name);
        await page.click('#join');
        await page.locator('#error', { hasText: why }).waitFor({ timeout: UI_TIMEOUT });
        expect(await page.getAttribute('#state', 'data-state')).toBe('idle');
        expect(await page.isHidden('#chat')).toBe(true);
      }
      const longest = 'y'.repeat(32);
      await page.fill('#name', `  ${longest}  `); // trimmed, as the server trims
      await page.click('#join');
      await page.locator('#state[data-state="open"]').waitFor({ timeout: UI_TIMEOUT });
      await member(page, longest).waitFor({ timeout: UI_TIMEOUT });
      expect(await page.isHidden('#error')).toBe(true);
    } finally {
      await ctx.close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('refuses a bad name in the handshake, also for a browser that skips the form', async () => {
    const wsUrl = `ws://localhost:${demo!.port}/ws`;
    const status = (token: string) => handshakeStatus(wsUrl, {}, ['switchboard.v1.json', encodeTokenProtocol(token)]);
    expect(await status('x'.repeat(33))).toBe(401);
    expect(await status('   ')).toBe(401);
    expect(await handshakeStatus(wsUrl)).toBe(401); // no token at all
    expect(await status('dave')).toBe(101);

    // The browser client served by the demo, talking to it directly: browsers only see 1006 for
    // a refused handshake (docs/protocol.md §1.2), and the client must never reach 'open'.
    const ctx = await browser!.newContext();
    try {
      const page = await openPage(ctx, 'raw');
      // A string, not a function: Vitest rewrites `import()` inside functions of this file.
      const result = await within(
        page.evaluate(`(async () => {
          const { connect } = await import('/switchboard/client/index.js');
          const attempt = (token) => new Promise((resolve) => {
            const client = connect('ws://' + location.host + '/ws', { token, reconnect: false });
            let opened = false;
            client.on('error', () => {});
            client.on('open', () => { opened = true; client.close(); });
            client.on('close', (e) => resolve({ opened, code: e.code, state: client.state }));
          });
          return { tooLong: await attempt('x'.repeat(33)), blank: await attempt('   '), fine: await attempt('erin') };
        })()`),
        'handshakes from the page',
        10_000,
      );
      expect(result).toEqual({
        tooLong: { opened: false, code: 1006, state: 'closed' },
        blank: { opened: false, code: 1006, state: 'closed' },
        fine: { opened: true, code: 1000, state: 'closed' },
      });
    } finally {
      await ctx.close();
    }
  });

  it('lets a member publish only a message of 1-500 characters under their own name', async () => {
    const client = connect(`ws://localhost:${demo!.port}/ws`, { token: 'mallory', reconnect: false });
    try {
      await within(client.subscribe('chat:lobby', () => {}).ready, 'the lobby subscription');
      const code = (data: unknown) =>
        client.publish('chat:lobby', data).then(
          () => 'ok',
          (e: { code?: string }) => e.code,
        );
      expect(await code({ name: 'mallory', text: 'x'.repeat(500) })).toBe('ok');
      // The shape is the schema's to check (INVALID_INPUT); the name is the rule's (FORBIDDEN).
      expect(await code({ name: 'mallory', text: 'x'.repeat(501) })).toBe('INVALID_INPUT');
      expect(await code({ name: 'mallory', text: '' })).toBe('INVALID_INPUT');
      expect(await code({ name: 'mallory', text: '  \n ' })).toBe('INVALID_INPUT');
      expect(await code({ name: 'mallory', text: 'hi', html: '<b>' })).toBe('INVALID_INPUT');
      expect(await code({ name: 'alice', text: 'I am alice, honest' })).toBe('FORBIDDEN');
      expect(await code({ text: 'no name' })).toBe('FORBIDDEN');
      expect(await code('just a string')).toBe('FORBIDDEN');
      // Typing signals likewise: under one's own name, and only `{ name, typing }`.
      await within(client.subscribe('typing:lobby', () => {}).ready, 'the typing subscription');
      const typing = (data: unknown) => client.publish('typing:lobby', data).then(() => 'ok', (e: { code?: string }) => e.code);
      expect(await typing({ name: 'mallory', typing: true })).toBe('ok');
      expect(await typing({ name: 'alice', typing: true })).toBe('FORBIDDEN');
      expect(await typing({ name: 'mallory', typing: 'yes' })).toBe('INVALID_INPUT');
      // Only chat rooms with valid names (and typing rooms) exist; inboxes are for signed-in users.
      for (const topic of ['admin:secrets', 'chat:Not A Room', 'chat:', 'inbox:mallory']) {
        const other = client.subscribe(topic, () => {});
        await expect(within(other.ready, `the refusal of ${topic}`), topic).rejects.toMatchObject({ code: 'FORBIDDEN' });
      }
    } finally {
      client.close();
    }
  });

  it('serves the page and the browser client with the right types, and nothing outside them', async () => {
    const port = demo!.port;
    const ok: [string, string][] = [
      ['/', 'text/html'],
      ['/chat/', 'text/html'],
      ['/chat', 'text/html'],
      ['/dashboard/', 'text/html'],
      ['/notifications/index.html', 'text/html'],
      ['/switchboard/client/index.js', 'text/javascript'],
      ['/switchboard/protocol/frames.js', 'text/javascript'],
    ];
    for (const [path, type] of ok) {
      const res = await rawGet(port, path);
      expect(res.status, path).toBe(200);
      expect(res.type, path).toContain(type);
    }
    // The apps' bundles, as the pages name them.
    const chatPage = await rawGet(port, '/chat/');
    const scripts = [...chatPage.body.matchAll(/src="(\/assets\/[^"]+\.js)"/g)].map((m) => m[1]!);
    expect(scripts.length).toBeGreaterThan(0);
    for (const path of scripts) expect((await rawGet(port, path)).type, path).toContain('text/javascript');
    const refused = [
      '/nope.html',
      '/assets/',
      '/src/chat/App.jsx', // the sources are not served, only the build
      '/../apps/vite.config.js',
      '/..%2f..%2flib%2fnotifications.js',
      '/switchboard/server/server.js', // in dist/, but no browser needs it
      '/switchboard/client/index.d.ts',
      '/switchboard/',
      '/../package.json',
      '/../server.js',
      '/switchboard/../../package.json',
      '/switchboard/../package.json',
      '/%2e%2e/package.json',
      '/..%2fserver.js',
      '/..%2f..%2fpackage.json',
      '/switchboard/..%2f..%2fpackage.json',
      '/switchboard/client/..%2f..%2f..%2fpackage.json',
      '/switchboard/client/..%2fserver%2fserver.js',
      '/..%5c..%5cpackage.json',
      '/%2fetc%2fpasswd',
      '/index.html%00.js',
      '/%zz',
    ];
    for (const path of refused) {
      const res = await rawGet(port, path);
      expect(res.status, path).toBe(404);
      expect(res.body, path).toBe('Not Found\n');
    }
  });

  // Last: it stops the demo.
  it('exits with code 0 on SIGTERM while a browser is connected, with its URL as the last line of output', async () => {
    const d = demo!;
    const ctx = await browser!.newContext();
    try {
      const page = await joinAs(ctx, 'frank');
      const late = await openPage(ctx, 'late'); // loaded, but joins only once the server is gone
      d.child.kill('SIGTERM');
      expect(await within(d.exited, 'the demo to exit after SIGTERM', 10_000)).toEqual({ code: 0, signal: null });
      // The page was told "going away" (1001) and tries to come back.
      await page.locator('#state[data-state="reconnecting"]').waitFor({ timeout: UI_TIMEOUT });
      // A join that never opens stops at once instead of retrying in the background.
      await late.fill('#name', 'gina');
      await late.click('#join');
      await late.locator('#error', { hasText: 'Could not join as “gina”' }).waitFor({ timeout: UI_TIMEOUT });
      expect(await late.getAttribute('#state', 'data-state')).toBe('closed');
      expect(await late.isHidden('#chat')).toBe(true);
      expect(await late.isEnabled('#join')).toBe(true);
    } finally {
      await ctx.close();
    }
    // The URL is the last line (a first build of the apps says so before it).
    expect(d.stdout().endsWith(`Switchboard demo: ${d.url}\n`)).toBe(true);
    expect(d.stderr()).toBe('');
  });
});

describe.skipIf(!hasChromium)('chat demo behind a proxy that refuses WebSocket upgrades (SSE fallback)', () => {
  let demo: DemoProcess | undefined;
  let proxy: HttpProxy | undefined;
  let browser: Browser | undefined;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    demo = await startDemo();
    proxy = await createHttpProxy([demo.port], { refuseUpgrades: true });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await within(browser?.close() ?? Promise.resolve(), 'the browser to close', 10_000).catch((e: unknown) => console.warn(e));
    await proxy?.close();
    const d = demo;
    if (d && d.child.exitCode === null && d.child.signalCode === null) {
      d.child.kill('SIGTERM');
      await within(d.exited, 'the demo to exit after SIGTERM', 10_000);
    }
  });

  async function joinAs(context: BrowserContext, name: string): Promise<Page> {
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
    await page.goto(`http://localhost:${proxy!.port}/chat/`, { timeout: UI_TIMEOUT });
    await page.fill('#name', name);
    await page.click('#join');
    await page.locator('#state[data-state="open"]').waitFor({ timeout: UI_TIMEOUT });
    await page.locator(`#members [data-member="${name}"]`).waitFor({ timeout: UI_TIMEOUT });
    return page;
  }
  const texts = (page: Page) => page.locator('#messages [data-kind="message"] .text').allTextContents();

  it('chats over SSE, says so, and a reconnect resumes the conversation without loss or repeats', async () => {
    const aliceCtx = await browser!.newContext();
    const bobCtx = await browser!.newContext();
    // A member outside the proxy, on a WebSocket, who talks while the others are cut off.
    const zed = connect(`ws://localhost:${demo!.port}/ws`, { token: 'zed', reconnect: false });
    try {
      const alice = await joinAs(aliceCtx, 'alice');
      const bob = await joinAs(bobCtx, 'bob');
      expect(await alice.getAttribute('#state', 'data-transport')).toBe('sse');
      expect(await bob.getAttribute('#state', 'data-transport')).toBe('sse');
      expect(proxy!.upgrades).toBeGreaterThanOrEqual(2);
      await bob.locator('#members [data-member="alice"]').waitFor({ timeout: UI_TIMEOUT });

      await alice.fill('#text', 'one');
      await alice.click('#send');
      await bob.locator('#messages [data-kind="message"]', { hasText: 'one' }).waitFor({ timeout: UI_TIMEOUT });
      await within(zed.subscribe('chat:lobby', () => {}).ready, 'zed in the lobby');

      // Cut every connection through the proxy and keep it shut while zed talks.
      proxy!.pause();
      await bob.locator('#state[data-state="reconnecting"]').waitFor({ timeout: UI_TIMEOUT });
      for (const text of ['during 1', 'during 2', 'during 3']) await zed.publish('chat:lobby', { name: 'zed', text });
      proxy!.resume();
      await bob.locator('#state[data-state="open"]').waitFor({ timeout: 10_000 });
      await alice.locator('#state[data-state="open"]').waitFor({ timeout: 10_000 });
      await alice.fill('#text', 'two');
      await alice.click('#send');
      await bob.locator('#messages [data-kind="message"]', { hasText: 'two' }).waitFor({ timeout: UI_TIMEOUT });
      const want = ['one', 'during 1', 'during 2', 'during 3', 'two'];
      expect(await texts(bob)).toEqual(want);
      expect(await texts(alice)).toEqual(want);
      expect(await bob.getAttribute('#state', 'data-transport')).toBe('sse');
      expect(await bob.locator('#messages [data-kind="notice"]', { hasText: 'missed' }).count()).toBe(0);
    } finally {
      zed.close();
      await aliceCtx.close();
      await bobCtx.close();
    }
    expect(pageErrors).toEqual([]);
  });
});
