/**
 * The chat demo that `npm start` runs: one plain `node:http` server that serves the page, the
 * compiled browser client, and the Switchboard WebSocket endpoint on `/ws`.
 *
 * @example
 * npm start                         # builds, then http://localhost:8080/
 * PORT=0 node demo/server.js        # after `npm run build`; picks a free port and prints it
 * SWITCHBOARD_REDIS_URL=redis://127.0.0.1:6379 PORT=8081 npm start   # on the Redis engine
 * SWITCHBOARD_NATS_URL=nats://127.0.0.1:4222 PORT=8081 npm start      # on the NATS JetStream engine
 */
import { createServer as createHttpServer } from 'node:http';
import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'switchboard/server';

/** Limits of a display name and of one message, in UTF-16 code units (as the page counts them). */
const MAX_NAME_LENGTH = 32;
const MAX_TEXT_LENGTH = 500;
const DEFAULT_PORT = 8080;
/** How long shutdown may take before the process gives up waiting (Switchboard's own limit is 5 s). */
const SHUTDOWN_DEADLINE_MS = 10_000;

// path.resolve drops the trailing separator, so `root + path.sep` below is always one separator.
const PUBLIC_DIR = path.resolve(fileURLToPath(new URL('./public', import.meta.url)));
const DIST_DIR = path.resolve(fileURLToPath(new URL('../dist', import.meta.url)));
/**
 * The browser client imports only files under these `dist/` folders (the `node` entry and the
 * server are never loaded by a browser), so nothing else of `dist/` is served.
 */
const CLIENT_DIRS = ['client', 'protocol', 'shared'].map((d) => path.join(DIST_DIR, d));

const CONTENT_TYPES = new Map([
  ['.html', 'text/html; charset=utf-8'],
  ['.js', 'text/javascript; charset=utf-8'],
  ['.css', 'text/css; charset=utf-8'],
  ['.map', 'application/json; charset=utf-8'],
  ['.svg', 'image/svg+xml'],
  ['.png', 'image/png'],
  ['.ico', 'image/x-icon'],
]);

/**
 * The page loads only its own scripts and styles and talks only to this origin; even if user text
 * ever reached the DOM as markup, no injected script could run.
 */
const PAGE_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

/**
 * Resolves a URL path below `root`, or `undefined` when it would escape it: `..` segments, encoded
 * slashes (`..%2f`), absolute paths, NUL bytes and symlinks that point outside all end here.
 */
async function resolveInside(root, urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined; // malformed percent-encoding
  }
  if (decoded.includes('\0')) return undefined;
  const file = path.resolve(root, decoded.replace(/^[/\\]+/, ''));
  if (!file.startsWith(root + path.sep)) return undefined;
  try {
    // A symlink inside the folder could still point anywhere; check where it really leads.
    const [realFile, realRoot] = await Promise.all([realpath(file), realpath(root)]);
    return realFile.startsWith(realRoot + path.sep) ? file : undefined;
  } catch {
    return undefined; // does not exist
  }
}

/** Maps a request path to a file on disk, or `undefined` for a 404. */
async function fileFor(pathname) {
  if (pathname === '/') return path.join(PUBLIC_DIR, 'index.html');
  if (pathname.startsWith('/switchboard/')) {
    const file = await resolveInside(DIST_DIR, pathname.slice('/switchboard/'.length));
    return file && CLIENT_DIRS.some((dir) => file.startsWith(dir + path.sep)) ? file : undefined;
  }
  return resolveInside(PUBLIC_DIR, pathname);
}

function sendText(res, status, text, headers = {}) {
  const body = `${text}\n`;
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(body);
}

/** Serves the page, its assets and the browser client; everything else is a 404. */
async function serveStatic(req, res) {
  if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
  let pathname;
  try {
    pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
  } catch {
    return sendText(res, 400, 'Bad Request');
  }
  const file = await fileFor(pathname);
  const type = file && CONTENT_TYPES.get(path.extname(file));
  if (!file || !type) return sendText(res, 404, 'Not Found');
  let body;
  try {
    body = await readFile(file);
  } catch {
    return sendText(res, 404, 'Not Found'); // a directory, or removed meanwhile
  }
  res.writeHead(200, { ...PAGE_HEADERS, 'Content-Type': type, 'Content-Length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** Whether `data` is a chat message `{ name, text }` that the sender may publish. */
function isChatMessage(data, senderName) {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return false;
  const keys = Object.keys(data);
  if (keys.length !== 2 || !keys.includes('name') || !keys.includes('text')) return false;
  const { name, text } = data;
  // The name travels with the message so every reader can show it; it must be the sender's own,
  // or anyone could post as anyone.
  if (name !== senderName) return false;
  return typeof text === 'string' && text.length >= 1 && text.length <= MAX_TEXT_LENGTH && text.trim() !== '';
}

/** Reads `PORT`: unset or empty means the default, `0` picks a free port. */
function portFromEnv() {
  const raw = process.env.PORT;
  if (raw === undefined || raw.trim() === '') return DEFAULT_PORT;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(`PORT must be an integer from 0 to 65535, got ${JSON.stringify(raw)}`);
    process.exit(1);
  }
  return port;
}

const http = createHttpServer((req, res) => {
  serveStatic(req, res).catch((err) => {
    console.error('request failed:', err);
    if (!res.headersSent) sendText(res, 500, 'Internal Server Error');
    else res.destroy();
  });
});

/**
 * SWITCHBOARD_REDIS_URL=redis://127.0.0.1:6379 runs the demo on the Redis engine: start it twice
 * on two ports and people on either one chat together (docs/scaling.md). Loaded only when asked
 * for, so the default demo needs no Redis and no ioredis.
 */
const redisUrl = process.env.SWITCHBOARD_REDIS_URL;
// SWITCHBOARD_NATS_URL=nats://127.0.0.1:4222: the same on the NATS JetStream engine (docs/scaling.md, "NATS").
const natsUrl = process.env.SWITCHBOARD_NATS_URL;
const engine = redisUrl
  ? (await import('switchboard/redis')).redisEngine({ url: redisUrl, prefix: 'sb-demo:' })
  : natsUrl
    ? (await import('switchboard/nats')).natsEngine({ url: natsUrl, prefix: 'sb-demo' })
    : undefined;

const switchboard = createServer({
  server: http,
  ...(engine ? { engine } : {}),
  /*
   * DEMO ONLY: the token is taken as the user's display name, so anyone can be anyone. A real
   * application verifies a signed token here (a session cookie looked up, a JWT checked with
   * its key) and returns the identity it proves, or null to refuse the connection with HTTP 401.
   */
  authenticate(_req, token) {
    const name = token?.trim();
    return name && name.length <= MAX_NAME_LENGTH ? { name } : null;
  },
  presence: {
    // Two tabs of one name are one member: they join once and leave with the last tab.
    key: (identity) => identity.name,
    info: (identity) => ({ name: identity.name }),
  },
});

switchboard.topic('chat:*', {
  subscribe: true,
  publish: (ctx, _topic, data) => isChatMessage(data, ctx.identity.name),
  presence: true,
  // The last 50 messages for an hour: a newcomer sees the conversation so far, and a tab that
  // lost its connection gets what it missed (docs/guarantees.md).
  history: { size: 50, ttlMs: 3_600_000 },
});

http.on('error', (err) => {
  console.error(`Switchboard chat demo could not listen: ${err.message}`);
  process.exit(1);
});

// Attach first so no upgrade request can arrive before Switchboard listens for it.
const attached = switchboard.listen();
http.listen(portFromEnv());
const { port } = await attached;
console.log(`Switchboard chat demo: http://localhost:${port}/`);
if (redisUrl) console.log(`engine: redis at ${redisUrl.replace(/\/\/[^@/]*@/, '//***@')}`);
else if (natsUrl) console.log(`engine: nats at ${natsUrl.replace(/\/\/[^@/]*@/, '//***@')}`);

let stopping = false;
async function shutdown() {
  if (stopping) {
    process.exit(1); // a second Ctrl-C: the user does not want to wait
  }
  stopping = true;
  setTimeout(() => {
    console.error('shutdown took too long; exiting');
    process.exit(1);
  }, SHUTDOWN_DEADLINE_MS).unref();
  // Clients get 1001 "going away" and reconnect to whatever serves this URL next.
  await switchboard.close();
  await engine?.close(); // the server does not close an engine it was given
  await new Promise((resolve) => {
    http.close(() => resolve());
    http.closeAllConnections(); // idle keep-alive page loads would otherwise hold close() open
  });
  process.exit(0);
}
function onSignal() {
  shutdown().catch((err) => {
    console.error('shutdown failed:', err);
    process.exit(1);
  });
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
