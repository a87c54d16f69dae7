/**
 * The demo that `npm start` runs: one `node:http` server on one port serving the landing page, the
 * three apps (chat, live dashboard, notification centre: demo/apps, a Vite + React production
 * build, rebuilt first when missing or stale), their `/api/` endpoints, and the Switchboard
 * WebSocket endpoint on `/ws`. docs/apps.md describes the apps.
 *
 * @example
 * npm start                         # builds, then http://localhost:8080/
 * PORT=0 node demo/server.js        # after `npm run build`; picks a free port and prints it
 * SWITCHBOARD_REDIS_URL=redis://127.0.0.1:6379 PORT=8081 npm start   # on the Redis engine
 * SWITCHBOARD_NATS_URL=nats://127.0.0.1:4222 PORT=8081 npm start      # on the NATS JetStream engine
 * SWITCHBOARD_DEMO_LOG=debug npm start                                # the server's trace, JSON lines on stderr
 */
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'switchboard/server';
import { ensureAppsBuilt } from './lib/build-apps.js';
import { MAX_NAME_LENGTH, registerChat } from './lib/chat.js';
import { createMeter, registerDashboard } from './lib/dashboard.js';
import { createDemoLogger } from './lib/logger.js';
import { createNotifications } from './lib/notifications.js';
import { createStatic, sendText } from './lib/static.js';

const DEFAULT_PORT = 8080;
/** How long shutdown may take before the process gives up waiting (Switchboard's own limit is 5 s). */
const SHUTDOWN_DEADLINE_MS = 10_000;

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

const port = portFromEnv();
let demoLogger;
try {
  demoLogger = createDemoLogger(process.env.SWITCHBOARD_DEMO_LOG);
} catch (err) {
  console.error(err.message);
  process.exit(1);
}
const { logger, frames } = demoLogger;
let apps;
try {
  apps = await ensureAppsBuilt({ log: (line) => console.log(line) });
} catch (err) {
  console.error(`Switchboard demo: could not build the apps: ${err.message}`);
  process.exit(1);
}
if (apps.built) console.log(`built the apps in ${(apps.ms / 1000).toFixed(1)} s`);

const serveStatic = createStatic(apps.dir);
let handleApi = async () => false;

const http = createHttpServer((req, res) => {
  (async () => {
    if (!(await handleApi(req, res))) await serveStatic(req, res);
  })().catch((err) => {
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

let notifications;
const switchboard = createServer({
  server: http,
  logger,
  // The SSE + HTTP fallback for visitors whose network blocks WebSockets (docs/client.md).
  sse: true,
  ...(engine ? { engine } : {}),
  /*
   * Two kinds of users. The notification centre's sign in with a short-lived JWT that
   * `POST /api/sign-in` issues (always longer than a name). The chat's token is the display name:
   * DEMO ONLY, anyone can be anyone; a real application verifies a signed token here and returns
   * the identity it proves, or null to refuse the connection with HTTP 401.
   */
  authenticate(_req, token) {
    const t = token?.trim();
    if (!t) return null;
    if (t.length > MAX_NAME_LENGTH) return notifications.verify(t);
    return { name: t };
  },
  presence: {
    // Two tabs of one name are one member: they join once and leave with the last tab.
    key: (identity) => identity.sub ?? identity.name,
    info: (identity) => ({ name: identity.name }),
  },
});

const meter = createMeter(switchboard, frames);
notifications = createNotifications(meter);
handleApi = (req, res) => notifications.handle(switchboard, req, res);
registerChat(switchboard, { onPublish: meter.published });
registerDashboard(switchboard, meter);
notifications.register(switchboard);

http.on('error', (err) => {
  console.error(`Switchboard demo could not listen: ${err.message}`);
  process.exit(1);
});

// Attach first so no upgrade request can arrive before Switchboard listens for it.
const attached = switchboard.listen();
http.listen(port);
const listening = await attached;
console.log(`Switchboard demo: http://localhost:${listening.port}/`);
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
  meter.close();
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
