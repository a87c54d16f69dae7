/**
 * WebKitGTK — the engine of Tauri's webview on Linux, a cousin of Safari's — driven through
 * Debian's `WebKitWebDriver` (package webkit2gtk-driver): W3C WebDriver over HTTP, spoken here with
 * plain `fetch`, one session per driver process, each driving a `MiniBrowser --automation` on a
 * private Xvfb display. Nothing is downloaded; without the driver, MiniBrowser or Xvfb a suite
 * skips, saying why.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { within } from './helpers.js';
import { freePort } from './processes.js';

export const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER_PATH ?? '/usr/bin/WebKitWebDriver';
export const XVFB = process.env.XVFB_PATH ?? '/usr/bin/Xvfb';

/** Debian installs MiniBrowser under the multiarch library folder of its WebKitGTK API version. */
function findMiniBrowser(): string | undefined {
  if (process.env.MINIBROWSER_PATH) return process.env.MINIBROWSER_PATH;
  for (const arch of readdirSync('/usr/lib').filter((d) => d.endsWith('-linux-gnu'))) {
    for (const api of ['webkit2gtk-4.1', 'webkitgtk-6.0', 'webkit2gtk-4.0']) {
      const p = `/usr/lib/${arch}/${api}/MiniBrowser`;
      if (existsSync(p)) return p;
    }
  }
  return undefined;
}
export const MINIBROWSER = findMiniBrowser();

/** Whether WebKitGTK can be driven here; prints the reason a suite named `suite` skips when not. */
export function webkitFor(suite: string): boolean {
  const missing = [
    !existsSync(WEBKIT_DRIVER) && `no WebKitWebDriver at ${WEBKIT_DRIVER}`,
    !MINIBROWSER && 'no MiniBrowser under /usr/lib/*-linux-gnu/webkit2gtk-4.1/',
    !existsSync(XVFB) && `no Xvfb at ${XVFB}`,
  ].filter(Boolean);
  if (missing.length > 0) console.warn(`SKIP ${suite}: ${missing.join(', ')} (apt-get install webkit2gtk-driver xvfb)`);
  return missing.length === 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves when `child` has exited (at once if it already has). */
function exitOf(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

/** Ends a process this module started, by its handle; SIGKILL if SIGTERM is not enough. */
async function end(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  try {
    await within(exitOf(child), 'a helper process to exit', 5_000);
  } catch {
    child.kill('SIGKILL');
  }
}

/** An Xvfb on a display number nobody uses; `stop()` ends it. */
export async function startXvfb(): Promise<{ display: string; stop(): Promise<void> }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const n = 100 + Math.floor(Math.random() * 400);
    if (existsSync(`/tmp/.X${n}-lock`) || existsSync(`/tmp/.X11-unix/X${n}`)) continue;
    const child = spawn(XVFB, [`:${n}`, '-screen', '0', '1280x800x24', '-nolisten', 'tcp'], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    while (!existsSync(`/tmp/.X11-unix/X${n}`) && child.exitCode === null && Date.now() < deadline) await sleep(50);
    if (existsSync(`/tmp/.X11-unix/X${n}`) && child.exitCode === null) return { display: `:${n}`, stop: () => end(child) };
    await end(child); // lost a race for that number, or too slow: another one
  }
  throw new Error('could not start Xvfb on a free display');
}

/** The W3C name of an element reference. */
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

/** One WebDriver session on its own driver process. */
export interface WebKitSession {
  /** Loads `url` and waits for the page to load. */
  go(url: string): Promise<void>;
  /** Runs `script` (a function body; `arguments` are `args`) in the page and returns its value. */
  exec<T = unknown>(script: string, ...args: unknown[]): Promise<T>;
  /** Polls `script` (a function body returning truthy when done) until it holds; rejects after `timeoutMs` (default 10 s) with `what`. */
  waitFor(script: string, what: string, timeoutMs?: number): Promise<void>;
  /** Clicks the first element matching `css`, as a user would (WebDriver Element Click). */
  click(css: string): Promise<void>;
  /** Types `text` into the element matching `css` (WebDriver Element Send Keys: real key events). */
  type(css: string, text: string): Promise<void>;
  /** The text of the first element matching `css` (`undefined` when none). */
  text(css: string): Promise<string | undefined>;
  /** Saves a PNG of the viewport. */
  screenshot(path: string): Promise<void>;
  /** Ends the session and its driver (and browser). */
  quit(): Promise<void>;
}

/**
 * Starts a WebKitWebDriver on `display` and opens one session in MiniBrowser. The browser runs
 * with an `en_US.UTF-8` locale: MiniBrowser reports the process locale as `navigator.language`,
 * and under `LANG=C` that is `"C"`, which `Intl` rejects (uPlot formats numbers with it); a real
 * desktop session never has it.
 */
export async function startWebKit(display: string): Promise<WebKitSession> {
  const port = await freePort();
  const driver = spawn(WEBKIT_DRIVER, [`--port=${port}`], {
    env: { ...process.env, DISPLAY: display, LANG: 'en_US.UTF-8', LC_ALL: 'en_US.UTF-8' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let driverErr = '';
  driver.stderr!.setEncoding('utf8').on('data', (d: string) => (driverErr = (driverErr + d).slice(-2_000)));
  const base = `http://127.0.0.1:${port}`;

  async function wd<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(base + path, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(60_000),
    });
    const json = (await res.json()) as { value: T & { error?: string; message?: string } };
    if (!res.ok) throw new Error(`WebDriver ${method} ${path}: ${json.value?.error ?? res.status}: ${json.value?.message ?? ''}`);
    return json.value;
  }

  let id: string;
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await wd('GET', '/status');
        break;
      } catch (e) {
        if (Date.now() > deadline || driver.exitCode !== null) throw new Error(`WebKitWebDriver did not answer: ${(e as Error).message}\n${driverErr}`);
        await sleep(100);
      }
    }
    const session = await wd<{ sessionId: string }>('POST', '/session', {
      capabilities: { alwaysMatch: { 'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation'] } } },
    });
    id = session.sessionId;
  } catch (e) {
    await end(driver);
    throw e;
  }
  const s = `/session/${id}`;

  async function find(css: string): Promise<string> {
    const el = await wd<Record<string, string>>('POST', `${s}/element`, { using: 'css selector', value: css });
    return el[ELEMENT]!;
  }
  const exec = <T>(script: string, ...args: unknown[]) => wd<T>('POST', `${s}/execute/sync`, { script, args });

  return {
    go: async (url) => void (await wd('POST', `${s}/url`, { url })),
    exec,
    async waitFor(script, what, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!(await exec<unknown>(script))) {
        if (Date.now() > deadline) {
          // Where the page was and what its connection pill said: enough to tell a slow machine from a stuck page.
          const where = await exec<string>(`return location.href + ' (state: ' + (document.querySelector('#state')?.textContent ?? 'none') + ')';`).catch(() => 'unknown');
          throw new Error(`timed out after ${timeoutMs} ms waiting in WebKit for: ${what}, on ${where}`);
        }
        await sleep(50);
      }
    },
    click: async (css) => void (await wd('POST', `${s}/element/${await find(css)}/click`, {})),
    type: async (css, text) => void (await wd('POST', `${s}/element/${await find(css)}/value`, { text })),
    text: (css) => exec<string | undefined>('const el = document.querySelector(arguments[0]); return el ? el.textContent : undefined;', css),
    async screenshot(path) {
      writeFileSync(path, Buffer.from(await wd<string>('GET', `${s}/screenshot`), 'base64'));
    },
    async quit() {
      await wd('DELETE', s).catch(() => {});
      await end(driver);
    },
  };
}
