/**
 * The scale-out bench: the fan-out scenario on the Redis engine with 1, 2 and 3 server nodes, the
 * subscribers spread over the nodes round-robin and the publisher on the first node, so every
 * message crosses Redis to reach the other nodes. Switchboard JSON only; compared with itself
 * (2 and 3 nodes against 1) and with the in-memory engine's fan-out of the same run.
 *
 * Needs a Redis (SWITCHBOARD_REDIS_URL, default redis://127.0.0.1:6379); without one the three
 * scenarios are skipped with the reason printed.
 */
import { connect } from 'node:net';
import fanout from './fanout.js';

export const REDIS_URL = process.env.SWITCHBOARD_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Whether something answers PING at the Redis URL within a second. */
async function redisAnswers(url) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const s = connect(Number(port || 6379), hostname || '127.0.0.1');
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1_000, () => done(false));
    s.once('error', () => done(false));
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => done(String(d).startsWith('+PONG')));
  });
}

const skip = (await redisAnswers(REDIS_URL)) ? undefined : `no Redis answers at ${REDIS_URL}`;

function scale(nodes) {
  return {
    ...fanout,
    name: `fanout-redis-${nodes}`,
    title: `Fan-out over Redis, ${nodes} node${nodes > 1 ? 's' : ''} (subscribers spread over them)`,
    stacks: ['switchboard-json'],
    skip,
    // One key prefix per bench process: the nodes of a run share it; the fan topic keeps no
    // history, so only the node registry lives under it (removed when each node closes).
    servers: () => Array.from({ length: nodes }, () => ({ redis: REDIS_URL, prefix: `sb-bench-${process.pid}:` })),
    // No goal against raw ws: the comparison is between node counts (see bench/run.js).
    metrics: fanout.metrics.map(({ goal: _goal, ...m }) => m),
  };
}

export const NATS_URL = process.env.SWITCHBOARD_NATS_URL ?? 'nats://127.0.0.1:4222';

/** Whether a NATS server greets a connection at the URL within a second (it sends INFO first). */
async function natsAnswers(url) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const s = connect(Number(port || 4222), hostname || '127.0.0.1');
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1_000, () => done(false));
    s.once('error', () => done(false));
    s.once('data', (d) => done(String(d).startsWith('INFO')));
  });
}

// Left out of smoke runs (CI's harness check, which the Redis scenarios already exercise the same way).
const natsSkip = process.argv.includes('--smoke')
  ? 'the NATS scale-out runs in --quick and full runs only'
  : (await natsAnswers(NATS_URL)) ? undefined : `no NATS answers at ${NATS_URL}`;

/** The same fan-out on the NATS JetStream engine (docs/scaling.md, "NATS"): compared with Redis in the same run. */
function scaleNats(nodes) {
  return {
    ...scale(nodes),
    name: `fanout-nats-${nodes}`,
    title: `Fan-out over NATS, ${nodes} node${nodes > 1 ? 's' : ''} (subscribers spread over them)`,
    skip: natsSkip,
    // One fixed prefix: its two KV buckets are reused by every run (each node leaves the registry on close).
    servers: () => Array.from({ length: nodes }, () => ({ nats: NATS_URL, prefix: 'sb-bench' })),
  };
}

export default [scale(1), scale(2), scale(3), scaleNats(1), scaleNats(2), scaleNats(3)];
