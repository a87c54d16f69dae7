/**
 * The iframe bridge (docs/bridge.md) in a real Chromium: a host page on one origin embeds a sandboxed
 * iframe (`sandbox="allow-scripts"`, opaque origin) served from another, and the iframe reaches an
 * echo server on 127.0.0.1 only through the host. Runs the built ESM from dist/ (`npm test`
 * builds first). Uses Debian's `chromium` (or `CHROMIUM_PATH`) and never downloads a browser:
 * without one the suite is skipped, with the reason printed.
 */
import type { Frame, Page } from 'playwright-core';
import { bridgeSites, chromiumFor } from './browser.js';
import { afterEach, describe, expect, it } from 'vitest';
import type * as Bridge from '../src/bridge/index.js';
import { createEgressRelay, type EgressRelay } from '../src/bridge/node.js';
import { silentLogger } from '../src/shared/logger.js';
import { PAGE_WAIT_FOR, startEcho, type Echo } from './bridge-fixtures.js';
import { guardUnhandledRejections, until } from './helpers.js';

const hasChromium = chromiumFor('bridge browser tests');

guardUnhandledRejections();

/** What pages expose to the test (declared for the functions passed to `evaluate`). */
type Logged = (string | number | { bytes: number[] })[];
declare global {
  interface Window {
    bridge: typeof Bridge;
    host: Bridge.ResourceHost;
    pageReady: boolean;
    /** Every message the page received: [came from its parent, data as JSON]. */
    received: [boolean, string][];
    track(conn: Bridge.WsConnection | Bridge.RetryingConnection): Logged[];
    waitFor<T>(pred: () => T, what: string, ms?: number): Promise<T>;
    post(msg: unknown): void;
    forge(target: 'parent' | number, msgs: unknown[]): number;
    fromHostile: number;
    conn: Bridge.WsConnection;
    log: Logged[];
    rp: Bridge.ResourceClient;
  }
}

/** Records every message the page receives, before any SDK sees it. */
const RECORDER = `<script>
window.received = [];
addEventListener('message', (e) => {
  received.push([e.source === parent, JSON.stringify(e.data, (k, v) => (v instanceof ArrayBuffer || ArrayBuffer.isView(v) ? { bytes: Array.from(new Uint8Array(v.buffer ?? v)) } : v))]);
});
${PAGE_WAIT_FOR}
</script>`;

const GUEST_PAGE = `<!doctype html><meta charset="utf-8"><title>guest</title><body><p id="status">guest</p>
${RECORDER}
<script type="module">
import * as bridge from '/dist/bridge/index.js';
window.bridge = bridge;
window.track = (conn) => {
  const log = [];
  const enc = (d) => (typeof d === 'string' ? d : { bytes: Array.from(new Uint8Array(d)) });
  conn.on('open', () => log.push(['open', conn.protocol ?? conn.current?.protocol ?? '']));
  conn.on('message', (d) => log.push(['message', enc(d)]));
  conn.on('error', (m, e) => log.push(['error', e.code]));
  conn.on('close', (c, r) => log.push(['close', c, r]));
  return log;
};
window.pageReady = true;
</script>`;

/** A guest that uses no SDK at all: the RightPlace document's raw postMessage protocol (docs/bridge.md). */
const RAW_PAGE = `<!doctype html><meta charset="utf-8"><title>raw</title><body>
${RECORDER}
<script>
window.post = (m) => window.parent.postMessage(m, '*');
window.pageReady = true;
</script>`;

/** Another sandboxed frame on the page, which forges bridge messages. */
const HOSTILE_PAGE = `<!doctype html><meta charset="utf-8"><title>hostile</title><body>
${RECORDER}
<script>
window.forge = (target, msgs) => {
  const w = target === 'parent' ? parent : parent.frames[target];
  for (const m of msgs) w.postMessage(m, '*');
  return msgs.length;
};
window.pageReady = true;
</script>`;

/** Options of the host, as far as they can cross `evaluate` (no iframe). */
type HostOptions = Omit<Bridge.ResourceHostOptions, 'iframe'>;

describe.skipIf(!hasChromium)('iframe bridge in a real browser', () => {
  const sites = bridgeSites({ '/guest.html': GUEST_PAGE, '/raw.html': RAW_PAGE, '/hostile.html': HOSTILE_PAGE });
  let echo: Echo;
  let relay: EgressRelay | undefined;

  afterEach(async () => {
    await relay?.close();
    relay = undefined;
    await echo?.close();
  });

  const policy = { allow: ['ws://127.0.0.1:*'] };
  const withWs = { id: 'com.example.test', capabilities: ['network:ws'] };

  /** A host page embedding the guest page `path` (sandboxed, other origin) under `options`. */
  async function open(options: HostOptions, path = '/guest.html', hostile = false, shadow = false): Promise<{ page: Page; guest: Frame; hostileFrame?: Frame }> {
    echo = await startEcho();
    const page = await sites.hostPage();
    const src = `${sites.guestOrigin()}${path}`;
    const hostileSrc = `${sites.guestOrigin()}/hostile.html`;
    await page.evaluate(
      ({ src, hostileSrc, options, shadow }) => {
        const iframe = document.createElement('iframe');
        iframe.id = 'guest';
        iframe.setAttribute('sandbox', 'allow-scripts');
        iframe.src = src;
        if (shadow) {
          // Inside a shadow root, where the document's MutationObserver does not look.
          const holder = document.createElement('div');
          holder.attachShadow({ mode: 'open' }).append(iframe);
          document.body.append(holder);
          (window as unknown as { shadowFrame: HTMLIFrameElement }).shadowFrame = iframe;
        } else {
          document.body.append(iframe);
        }
        window.host = window.bridge.createResourceHost({ ...options, iframe });
        if (hostileSrc) {
          const other = document.createElement('iframe');
          other.id = 'hostile';
          other.setAttribute('sandbox', 'allow-scripts');
          other.src = hostileSrc;
          document.body.append(other);
          // Registered after the host's listener: when this one saw a message, the host handled it.
          window.fromHostile = 0;
          addEventListener('message', (e) => {
            if (e.source === other.contentWindow) window.fromHostile++;
          });
        }
      },
      { src, hostileSrc: hostile ? hostileSrc : '', options, shadow },
    );
    const frameAt = async (url: string) => {
      await until(() => page.frames().some((f) => f.url() === url), `frame ${url}`, 10_000);
      const frame = page.frames().find((f) => f.url() === url)!;
      await frame.waitForFunction(() => window.pageReady === true, undefined, { timeout: 10_000 });
      return frame;
    };
    const guest = await frameAt(src);
    return hostile ? { page, guest, hostileFrame: await frameAt(hostileSrc) } : { page, guest };
  }

  it('relays text and binary both ways, in order, through the SDK', async () => {
    const { page, guest } = await open({ manifest: withWs, policy });
    const log = await guest.evaluate(async (url) => {
      const rp = window.bridge.createResourceClient();
      const info = await rp.ready();
      if (info.version !== 1 || !info.capabilities.includes('network:ws')) throw new Error('bad ready result');
      const ws = rp.ws.connect(url, { protocols: ['echo-v1'] });
      const log = window.track(ws);
      ws.on('open', () => {
        for (let i = 0; i < 20; i++) ws.send(i % 2 === 0 ? `text ${i} ✓` : new Uint8Array([i, 0, 255]));
        ws.send(new Uint8Array([9, 8, 7]).buffer);
      });
      await window.waitFor(() => log.length === 22, '21 echoes');
      ws.close(1000, 'done');
      await window.waitFor(() => log.length === 23, 'the close');
      return log;
    }, echo.url);
    const expected: Logged[] = [['open', 'echo-v1']];
    for (let i = 0; i < 20; i++) expected.push(['message', i % 2 === 0 ? `text ${i} ✓` : { bytes: [i, 0, 255] }]);
    expected.push(['message', { bytes: [9, 8, 7] }], ['close', 1000, 'done']);
    expect(log).toEqual(expected);
    // What the server received, in order and with the right kind.
    expect(echo.connections).toHaveLength(1);
    const got = echo.connections[0]!;
    expect(got.protocol).toBe('echo-v1');
    expect(got.messages.map((m) => (m.binary ? [...m.data] : m.data.toString()))).toEqual(
      expected.slice(1, 22).map((e) => (typeof e[1] === 'string' ? e[1] : (e[1] as { bytes: number[] }).bytes)),
    );
    await until(() => got.closed !== undefined, 'the server to see the close');
    expect(got.closed).toEqual({ code: 1000, reason: 'done' });
    expect(await page.evaluate(() => window.host.connections)).toBe(0);
  });

  it('refuses every ws method of a manifest without network:ws with CAPABILITY_DENIED, and headers without egress', async () => {
    const { guest } = await open({ manifest: { id: 'x', capabilities: ['storage'] }, policy });
    const result = await guest.evaluate(async (url) => {
      const rp = window.bridge.createResourceClient();
      const info = await rp.ready();
      const ws = rp.ws.connect(url);
      const log = window.track(ws);
      const opened = await ws.opened.then(() => 'opened', (e: Bridge.BridgeError) => e.code);
      await window.waitFor(() => log.some((e) => e[0] === 'close'), 'close');
      const send = await rp.request('ws.send', { connectionId: ws.id, data: 'x' }).catch((e: Bridge.BridgeError) => e.code);
      const creds = await rp.credentials.get('token').catch((e: Bridge.BridgeError) => e.code);
      return { capabilities: info.capabilities, egress: info.egress, log, opened, state: ws.state, send, creds };
    }, echo.url);
    expect(result).toEqual({
      capabilities: ['storage'],
      egress: false,
      log: [
        ['error', 'CAPABILITY_DENIED'],
        ['close', 1006, ''],
      ],
      opened: 'CAPABILITY_DENIED',
      state: 'closed',
      send: 'CAPABILITY_DENIED',
      creds: 'EGRESS_REQUIRED',
    });
    expect(echo.connections).toHaveLength(0);
  });

  it('refuses URLs outside the policy with URL_NOT_ALLOWED (plain ws:// only where allowed), and retries none of them', async () => {
    // wss to any port of 127.0.0.1, plain ws only to port 1: the echo server's ws:// is refused.
    const { guest } = await open({ manifest: withWs, policy: { allow: ['wss://127.0.0.1:*', 'ws://127.0.0.1:1'] } });
    const result = await guest.evaluate(async (url) => {
      const rp = window.bridge.createResourceClient();
      await rp.ready();
      const codes: string[] = [];
      for (const u of [url, url.replace('ws:', 'http:'), url.replace('127.0.0.1', 'localhost'), 'not a url', url + '#frag']) {
        const ws = rp.ws.connect(u);
        codes.push(await ws.opened.then(() => 'opened', (e: Bridge.BridgeError) => e.code));
      }
      // With headers too (the URL is checked first), and through the retry helper: no retry.
      codes.push(await rp.ws.connect(url, { headers: { 'X-A': '1' } }).opened.catch((e: Bridge.BridgeError) => e.code) as string);
      const feed = window.bridge.connectWithRetry(rp, url, { initialDelayMs: 1, maxDelayMs: 2 });
      const log = window.track(feed);
      let retries = 0;
      feed.on('retry', () => retries++);
      await window.waitFor(() => feed.ended, 'the retry helper to end');
      return { codes, log, retries };
    }, echo.url);
    expect(result.codes).toEqual(Array(6).fill('URL_NOT_ALLOWED'));
    expect(result.log).toEqual([
      ['error', 'URL_NOT_ALLOWED'],
      ['close', 1006, ''],
    ]);
    expect(result.retries).toBe(0);
    expect(echo.connections).toHaveLength(0);
  });

  it('caps connections, buffered bytes and message size per resource with LIMIT_EXCEEDED / PAYLOAD_TOO_LARGE', async () => {
    const { page, guest } = await open({ manifest: withWs, policy, limits: { maxConnections: 2, maxBufferedBytes: 64, maxMessageBytes: 1_024 } });
    const result = await guest.evaluate(async (url) => {
      const rp = window.bridge.createResourceClient();
      await rp.ready();
      const a = rp.ws.connect(url);
      const b = rp.ws.connect(url);
      await Promise.all([a.opened, b.opened]);
      const third = rp.ws.connect(url);
      const thirdLog = window.track(third);
      await window.waitFor(() => third.state === 'closed', 'the third connection to be refused');
      const aLog = window.track(a);
      a.send('x'.repeat(100)); // over the 64 buffered bytes
      a.send('y'.repeat(2_000)); // over the 1 KiB message size
      a.send('fits');
      await window.waitFor(() => aLog.length === 3, 'two refusals and one echo');
      // A closed connection frees its slot.
      b.close();
      await window.waitFor(() => b.state === 'closed', 'b to close');
      const big = rp.ws.connect(url.replace('/echo', '/big'));
      const bigLog = window.track(big);
      await window.waitFor(() => big.state === 'closed', 'the oversized message to close big');
      return { thirdLog, aLog, bigLog, aState: a.state };
    }, echo.url);
    expect(result.thirdLog).toEqual([
      ['error', 'LIMIT_EXCEEDED'],
      ['close', 1006, ''],
    ]);
    expect(result.aLog).toEqual([
      ['error', 'LIMIT_EXCEEDED'],
      ['error', 'PAYLOAD_TOO_LARGE'],
      ['message', 'fits'],
    ]);
    expect(result.aState).toBe('open');
    expect(result.bigLog).toEqual([
      ['open', ''],
      ['error', 'PAYLOAD_TOO_LARGE'],
      ['close', 1009, 'message too big'],
    ]);
    // The refused connection never reached the server; the refused sends neither.
    expect(echo.connections.map((c) => c.path)).toEqual(['/echo', '/echo', '/big']);
    expect(echo.connections[0]!.messages.map((m) => m.data.toString())).toEqual(['fits']);
    await until(() => echo.connections[2]!.closed !== undefined, 'the server to see big closed');
    expect(echo.connections[2]!.closed).toEqual({ code: 1000, reason: 'message too big' });
    expect(await page.evaluate(() => window.host.connections)).toBe(1);
  });

  it.each([
    ['in the document', false],
    ['in a shadow root', true],
  ])('closes the upstream socket when the iframe is removed (%s)', async (_where, shadow) => {
    const { page, guest } = await open({ manifest: withWs, policy }, '/guest.html', false, shadow);
    await guest.evaluate(async (url) => {
      const rp = window.bridge.createResourceClient();
      window.conn = rp.ws.connect(url);
      await window.conn.opened;
    }, echo.url);
    await until(() => echo.connections.length === 1, 'the server to see the connection');
    expect(echo.connections[0]!.closed).toBeUndefined();
    await page.evaluate(() => (document.getElementById('guest') ?? (window as unknown as { shadowFrame: HTMLIFrameElement }).shadowFrame).remove());
    await until(() => echo.connections[0]!.closed !== undefined, 'the server to see the socket closed');
    expect(echo.connections[0]!.closed).toEqual({ code: 1000, reason: 'host disposed' });
    expect(await page.evaluate(() => ({ disposed: window.host.disposed, connections: window.host.connections }))).toEqual({ disposed: true, connections: 0 });
  });

  it('dispose() closes every socket, tells the guest (1001), and refuses later requests with DISPOSED', async () => {
    const { page, guest } = await open({ manifest: withWs, policy });
    await guest.evaluate(async (url) => {
      window.rp = window.bridge.createResourceClient();
      window.conn = window.rp.ws.connect(url);
      window.log = window.track(window.conn);
      await window.conn.opened;
    }, echo.url);
    await page.evaluate(() => window.host.dispose());
    await until(() => echo.connections[0]?.closed !== undefined, 'the server to see the socket closed');
    const result = await guest.evaluate(async (url) => {
      await window.waitFor(() => window.conn.state === 'closed', 'the guest to hear the close');
      const again = await window.rp.ws.connect(url).opened.catch((e: Bridge.BridgeError) => e.code);
      const ready = await window.rp.request('ready').catch((e: Bridge.BridgeError) => e.code);
      return { log: window.log, again, ready };
    }, echo.url);
    expect(result).toEqual({ log: [['open', ''], ['close', 1001, 'host disposed']], again: 'DISPOSED', ready: 'DISPOSED' });
    expect(echo.connections).toHaveLength(1);
  });

  it('sends headers through the egress relay; the credential reaches the upstream and never the iframe', async () => {
    const SECRET = 'S3CRET-never-in-the-iframe';
    const HOST_TOKEN = 'host-session-token';
    const echoServer = await startEcho(); // the one open() starts is replaced below; this one is the upstream
    try {
      relay = createEgressRelay({
        port: 0,
        host: '127.0.0.1',
        allow: [`ws://127.0.0.1:${echoServer.port}`],
        authenticate: (_req, token) => (token === HOST_TOKEN ? { user: 'alice' } : null),
        credentials: {
          'chat-token': { urls: [`ws://127.0.0.1:${echoServer.port}/echo`], value: ({ identity }) => `${SECRET}-${identity.user}` },
          // The relay would inject this one, but the host does not grant it to the resource.
          other: { urls: [`ws://127.0.0.1:${echoServer.port}/echo`], value: 'OTHER-SECRET' },
        },
        logger: silentLogger,
      });
      const { port } = await relay.listen();
      const { guest } = await open({
        manifest: withWs,
        policy,
        egress: { url: `ws://127.0.0.1:${port}/bridge/egress`, token: HOST_TOKEN },
        credentials: ['chat-token'],
      });
      const result = await guest.evaluate(
        async ({ url, other }) => {
          const rp = window.bridge.createResourceClient();
          const info = await rp.ready();
          // As in the RightPlace document: `Bearer ${token}`. The token is a reference, not the secret.
          const token = await rp.credentials.get('chat-token');
          const ws = rp.ws.connect(url, { headers: { Authorization: `Bearer ${token}`, 'X-Resource': 'test' }, protocols: ['chat-v2'] });
          const log = window.track(ws);
          await ws.opened;
          ws.send('hello');
          ws.send(new Uint8Array([1, 2, 3]));
          await window.waitFor(() => log.length === 3, 'two echoes');
          ws.close(4001, 'bye');
          await window.waitFor(() => ws.state === 'closed', 'the close');
          // Refusals: a credential not granted by the host, a URL the relay does not allow.
          const notGranted = await rp.credentials.get('other').catch((e: Bridge.BridgeError) => e.code);
          const forged = await rp.ws.connect(url, { headers: { Authorization: '{{rp.credential:other}}' } }).opened.catch((e: Bridge.BridgeError) => e.code);
          const elsewhere = await rp.ws.connect(other, { headers: { 'X-A': '1' } }).opened.catch((e: Bridge.BridgeError) => e.code);
          return { egress: info.egress, token, log, notGranted, forged, elsewhere, dom: document.documentElement.outerHTML, received: window.received };
        },
        { url: echoServer.url, other: echo.url },
      );
      expect(result.egress).toBe(true);
      expect(result.token).toBe('{{rp.credential:chat-token}}');
      expect(result.log).toEqual([
        ['open', 'chat-v2'],
        ['message', 'hello'],
        ['message', { bytes: [1, 2, 3] }],
        ['close', 4001, 'bye'],
      ]);
      expect(result.notGranted).toBe('CREDENTIAL_DENIED');
      expect(result.forged).toBe('CREDENTIAL_DENIED');
      expect(result.elsewhere).toBe('URL_NOT_ALLOWED'); // the relay's own allowlist
      // The upstream got the headers, with the secret the relay injected; nothing with the other one.
      expect(echoServer.connections).toHaveLength(1);
      const up = echoServer.connections[0]!;
      expect(up.headers.authorization).toBe(`Bearer ${SECRET}-alice`);
      expect(up.headers['x-resource']).toBe('test');
      expect(up.protocol).toBe('chat-v2');
      expect(up.messages.map((m) => [m.binary, [...m.data]])).toEqual([
        [false, [...Buffer.from('hello')]],
        [true, [1, 2, 3]],
      ]);
      await until(() => up.closed !== undefined, 'the upstream to see the close');
      expect(up.closed).toEqual({ code: 4001, reason: 'bye' });
      // The secret never entered the iframe: not in a message it received, not in its DOM.
      expect(result.received.length).toBeGreaterThan(5);
      expect(JSON.stringify(result.received)).not.toContain(SECRET);
      expect(result.dom).not.toContain(SECRET);
      expect(echo.connections).toHaveLength(0);
    } finally {
      await echoServer.close();
    }
  });

  it('works with the raw postMessage protocol alone, exactly as the RightPlace documentation prints it', async () => {
    const { guest } = await open({ manifest: withWs, policy }, '/raw.html');
    const received = await guest.evaluate(async (url) => {
      const connectionId = `ws-${Date.now()}-${Math.random().toString(36).slice(2)}`;
      const mine = () => window.received.filter(([fromParent]) => fromParent).map(([, d]) => JSON.parse(d) as Record<string, unknown>);
      const wait = (pred: (m: Record<string, unknown>) => boolean, what: string) => window.waitFor(() => mine().some(pred), what);
      window.post({ type: 'rp:request', id: 'req-1', method: 'ws.connect', params: { connectionId, url } });
      await wait((m) => m.event === 'open', 'open');
      window.post({ type: 'rp:request', id: 'req-2', method: 'ws.send', params: { connectionId, data: 'Hello!' } });
      await wait((m) => m.data === 'Hello!', 'the echo');
      window.post({ type: 'rp:request', id: 'req-b', method: 'ws.send', params: { connectionId, data: new Uint8Array([7, 7]) } });
      await wait((m) => m.event === 'message' && typeof m.data === 'object', 'the binary echo');
      window.post({ type: 'rp:request', id: 'req-3', method: 'ws.close', params: { connectionId } });
      await wait((m) => m.event === 'close', 'close');
      // The id is random, as in the RightPlace document: name it for the comparison.
      return JSON.parse(JSON.stringify(mine()).replaceAll(connectionId, 'ID')) as unknown[];
    }, echo.url);
    expect(received).toEqual([
      { type: 'rp:response', id: 'req-1', ok: true, result: { connectionId: 'ID', via: 'direct' } },
      { type: 'rp:ws', connectionId: 'ID', event: 'open', protocol: '' },
      { type: 'rp:response', id: 'req-2', ok: true, result: { bufferedAmount: expect.any(Number) } },
      { type: 'rp:ws', connectionId: 'ID', event: 'message', data: 'Hello!' },
      { type: 'rp:response', id: 'req-b', ok: true, result: { bufferedAmount: expect.any(Number) } },
      { type: 'rp:ws', connectionId: 'ID', event: 'message', data: { bytes: [7, 7] } },
      { type: 'rp:response', id: 'req-3', ok: true, result: null },
      { type: 'rp:ws', connectionId: 'ID', event: 'close', code: 1000, reason: '' },
    ]);
    expect(echo.connections).toHaveLength(1);
  });

  it('answers malformed requests, unknown methods and huge payloads with a documented error and nothing else', async () => {
    const { guest } = await open({ manifest: withWs, policy }, '/raw.html');
    const received = await guest.evaluate(async (url) => {
      const req = (id: unknown, method: unknown, params?: unknown) => ({ type: 'rp:request', id, method, ...(params === undefined ? {} : { params }) });
      const mine = () => window.received.filter(([fromParent]) => fromParent).map(([, d]) => JSON.parse(d) as Record<string, unknown>);
      for (const m of [
        'just a string',
        { type: 'something-else', id: 1 },
        { type: 'rp:request' },
        req({ nested: true }, 'ready'),
        req('a', 42),
        req('b', 'ws.explode', {}),
        req('c', 'ws.connect', ['not', 'an', 'object']),
        req('d', 'ws.connect', { connectionId: '' }),
        req('e', 'ws.send', { connectionId: 'nope', data: 'x' }),
        req('f', 'ws.connect', { connectionId: 'c1', url: 'not a url' }),
        req('g', 'ws.connect', { connectionId: 'c2', url, protocols: ['bad proto'] }),
        req('h', 'ws.connect', { connectionId: 'c3', url, headers: { 'X-A': '1' } }),
        req('i', 'ws.connect', { connectionId: 'c4', url, headers: { Host: 'evil.example' } }),
        req('j', 'credentials.get', { name: 'x' }),
        req('k', 'ws.close', { connectionId: 'zzz' }),
        req('l', 'ws.connect', { connectionId: 'ok', url }),
      ]) {
        window.post(m);
      }
      await window.waitFor(() => mine().some((m) => m.event === 'open'), 'the good connection to open');
      for (const m of [
        req('m', 'ws.connect', { connectionId: 'ok', url }), // in use
        req('n', 'ws.send', { connectionId: 'ok', data: 'z'.repeat(2 * 1_048_576) }),
        req('o', 'ws.send', { connectionId: 'ok', data: { an: 'object' } }),
        req('p', 'ws.close', { connectionId: 'ok', code: 1005 }),
        req('q', 'ws.close', { connectionId: 'ok', reason: 'r'.repeat(124) }),
        req(7, 'ready'),
      ]) {
        window.post(m);
      }
      await window.waitFor(() => mine().some((m) => m.id === 7), 'the last answer');
      return mine().map((m) =>
        m.type === 'rp:response'
          ? ['response', m.id, m.ok ? 'ok' : (m.error as { code: string }).code]
          : ['event', m.connectionId, m.event, m.event === 'error' ? m.errorCode : m.event === 'close' ? m.code : ''],
      );
    }, echo.url);
    expect(received).toEqual([
      ['response', null, 'BAD_REQUEST'],
      ['response', null, 'BAD_REQUEST'],
      ['response', 'a', 'BAD_REQUEST'],
      ['response', 'b', 'UNKNOWN_METHOD'],
      ['response', 'c', 'BAD_REQUEST'],
      ['response', 'd', 'BAD_REQUEST'],
      ['response', 'e', 'NOT_CONNECTED'],
      ['response', 'f', 'URL_NOT_ALLOWED'],
      ['event', 'c1', 'error', 'URL_NOT_ALLOWED'],
      ['event', 'c1', 'close', 1006],
      ['response', 'g', 'BAD_REQUEST'],
      ['event', 'c2', 'error', 'BAD_REQUEST'],
      ['event', 'c2', 'close', 1006],
      ['response', 'h', 'EGRESS_REQUIRED'],
      ['event', 'c3', 'error', 'EGRESS_REQUIRED'],
      ['event', 'c3', 'close', 1006],
      ['response', 'i', 'BAD_REQUEST'],
      ['event', 'c4', 'error', 'BAD_REQUEST'],
      ['event', 'c4', 'close', 1006],
      ['response', 'j', 'EGRESS_REQUIRED'],
      ['response', 'k', 'NOT_CONNECTED'],
      ['response', 'l', 'ok'],
      ['event', 'ok', 'open', ''],
      ['response', 'm', 'BAD_REQUEST'],
      ['response', 'n', 'PAYLOAD_TOO_LARGE'],
      ['response', 'o', 'BAD_REQUEST'],
      ['response', 'p', 'BAD_REQUEST'],
      ['response', 'q', 'BAD_REQUEST'],
      ['response', 7, 'ok'],
    ]);
    // Only the one good connection reached the server, and nothing was sent on it.
    expect(echo.connections).toHaveLength(1);
    expect(echo.connections[0]!.messages).toEqual([]);
  });

  it('ignores forged requests from another frame, and the guest ignores forged events', async () => {
    const { page, guest, hostileFrame } = await open({ manifest: withWs, policy }, '/guest.html', true);
    const connectionId = await guest.evaluate(async (url) => {
      window.rp = window.bridge.createResourceClient();
      window.conn = window.rp.ws.connect(url);
      window.log = window.track(window.conn);
      await window.conn.opened;
      return window.conn.id;
    }, echo.url);
    await until(() => echo.connections.length === 1, 'the real connection');
    // The hostile frame (sandboxed too: its origin is "null" like the guest's) forges requests to
    // the host, including on the guest's own connection, and events to the guest.
    const forged = await hostileFrame!.evaluate(
      ({ url, connectionId }) => {
        const req = (id: string, method: string, params: unknown) => ({ type: 'rp:request', id, method, params });
        const toHost = window.forge('parent', [
          req('f1', 'ws.connect', { connectionId: 'evil', url }),
          req('f2', 'ws.send', { connectionId, data: 'forged data' }),
          req('f3', 'ws.close', { connectionId }),
          req('f4', 'ready', {}),
        ]);
        window.forge(0, [
          { type: 'rp:ws', connectionId, event: 'message', data: 'forged event' },
          { type: 'rp:ws', connectionId, event: 'close', code: 1000, reason: 'forged' },
        ]);
        return toHost;
      },
      { url: echo.url, connectionId },
    );
    expect(forged).toBe(4);
    // The page's own listener runs after the host's: once it counted all four, the host has seen them.
    await page.waitForFunction(() => window.fromHostile === 4, undefined, { timeout: 8_000 });
    expect(await page.evaluate(() => window.host.connections)).toBe(1);
    // The real connection still works, and its log has nothing forged in it.
    const log = await guest.evaluate(async () => {
      // Likewise the guest's recorder runs before the SDK's listener: both forged events were seen.
      await window.waitFor(() => window.received.filter(([fromParent]) => !fromParent).length === 2, 'the forged events');
      window.conn.send('after');
      await window.waitFor(() => window.log.length === 2, 'the echo');
      return { log: window.log, state: window.conn.state };
    });
    expect(log).toEqual({ log: [['open', ''], ['message', 'after']], state: 'open' });
    expect(echo.connections).toHaveLength(1);
    expect(echo.connections[0]!.messages.map((m) => m.data.toString())).toEqual(['after']);
    expect(echo.connections[0]!.closed).toBeUndefined();
    // The host never answered the hostile frame.
    expect(await hostileFrame!.evaluate(() => window.received)).toEqual([]);
  });

  it('connectWithRetry comes back after the upstream drops the connection, then stops on close()', async () => {
    const { guest } = await open({ manifest: withWs, policy });
    await guest.evaluate(async (url) => {
      const rp = window.bridge.createResourceClient();
      const feed = window.bridge.connectWithRetry(rp, url, { initialDelayMs: 20, maxDelayMs: 50, maxRetries: 3 });
      window.log = window.track(feed);
      feed.on('retry', (n) => window.log.push(['retry', n]));
      feed.on('end', (code) => window.log.push(['end', code]));
      (window as unknown as { feed: Bridge.RetryingConnection }).feed = feed;
      await window.waitFor(() => window.log.length === 1, 'open');
    }, echo.url);
    await until(() => echo.connections.length === 1, 'the first connection');
    echo.connections[0]!.ws.terminate(); // the guest sees 1006 and retries
    await until(() => echo.connections.length === 2, 'the second connection', 8_000);
    const log = await guest.evaluate(async () => {
      await window.waitFor(() => window.log.filter((e) => e[0] === 'open').length === 2, 'the second open');
      (window as unknown as { feed: Bridge.RetryingConnection }).feed.close();
      await window.waitFor(() => window.log.some((e) => e[0] === 'end'), 'end');
      return window.log;
    });
    // Chromium reports a dropped connection that had opened with close 1006 and no error event.
    expect(log).toEqual([['open', ''], ['close', 1006, ''], ['retry', 1], ['open', ''], ['close', 1000, ''], ['end', 1000]]);
    await until(() => echo.connections[1]!.closed !== undefined, 'the server to see the close');
  });
});
