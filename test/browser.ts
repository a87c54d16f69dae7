/**
 * The real browser of the browser suites: Debian's `chromium` (or `CHROMIUM_PATH`), driven by
 * playwright-core and never downloaded. Without one a suite skips, saying so.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

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
