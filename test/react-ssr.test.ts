/**
 * switchboard/react under server rendering (react-dom/server in Node): every hook renders its idle
 * state and nothing connects — no WebSocket is constructed. With React 19, and with React 18 and
 * react-dom 18 (test/fixtures/react18, beside the repository's React 19): the same page bundled by
 * esbuild and loaded from beside their node_modules. Also the misuses a newcomer meets first: a hook outside the provider,
 * a provider with neither `url` nor `client` (docs/react.md).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { afterAll, describe, expect, it } from 'vitest';
import type { WebSocketConstructor } from '../src/client/index.js';
import { SwitchboardError } from '../src/protocol/errors.js';
import { SwitchboardProvider, NO_PROVIDER, usePresence, useStream, useSubscription, useCall, useServerEvent } from '../src/react/index.js';
import * as app19 from './fixtures/react-ssr-app.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REACT18 = resolve(root, 'test/fixtures/react18/node_modules');

/** A WebSocket constructor that counts the sockets anyone tried to open. */
function countingWebSocket(): { WebSocket: WebSocketConstructor; made: () => number } {
  let made = 0;
  const WebSocket = function () {
    made++;
    throw new Error('server rendering must not open a socket');
  } as unknown as WebSocketConstructor;
  return { WebSocket, made: () => made };
}

/** Folders this file made, removed after it. */
const made: string[] = [];
afterAll(() => made.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

let bundled18: Promise<typeof app19> | undefined;
/** The SSR page bundled against React 18 and react-dom 18, loaded as a module (once). */
const app18 = () => (bundled18 ??= bundle18());

async function bundle18(): Promise<typeof app19> {
  // Written beside React 18's node_modules, with every package left external: its `react` and
  // `react-dom` are the fixture's, and only the bindings and the page are bundled.
  const dir = mkdtempSync(join(REACT18, '..', '.ssr-'));
  made.push(dir);
  const out = join(dir, 'page.mjs');
  await build({
    entryPoints: [resolve(root, 'test/fixtures/react-ssr-app.ts')],
    bundle: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outfile: out,
    logLevel: 'silent',
  });
  return (await import(pathToFileURL(out).href)) as typeof app19;
}

describe('server rendering', () => {
  for (const [label, load, major] of [
    ['React 19', async () => app19, '19'],
    ['React 18', app18, '18'],
  ] as const) {
    it(`renders every hook's idle state and opens no socket (${label})`, async () => {
      const app = await load();
      const ws = countingWebSocket();
      const html = app.render('ws://127.0.0.1:9/ws', ws.WebSocket);
      expect(html).toContain('client=none state=connecting attempt=0 ready=false messages=0 members=0 items=0 pending=false');
      expect(ws.made()).toBe(0);
      // The bundle really runs the React it claims.
      expect(app.reactVersion.split('.')[0]).toBe(major);
    });

    it(`a hook outside <SwitchboardProvider> throws NO_PROVIDER, saying what to do (${label})`, async () => {
      const app = await load();
      const err = app.renderOutside() as SwitchboardError;
      expect(err).toBeInstanceOf(Error);
      expect(err.code).toBe(NO_PROVIDER);
      expect(err.message).toMatch(/useClient\(\) was called outside <SwitchboardProvider>: wrap your app/);
    });
  }

  it('a bad hook option throws a TypeError naming it', () => {
    const renderHook = (hook: () => unknown) =>
      renderToString(createElement(SwitchboardProvider, { url: 'ws://127.0.0.1:9/ws' }, createElement(() => (hook(), null))));
    expect(() => renderHook(() => useStream('ticks', undefined, { window: 0 }))).toThrow('useStream window must be a positive integer, got 0');
    expect(() => renderHook(() => useSubscription('room:a', { buffer: -1 }))).toThrow('useSubscription buffer must be a non-negative integer, got -1');
    expect(() => renderHook(() => useSubscription('room:a', { history: 1.5 }))).toThrow('useSubscription history must be an integer from 1 to 2147483647, got 1.5');
    expect(() => renderHook(() => useSubscription('room:a', { enabled: 'no' as never }))).toThrow('useSubscription enabled must be true or false, got "no"');
    expect(() => renderHook(() => usePresence(''))).toThrow('usePresence topic must be a non-empty string (pass enabled: false while it is not known), got ""');
    expect(() => renderHook(() => useCall(''))).toThrow('useCall name must be a non-empty string, got ""');
    expect(() => renderHook(() => useServerEvent('', () => {}))).toThrow('useServerEvent name must be a non-empty string, got ""');
    // A topic not known yet, with enabled: false, renders.
    expect(() => renderHook(() => useSubscription('', { enabled: false }))).not.toThrow();
  });

  it('a provider with neither url nor client, or both, throws a TypeError saying which to give', () => {
    expect(() => renderToString(createElement(SwitchboardProvider, {} as never))).toThrow(/needs a url .* or a client/);
    expect(() => renderToString(createElement(SwitchboardProvider, { url: 'ws://x/ws', client: {} } as never))).toThrow(/takes a url or a client, not both/);
    expect(new SwitchboardError(NO_PROVIDER, 'x').code).toBe('NO_PROVIDER');
  });
});
