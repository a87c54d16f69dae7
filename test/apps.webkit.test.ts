/**
 * The three demo apps in WebKitGTK (test/webkit.ts: Debian's WebKitWebDriver and MiniBrowser under
 * a private Xvfb), the scenarios of test/apps.browser.test.ts: two people chat and see each other;
 * the server restarts and every message sent meanwhile arrives once; the dashboard receives points
 * at the chosen rate; a notification user never receives another's notifications; StrictMode
 * leaves one subscription per topic and one stream on the wire. WebKitGTK has no DevTools frame
 * feed, so "on the wire" is the server's side of it: its trace of what each connection subscribed
 * (a topic's messages reach only its subscribers). Skips, saying why, when WebKitGTK is not
 * installed or cannot start (no display, no session).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startDemo, wireOf, type DemoProcess } from './demo-process.js';
import { startWebKit, startXvfb, webkitFor, type WebKitSession } from './webkit.js';

const hasWebKit = webkitFor('apps WebKitGTK tests');
const RECONNECT_TIMEOUT = 20_000;

/** A function body that is true when `css` matches an element. */
const has = (css: string) => `return document.querySelector(${JSON.stringify(css)}) !== null;`;
/** A function body: the texts of the messages shown. */
const MESSAGE_TEXTS = `return [...document.querySelectorAll('#messages [data-kind="message"] .text')].map((e) => e.textContent);`;

describe.skipIf(!hasWebKit)('the demo apps in WebKitGTK', () => {
  let demo: DemoProcess | undefined;
  let xvfb: Awaited<ReturnType<typeof startXvfb>> | undefined;
  /** Two browsers, for two people. */
  let one: WebKitSession | undefined;
  let two: WebKitSession | undefined;

  /** Why WebKitGTK could not start here (installed, but no display or no session): the tests skip. */
  let unavailable: string | undefined;

  beforeAll(async () => {
    const browsers = (async () => {
      xvfb = await startXvfb();
      const started = await Promise.allSettled([startWebKit(xvfb.display), startWebKit(xvfb.display)]);
      const failed = started.find((r) => r.status === 'rejected');
      if (failed) {
        // End the one that did start before reporting why the other did not.
        for (const r of started) if (r.status === 'fulfilled') await r.value.quit();
        throw failed.reason;
      }
      [one, two] = started.map((r) => (r as PromiseFulfilledResult<WebKitSession>).value);
    })().catch((e: unknown) => {
      unavailable = (e as Error).message.split('\n')[0];
      console.warn(`SKIP apps WebKitGTK tests: WebKitGTK did not start: ${unavailable}`);
    });
    [demo] = await Promise.all([startDemo({ trace: true }), browsers]);
  }, 120_000);
  beforeEach((ctx) => {
    if (unavailable) ctx.skip();
  });

  afterAll(async () => {
    await Promise.all([one?.quit(), two?.quit()]);
    await xvfb?.stop();
    await demo?.stop();
  });

  async function joinChat(wk: WebKitSession, name: string, base: string): Promise<void> {
    await wk.go(new URL('/chat/', base).href);
    await wk.waitFor(has('#name'), 'the join form');
    await wk.type('#name', name);
    await wk.click('#join');
    await wk.waitFor(has('#state[data-state="open"]'), `${name} online`);
    await wk.waitFor(has(`#members [data-member="${name}"]`), `${name} in the member list`);
  }

  async function send(wk: WebKitSession, text: string): Promise<void> {
    await wk.type('#text', text);
    await wk.click('#send');
  }

  const showsMessage = (text: string) => `return [...document.querySelectorAll('#messages [data-kind="message"] .text')].some((e) => e.textContent === ${JSON.stringify(text)});`;

  it('chat: two people see each other, their messages and their typing; one subscription per topic on the wire', async () => {
    await joinChat(one!, 'anna', demo!.url);
    await joinChat(two!, 'ben', demo!.url);
    await one!.waitFor(has('#members [data-member="ben"]'), 'anna sees ben');
    await two!.waitFor(has('#members [data-member="anna"]'), 'ben sees anna');
    await one!.type('#text', 'Hello from <i>anna</i>');
    await two!.waitFor(`return document.querySelector('#typing').textContent.includes('anna is typing');`, 'ben sees anna typing');
    await one!.click('#send');
    await two!.waitFor(showsMessage('Hello from <i>anna</i>'), 'ben gets the message');
    expect(await two!.exec('return document.querySelectorAll("#messages i").length;')).toBe(0);
    await send(two!, 'hi anna');
    await one!.waitFor(showsMessage('hi anna'), 'anna gets the reply');

    for (const who of ['anna', 'ben']) {
      const [conn, ...more] = wireOf(demo!.trace(), who);
      expect(more, `${who}: one connection`).toEqual([]);
      expect(conn!.subscribed.sort(), who).toEqual(['chat:lobby', 'typing:lobby']);
      expect(conn!.frames, who).toMatchObject({ sub: 2, unsub: 0 });
    }
  }, 40_000);

  it('chat: a restarted server — reconnecting banner, then every message sent meanwhile arrives exactly once', async () => {
    // anna and ben are still in the lobby, from the test before.
    const port = demo!.port;
    expect(await demo!.stop()).toEqual({ code: 0, signal: null });
    for (const wk of [one!, two!]) await wk.waitFor(has('#banner[data-state="reconnecting"]'), 'the reconnecting banner');
    await send(one!, 'queued 1');
    await send(one!, 'queued 2');
    await send(two!, 'queued by ben');
    // The same port, a new process; the rest of the suite uses it.
    demo = await startDemo({ port, trace: true });
    for (const wk of [one!, two!]) {
      await wk.waitFor(has('#state[data-state="open"]'), 'online again', RECONNECT_TIMEOUT);
      await wk.waitFor('return !document.querySelector("#banner");', 'the banner gone');
    }
    await send(one!, 'marker');
    for (const wk of [one!, two!]) {
      await wk.waitFor(showsMessage('marker'), 'the marker');
      const texts = await wk.exec<string[]>(MESSAGE_TEXTS);
      for (const t of ['hi anna', 'queued 1', 'queued 2', 'queued by ben', 'marker']) expect(texts.filter((x) => x === t), t).toHaveLength(1);
      expect(texts.indexOf('queued 1')).toBeLessThan(texts.indexOf('queued 2'));
    }
  }, 60_000);

  it('dashboard: the charts receive points at the chosen rate, from one stream per rate', async () => {
    await one!.go(new URL('/dashboard/', demo!.url).href);
    await one!.waitFor(`return Number(document.querySelector('#dashboard')?.dataset.received) >= 3;`, 'the first points');
    await one!.click('#rate option[value="100"]');
    await one!.waitFor(has('#dashboard[data-interval-ms="10"]'), 'the rate changed');
    await one!.waitFor(`const d = document.querySelector('#dashboard').dataset; return Number(d.seqLast) >= 100 && d.seqFirst === '0';`, '100 points at 100/s', 15_000);
    const d = await one!.exec<Record<string, string>>(`return { ...document.querySelector('#dashboard').dataset };`);
    const [count, seqFirst, seqLast, tFirst, tLast] = [d.windowCount, d.seqFirst, d.seqLast, d.tFirst, d.tLast].map(Number);
    expect(count).toBe(seqLast! - seqFirst! + 1);
    const spacing = (tLast! - tFirst!) / (seqLast! - seqFirst!);
    expect(spacing).toBeGreaterThan(5);
    expect(spacing).toBeLessThan(20);
    await one!.waitFor(`return Number(document.querySelector('#chart-loop .plot').dataset.points) >= 80;`, 'the chart drew them');
    const [conn, ...more] = wireOf(demo!.trace(), 'dashboard');
    expect(more).toEqual([]);
    expect(conn!.frames).toMatchObject({ stream: 2, cancel: 1, sub: 0 });
  }, 40_000);

  it('notifications: each user sees only their own; the server subscribed each only to their inbox', async () => {
    const signIn = async (wk: WebKitSession, user: string) => {
      await wk.go(new URL('/notifications/', demo!.url).href);
      await wk.waitFor(has(`[data-user="${user}"]`), 'the user list');
      await wk.click(`[data-user="${user}"]`);
      await wk.waitFor(has('#state[data-state="open"]'), `${user} online`);
      await wk.waitFor(has('#unread[data-count="0"]'), `${user}'s empty inbox`);
    };
    await signIn(one!, 'carol');
    await signIn(two!, 'dave');
    const secret = `for dave only ${Math.random().toString(36).slice(2)}`;
    await one!.click('#to option[value="dave"]');
    await one!.type('#title', secret);
    await one!.click('#send');
    await two!.waitFor(`return [...document.querySelectorAll('#notifications li')].some((li) => li.textContent.includes(${JSON.stringify(secret)}));`, 'dave gets it');
    await two!.waitFor(has('#unread[data-count="1"]'), 'dave has one unread');
    await two!.waitFor(has('.toast'), 'a toast');
    await two!.click('#notifications li[data-unread] button.mark');
    await two!.waitFor(has('#unread[data-count="0"]'), 'read');
    expect(await one!.exec(`return document.body.textContent.includes(${JSON.stringify(secret)});`)).toBe(false);
    expect(await one!.text('#unread')).toBe('0');
    for (const who of ['carol', 'dave']) {
      const conns = wireOf(demo!.trace(), who).filter((c) => c.subscribed.some((t) => t.startsWith('inbox:')));
      expect(conns, who).toHaveLength(1);
      expect(conns[0]!.subscribed, who).toEqual([`inbox:${who}`]);
      expect(conns[0]!.frames, who).toMatchObject({ sub: 1, unsub: 0 });
    }
  }, 40_000);
});
