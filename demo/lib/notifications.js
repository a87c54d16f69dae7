/**
 * The notification centre's server side.
 *
 * Demo users sign in at `POST /api/sign-in` and get a short-lived JWT (verified by `jwt()` from
 * switchboard/server). Each user's notifications go to a **personal topic with history**,
 * `inbox:<user>`, that only its owner may subscribe to (a rule compares the topic with the token's
 * `sub`). A topic rather than targeted events (`server.send`), because a notification must not be
 * lost: history keeps it for a day, a user who signs in later gets it on subscribing, and a tab that
 * reconnects gets exactly what it missed; targeted events reach only connections open at that
 * moment (docs/server.md#targeted-events). The topic is the user's event log: `notification`
 * entries and `read` entries, from which every tab computes the same unread count.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { z } from 'zod';
import { jwt, ServerError } from 'switchboard/server';

/** The demo's users: anyone may sign in as any of them (DEMO ONLY: a real app checks a password). */
export const DEMO_USERS = [
  { id: 'alice', name: 'Alice' },
  { id: 'bob', name: 'Bob' },
  { id: 'carol', name: 'Carol' },
  { id: 'dave', name: 'Dave' },
];
/** How long a token lives; the client fetches a fresh one when the server asks (docs/client.md#token-refresh). */
export const TOKEN_TTL_SEC = 300;
const AUDIENCE = 'switchboard-demo';
/** Notifications kept per user (and replayed on sign-in), and for how long. */
const HISTORY = { size: 200, ttlMs: 24 * 3_600_000 };
const MAX_BODY_BYTES = 16 * 1024;

const notifyInput = z.strictObject({
  to: z.string().min(1).max(64),
  title: z.string().trim().min(1).max(80),
  body: z.string().max(500).default(''),
});
const markReadInput = z.strictObject({ ids: z.array(z.string().min(1).max(64)).min(1).max(HISTORY.size) });

const inboxOf = (user) => `inbox:${user}`;
const userOf = (ctx) => (typeof ctx.identity?.sub === 'string' ? ctx.identity.sub : undefined);

/**
 * Creates the notification centre: the token issuer and verifier, the inbox rule and commands, and
 * the HTTP endpoints.
 *
 * @param {import('./dashboard.js').Meter} meter counts calls and publishes for the dashboard
 */
export function createNotifications(meter) {
  // A fresh key per process: tokens of a previous run are refused, and the page signs in again.
  const secret = randomBytes(32);
  const verifier = jwt({ secret, algorithms: ['HS256'], audience: AUDIENCE });
  /** Per user: the ids of the notifications sent, and of those read. */
  const inboxes = new Map(DEMO_USERS.map((u) => [u.id, { sent: new Set(), read: new Set() }]));

  async function issue(user) {
    const u = DEMO_USERS.find((d) => d.id === user);
    if (!u) return undefined;
    const token = await new SignJWT({ name: u.name })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(u.id)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${TOKEN_TTL_SEC}s`)
      .sign(secret);
    return { token, user: u, expiresAt: Date.now() + TOKEN_TTL_SEC * 1000 };
  }

  /** Sends one notification: the one implementation behind the `notify` command and `POST /api/notify`. */
  async function notify(server, from, input) {
    const inbox = inboxes.get(input.to);
    if (!inbox) throw new ServerError('UNKNOWN_USER', `No demo user "${input.to}"; the users are ${DEMO_USERS.map((u) => u.id).join(', ')}`);
    const id = randomUUID();
    // Bounded like the history: older ids cannot be marked read anyway once the topic forgot them.
    inbox.sent.add(id);
    if (inbox.sent.size > HISTORY.size) inbox.sent.delete(inbox.sent.values().next().value);
    await server.publish(inboxOf(input.to), { kind: 'notification', id, title: input.title, body: input.body, from, at: Date.now() });
    meter.published();
    return { id };
  }

  return {
    /** Verifies a notification user's token; `null` when it is not valid. */
    verify: (token) => verifier.verify(token),

    /** Registers the `inbox:*` rule and the `notify` and `markRead` commands. */
    register(server) {
      server.topic('inbox:*', {
        subscribe: (ctx, topic) => userOf(ctx) !== undefined && topic === inboxOf(userOf(ctx)),
        publish: false, // only the server writes to an inbox
        history: HISTORY,
      });
      server.command(
        'notify',
        { input: notifyInput },
        meter.counted(async (input, ctx) => {
          const from = userOf(ctx);
          if (!from) throw new ServerError('NOT_SIGNED_IN', 'Sign in to the notification centre to send notifications');
          return notify(server, from, input);
        }),
      );
      // Idempotent by nature (a read notification stays read, and only newly read ids are
      // published) and called with an idempotency key, so a retried call after a reconnect is
      // answered from the first outcome (docs/guarantees.md#commands).
      server.command(
        'markRead',
        { input: markReadInput },
        meter.counted(async ({ ids }, ctx) => {
          const user = userOf(ctx);
          if (!user) throw new ServerError('NOT_SIGNED_IN', 'Sign in to the notification centre first');
          const inbox = inboxes.get(user);
          const fresh = [...new Set(ids)].filter((id) => inbox.sent.has(id) && !inbox.read.has(id));
          for (const id of fresh) inbox.read.add(id);
          if (fresh.length > 0) {
            await server.publish(inboxOf(user), { kind: 'read', ids: fresh, at: Date.now() });
            meter.published();
          }
          return { marked: fresh.length };
        }),
      );
    },

    /**
     * Answers `/api/…` requests: `POST /api/sign-in` `{ user }` → `{ token, user, expiresAt }`,
     * `GET /api/users`, and `POST /api/notify` (`Authorization: Bearer <token>`, body `{ to, title,
     * body }`) for a backend or `curl`. Resolves `false` for another path.
     */
    async handle(server, req, res) {
      const { pathname } = new URL(req.url ?? '/', 'http://localhost');
      if (!pathname.startsWith('/api/')) return false;
      const [status, body] = await answer(server, pathname, req);
      json(res, status, body);
      return true;
    },
  };

  /** The status and JSON body for an `/api/…` request. */
  async function answer(server, pathname, req) {
    const route = `${req.method} ${pathname}`;
    if (route === 'GET /api/users') return [200, { users: DEMO_USERS }];
    if (route === 'POST /api/sign-in') {
      const body = await readJson(req);
      const issued = typeof body?.user === 'string' ? await issue(body.user) : undefined;
      return issued ? [200, issued] : [400, { error: `Send {"user": …} with one of ${DEMO_USERS.map((u) => u.id).join(', ')}` }];
    }
    if (route === 'POST /api/notify') {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const claims = token ? await verifier.verify(token) : null;
      if (!claims?.sub) return [401, { error: 'Send a token from POST /api/sign-in as "Authorization: Bearer <token>"' }];
      const parsed = notifyInput.safeParse(await readJson(req));
      if (!parsed.success) return [400, { error: `Invalid notification: ${parsed.error.issues[0]?.message ?? 'bad body'}` }];
      try {
        return [202, await meter.counted(() => notify(server, claims.sub, parsed.data))()];
      } catch (err) {
        if (err instanceof ServerError) return [400, { error: err.message, code: err.code }];
        throw err;
      }
    }
    return [404, { error: `No ${route}; the API is GET /api/users, POST /api/sign-in, POST /api/notify (docs/apps.md)` }];
  }
}

function json(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(body);
}

/** The request's JSON body, or `undefined` when it is not JSON or larger than {@link MAX_BODY_BYTES}. */
async function readJson(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return undefined;
  }
}
