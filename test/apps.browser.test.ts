/**
 * The three demo apps (`npm start`: demo/apps, Vite + React, StrictMode on) in a real Chromium:
 * two people chat and see each other (messages, presence, typing); the server restarts
 * mid-conversation and every message sent meanwhile arrives exactly once; the dashboard's charts
 * receive points at the chosen rate; a notification user never receives another's notifications
 * (checked on the WebSocket frames the page received and in the server's trace); StrictMode's
 * double mount leaves one subscription per topic and one stream on the wire. Takes a screenshot of
 * each app: into docs/images/ (the README's pictures) with SWITCHBOARD_SCREENSHOTS=1, else into a
 * temporary folder, so a test run leaves the checkout as it was. test/apps.webkit.test.ts runs the
 * same scenarios in WebKitGTK.
 *
 * Uses Debian's `chromium` (or `CHROMIUM_PATH`), never a downloaded browser: without one the suite
 * is skipped, with the reason printed.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumFor, launchChromium } from './browser.js';
import { startDemo, wireOf, type DemoProcess } from './demo-process.js';
import { within } from './helpers.js';

const hasChromium = chromiumFor('apps browser tests');
const KEEP_SCREENSHOTS = process.env.SWITCHBOARD_SCREENSHOTS === '1';
/** Where the screenshots go (set in beforeAll: a temporary folder, removed afterwards, unless kept). */
let IMAGES = '';
/** How long a page may take to show something a person would wait for. */
const UI_TIMEOUT = 10_000;
/** A reconnect after a restart: the client's backoff plus the new process's start. */
const RECONNECT_TIMEOUT = 20_000;
const VIEWPORT = { width: 1200, height: 760 };

describe.skipIf(!hasChromium)('the demo apps in Chromium', () => {
  let demo: DemoProcess | undefined;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    IMAGES = KEEP_SCREENSHOTS ? fileURLToPath(new URL('../docs/images/', import.meta.url)) : `${mkdtempSync(join(tmpdir(), 'switchboard-screenshots-'))}/`;
    mkdirSync(IMAGES, { recursive: true });
    [demo, browser] = await Promise.all([startDemo({ trace: true }), launchChromium()]);
  }, 120_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await within(browser?.close() ?? Promise.resolve(), 'the browser to close', 10_000).catch((e: unknown) => console.warn(e));
    if (IMAGES && !KEEP_SCREENSHOTS) rmSync(IMAGES, { recursive: true, force: true });
    const stopped = await demo?.stop();
    if (stopped) expect(stopped).toEqual({ code: 0, signal: null });
  });

  async function open(path: string, label: string): Promise<Page> {
    const context = await browser!.newContext({ viewport: VIEWPORT });
    contexts.push(context);
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${label}: ${e.message}`));
    await page.goto(new URL(path, demo!.url).href, { timeout: UI_TIMEOUT });
    return page;
  }

  async function joinChat(name: string): Promise<Page> {
    const page = await open('/chat/', name);
    await page.fill('#name', name);
    await page.click('#join');
    await page.locator('#state[data-state="open"]').waitFor({ timeout: UI_TIMEOUT });
    await page.locator(`#members [data-member="${name}"]`).waitFor({ timeout: UI_TIMEOUT });
    return page;
  }

  /** The chat test's two people, still in the conversation for the restart test after it. */
  let chat: { alice: Page; bob: Page } | undefined;

  const message = (page: Page, text: string) => page.locator('#messages [data-kind="message"]', { hasText: text });
  const notice = (page: Page, text: string) => page.locator('#messages [data-kind="notice"]', { hasText: text });
  const member = (page: Page, name: string) => page.locator(`#members [data-member="${name}"]`);

  it('landing page links to the three apps', async () => {
    const page = await open('/', 'landing');
    const links = await page.locator('#apps a').evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).getAttribute('href')));
    expect(links).toEqual(['/chat/', '/dashboard/', '/notifications/']);
    await page.close();
  });

  it('chat: two people see each other, their messages and their typing; StrictMode leaves one subscription per topic', async () => {
    const alice = await joinChat('alice');
    const bob = await joinChat('bob');
    await member(bob, 'alice').waitFor({ timeout: UI_TIMEOUT });
    await member(alice, 'bob').waitFor({ timeout: UI_TIMEOUT });
    await notice(alice, 'bob joined').waitFor({ timeout: UI_TIMEOUT });
    expect(await bob.textContent('#member-count')).toBe('2');

    // Typing travels on the volatile topic and shows on the other side only.
    await alice.fill('#text', 'Hello from <b>alice</b>');
    await bob.locator('#typing', { hasText: 'alice is typing' }).waitFor({ timeout: UI_TIMEOUT });
    expect(await alice.textContent('#typing')).not.toContain('alice');

    await alice.click('#send');
    const received = message(bob, 'Hello from');
    await received.waitFor({ timeout: UI_TIMEOUT });
    expect(await received.locator('.author').textContent()).toBe('alice');
    expect(await received.locator('.text').textContent()).toBe('Hello from <b>alice</b>'); // text, never markup
    expect(await received.locator('b').count()).toBe(0);
    expect(await message(alice, 'Hello from').getAttribute('data-mine')).toBe('');
    await bob.fill('#text', 'hi alice');
    await bob.press('#text', 'Enter');
    await message(alice, 'hi alice').waitFor({ timeout: UI_TIMEOUT });
    await alice.screenshot({ path: `${IMAGES}chat.png` });

    // On the wire (the server's trace): each connection subscribed each topic once — the room's
    // messages and presence share one subscription, typing has its own — and never unsubscribed,
    // though StrictMode mounted every component twice.
    for (const who of ['alice', 'bob']) {
      const [conn, ...more] = wireOf(demo!.trace(), who);
      expect(more, `${who}: one connection`).toEqual([]);
      expect(conn!.subscribed.sort(), who).toEqual(['chat:lobby', 'typing:lobby']);
      expect(conn!.frames, who).toMatchObject({ sub: 2, unsub: 0 });
    }

    // Another room: bob leaves the lobby (alice is told) and is alone in #random; then back.
    await bob.click('[data-room="random"]');
    await notice(alice, 'bob left').waitFor({ timeout: UI_TIMEOUT });
    await member(bob, 'alice').waitFor({ state: 'detached', timeout: UI_TIMEOUT });
    expect(await bob.textContent('#member-count')).toBe('1');
    await bob.click('[data-room="lobby"]');
    await member(bob, 'alice').waitFor({ timeout: UI_TIMEOUT });
    await message(bob, 'hi alice').waitFor({ timeout: UI_TIMEOUT }); // the history again, on entry
    chat = { alice, bob };
    expect(pageErrors).toEqual([]);
  }, 40_000);

  it('chat: a restarted server — the banner shows reconnecting, and every message sent meanwhile arrives exactly once', async () => {
    const { alice, bob } = chat!;
    const port = demo!.port;
    expect(await demo!.stop()).toEqual({ code: 0, signal: null });
    for (const page of [alice, bob]) await page.locator('#banner[data-state="reconnecting"]').waitFor({ timeout: UI_TIMEOUT });
    // Sent while the server is down: the client queues them and sends them once it is back.
    for (const text of ['while down 1', 'while down 2']) {
      await alice.fill('#text', text);
      await alice.click('#send');
    }
    await bob.fill('#text', 'bob while down');
    await bob.click('#send');

    // The same port, a new process (its history starts afresh; the clients follow it from its
    // first message). The rest of the suite uses it.
    demo = await startDemo({ port, trace: true });
    for (const page of [alice, bob]) {
      await page.locator('#state[data-state="open"]').waitFor({ timeout: RECONNECT_TIMEOUT });
      await page.locator('#banner').waitFor({ state: 'detached', timeout: UI_TIMEOUT });
    }
    // A marker sent last: messages of a topic arrive in order, so once it is there, any
    // duplicate of an earlier message would be there too.
    await alice.fill('#text', 'the marker');
    await alice.click('#send');
    for (const [who, page] of [['alice', alice], ['bob', bob]] as const) {
      await message(page, 'the marker').waitFor({ timeout: UI_TIMEOUT });
      const texts = await page.locator('#messages [data-kind="message"] .text').allTextContents();
      for (const t of ['hi alice', 'while down 1', 'while down 2', 'bob while down', 'the marker']) {
        expect(texts.filter((x) => x === t), `${t} on ${who}'s page`).toHaveLength(1);
      }
      expect(texts.indexOf('while down 1')).toBeLessThan(texts.indexOf('while down 2'));
    }
    await member(alice, 'bob').waitFor({ timeout: UI_TIMEOUT });
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('dashboard: the charts receive points at the chosen rate, from one stream per rate', async () => {
    const page = await open('/dashboard/', 'dashboard');
    const dash = page.locator('#dashboard');
    await page.waitForFunction(() => Number(document.querySelector('#dashboard')?.getAttribute('data-received')) >= 3, undefined, { timeout: UI_TIMEOUT });
    await page.selectOption('#rate', '100');
    await page.locator('#dashboard[data-interval-ms="10"]').waitFor({ timeout: UI_TIMEOUT });
    // 100 points of the 100/s stream (its sequence restarts at 0).
    await page.waitForFunction(
      () => {
        const d = document.querySelector('#dashboard');
        return Number(d?.getAttribute('data-seq-last')) >= 100 && Number(d?.getAttribute('data-seq-first')) === 0;
      },
      undefined,
      { timeout: 15_000 },
    );
    // Read in one task of the page: points keep arriving between two separate reads.
    const d = await dash.evaluate((el) => ({ ...(el as HTMLElement).dataset }));
    const [count, seqFirst, seqLast, tFirst, tLast] = [d.windowCount, d.seqFirst, d.seqLast, d.tFirst, d.tLast].map(Number);
    // Every point arrived (no gap in the sequence), and the server produced them 10 ms apart on
    // average, by its own clock.
    expect(count).toBe(seqLast! - seqFirst! + 1);
    const spacing = (tLast! - tFirst!) / (seqLast! - seqFirst!);
    expect(spacing).toBeGreaterThan(5);
    expect(spacing).toBeLessThan(20);
    // The charts drew them.
    await page.waitForFunction(() => Number(document.querySelector('#chart-loop .plot')?.getAttribute('data-points')) >= 80, undefined, { timeout: UI_TIMEOUT });
    await page.click('#call-burst');
    await page.waitForFunction(() => document.querySelector('#chart-calls')?.textContent?.includes('last:'), undefined, { timeout: UI_TIMEOUT });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: `${IMAGES}dashboard.png`, fullPage: true });

    // One stream per rate on the wire, the first cancelled when the rate changed: StrictMode's
    // double mount opened no second stream.
    const [conn, ...more] = wireOf(demo!.trace(), 'dashboard');
    expect(more).toEqual([]);
    expect(conn!.frames).toMatchObject({ stream: 2, cancel: 1, sub: 0 });
    expect(pageErrors).toEqual([]);
  }, 40_000);

  it('notifications: each user sees only their own, on the wire too; unread counts, toasts and mark-as-read', async () => {
    const frames: Record<string, string[]> = { alice: [], bob: [] };
    const signIn = async (user: 'alice' | 'bob') => {
      const context = await browser!.newContext({ viewport: VIEWPORT });
      contexts.push(context);
      const page = await context.newPage();
      page.on('pageerror', (e) => pageErrors.push(`${user}: ${e.message}`));
      // Every WebSocket frame the page receives, as the browser's DevTools protocol reports it.
      page.on('websocket', (ws) => ws.on('framereceived', (f) => frames[user]!.push(String(f.payload))));
      await page.goto(new URL('/notifications/', demo!.url).href, { timeout: UI_TIMEOUT });
      await page.click(`[data-user="${user}"]`);
      await page.locator('#state[data-state="open"]').waitFor({ timeout: UI_TIMEOUT });
      await page.locator('#unread[data-count="0"]').waitFor({ timeout: UI_TIMEOUT });
      return page;
    };
    const alice = await signIn('alice');
    const bob = await signIn('bob');
    const secret = `for bob only ${Math.random().toString(36).slice(2)}`;

    // Alice sends bob a notification; bob sends alice one.
    await alice.selectOption('#to', 'bob');
    await alice.fill('#title', secret);
    await alice.click('#send');
    await bob.locator('#notifications li', { hasText: secret }).waitFor({ timeout: UI_TIMEOUT });
    await bob.locator('.toast', { hasText: secret }).waitFor({ timeout: UI_TIMEOUT });
    await bob.locator('#unread[data-count="1"]').waitFor({ timeout: UI_TIMEOUT });
    await bob.selectOption('#to', 'alice');
    await bob.fill('#title', 'Lunch at noon?');
    await bob.fill('#body', 'The usual place.');
    await bob.click('#send');
    await alice.locator('#notifications li', { hasText: 'Lunch at noon?' }).waitFor({ timeout: UI_TIMEOUT });
    await alice.locator('#unread[data-count="1"]').waitFor({ timeout: UI_TIMEOUT });
    await alice.screenshot({ path: `${IMAGES}notifications.png` });

    // Marking as read: the count drops, on every tab of the user (the read entry is on the topic).
    await bob.locator('#notifications li', { hasText: secret }).locator('button.mark').click();
    await bob.locator('#unread[data-count="0"]').waitFor({ timeout: UI_TIMEOUT });
    expect(await bob.locator('#notifications li[data-unread]').count()).toBe(0);

    // Alice's page never received bob's notification: not in the DOM, not in any frame.
    expect(await alice.locator('#notifications li', { hasText: secret }).count()).toBe(0);
    expect(frames.alice!.some((f) => f.includes('Lunch at noon?'))).toBe(true);
    expect(frames.alice!.filter((f) => f.includes(secret))).toEqual([]);
    expect(frames.bob!.some((f) => f.includes(secret))).toBe(true);
    // And the server subscribed each only to their own inbox, once.
    for (const who of ['alice', 'bob']) {
      const conns = wireOf(demo!.trace(), who).filter((c) => c.subscribed.some((t) => t.startsWith('inbox:')));
      expect(conns, who).toHaveLength(1);
      expect(conns[0]!.subscribed, who).toEqual([`inbox:${who}`]);
      expect(conns[0]!.frames, who).toMatchObject({ sub: 1, unsub: 0 });
    }
    expect(pageErrors).toEqual([]);
  }, 40_000);
});
