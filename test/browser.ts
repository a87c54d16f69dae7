/**
 * The real browser of the browser suites: Debian's `chromium` (or `CHROMIUM_PATH`), driven by
 * playwright-core and never downloaded. Without one a suite skips, saying so.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { BRIDGE_HOST_PAGE, startStatic } from './bridge-fixtures.js';
import { within } from './helpers.js';

/** Where the browser is. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Whether a browser is there; prints the reason a suite named `suite` skips when it is not. */
export function chromiumFor(suite: string): boolean {
  const has = existsSync(CHROMIUM_PATH);
  if (!has) console.warn(`SKIP ${suite}: no chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH)`);
  return has;
}

/**
 * Starts headless Chromium as root can run it here, without the background services that would
 * try to reach the network (this machine has none but loopback).
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 15_000,
  });
}

/**
 * The browser and the two sites of a bridge suite: a host site serving {@link BRIDGE_HOST_PAGE} at
 * `/host.html` and, on another origin, a guest site serving `guest` to sandboxed iframes. Registers the suite's hooks: the sites and the browser live for the file, a context for
 * one test, and a test fails on any uncaught exception in its pages or frames.
 */
export function bridgeSites(guest: Record<string, string>) {
  let browser: Browser | undefined;
  let hostSite: Awaited<ReturnType<typeof startStatic>> | undefined;
  let guestSite: Awaited<ReturnType<typeof startStatic>> | undefined;
  let context: BrowserContext | undefined;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    hostSite = await startStatic({ '/host.html': BRIDGE_HOST_PAGE });
    guestSite = await startStatic(guest, { cors: true });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await within(browser?.close() ?? Promise.resolve(), 'the browser to close', 10_000).catch((e: unknown) => console.warn(e));
    await hostSite?.close();
    await guestSite?.close();
  });
  afterEach(async () => {
    await context?.close();
    context = undefined;
    expect(pageErrors.splice(0)).toEqual([]);
  });

  return {
    /** The guest site's origin (another port than the host's). */
    guestOrigin: () => guestSite!.origin,
    /** The host page, loaded in a fresh context that is closed after the test. */
    async hostPage(): Promise<Page> {
      context = await browser!.newContext();
      const page = await context.newPage();
      page.on('pageerror', (e) => pageErrors.push(e.message));
      await page.goto(`${hostSite!.origin}/host.html`, { timeout: 10_000 });
      await page.waitForFunction(() => (window as { pageReady?: boolean }).pageReady === true, undefined, { timeout: 10_000 });
      return page;
    },
  };
}
