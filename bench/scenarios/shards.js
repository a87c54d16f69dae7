/**
 * Fan-out over several topics spread over the shards of a Redis Cluster: one topic per primary
 * (picked by slot), subscribers split between the topics, the publisher round-robin over them,
 * each topic flow-controlled as in ./fanout.js. Two runs: one node on one Redis, and three nodes
 * on the cluster (sharded pub/sub: each message crosses only its topic's shard); three nodes on one
 * Redis is ./scale.js's. Besides the fan-out figures it measures each Redis process's CPU over the run (INFO cpu
 * before and after): the busiest Redis's share of a core and Redis µs per delivery, summed over
 * the shards — the per-shard load that docs/performance.md explains.
 *
 * Needs a Redis (SWITCHBOARD_REDIS_URL) and the test cluster (SWITCHBOARD_BENCH_CLUSTER, default
 * 127.0.0.1:7000, started by .ci/redis-cluster); each run is skipped with the reason printed.
 */
import { connect } from 'node:net';
import { epochMs, fanPayload } from '../stacks/payloads.js';
import { createFanTally } from './fan-tally.js';
import { REDIS_URL } from './scale.js';
import { closeAll, now, openMany } from './util.js';

const SEED = process.env.SWITCHBOARD_BENCH_CLUSTER ?? '127.0.0.1:7000';

/** One RESP command on a fresh connection; resolves the reply's text (bulk, simple or array of bulks flattened). */
function command(addr, ...args) {
  const [host, port] = addr.split(':');
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), host);
    let buf = Buffer.alloc(0);
    const done = (err, v) => {
      s.destroy();
      err ? reject(err) : resolve(v);
    };
    s.setTimeout(2_000, () => done(new Error(`${addr} did not answer`)));
    s.once('error', (err) => done(err));
    s.once('connect', () => s.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`).join('')}`));
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const text = buf.toString('utf8');
      if (text[0] === '+' || text[0] === ':' || text[0] === '-') {
        if (text.includes('\r\n')) done(text[0] === '-' ? new Error(text.trim()) : undefined, text.slice(1).trim());
      } else if (text[0] === '$') {
        const nl = text.indexOf('\r\n');
        const len = Number(text.slice(1, nl));
        if (buf.length >= nl + 2 + len + 2) done(undefined, buf.subarray(nl + 2, nl + 2 + len).toString('utf8'));
      }
    });
  });
}

/** The cluster's primaries ('host:port' with their slot ranges), or undefined when no cluster answers. */
async function primaries() {
  try {
    const nodes = await command(SEED, 'CLUSTER', 'NODES');
    return nodes
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .filter((f) => f[2].includes('master') && !f[2].includes('fail'))
      .map((f) => ({ addr: f[1].split('@')[0], slots: f.slice(8).filter((s) => !s.startsWith('[')).map((s) => s.split('-').map(Number)) }));
  } catch {
    return undefined;
  }
}

const shards = await primaries();
const redisUp = await command(new URL(REDIS_URL).host, 'PING').then(
  (r) => r === 'PONG',
  () => false,
);

/** One topic per primary: the first `fan:<i>` whose slot (CLUSTER KEYSLOT of its hash tag) each owns. */
async function topicsPerShard() {
  if (!shards) return ['fan:0', 'fan:1', 'fan:2'];
  const found = new Map();
  for (let i = 0; found.size < shards.length && i < 200; i++) {
    const topic = `fan:${i}`;
    const slot = Number(await command(SEED, 'CLUSTER', 'KEYSLOT', `{${topic}}`));
    const owner = shards.find((s) => s.slots.some(([a, b = a]) => slot >= a && slot <= b));
    if (owner && !found.has(owner.addr)) found.set(owner.addr, topic);
  }
  return [...found.values()];
}
const TOPICS = await topicsPerShard();

/** Seconds of CPU (user + sys) each Redis process used so far. */
async function redisCpu(addrs) {
  return Promise.all(
    addrs.map(async (addr) => {
      const info = await command(addr, 'INFO', 'cpu');
      const v = (k) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
      return v('used_cpu_user') + v('used_cpu_sys');
    }),
  );
}

function shardScenario({ name, title, nodes, cluster }) {
  const skip = cluster ? (shards ? undefined : `no Redis Cluster answers at ${SEED} (run .ci/redis-cluster)`) : redisUp ? undefined : `no Redis answers at ${REDIS_URL}`;
  const redisAddrs = () => (cluster ? shards.map((s) => s.addr) : [new URL(REDIS_URL).host]);
  return {
    name,
    title,
    stacks: ['switchboard-json'],
    skip,
    params: {
      full: { subscribers: 999, messages: 2_001, window: 8, deadlineMs: 90_000 },
      quick: { subscribers: 198, messages: 300, window: 8, deadlineMs: 20_000 },
      smoke: { subscribers: 48, messages: 99, window: 8, deadlineMs: 15_000 },
    },
    fds: (p) => p.subscribers + 64,
    // One prefix per bench process; the topics keep no history, so only the node registry lives under it.
    servers: () => Array.from({ length: nodes }, () => (cluster ? { cluster: [`redis://${SEED}`], prefix: `sb-bench-${process.pid}:` } : { redis: REDIS_URL, prefix: `sb-bench-${process.pid}:` })),
    metrics: [
      { key: 'deliveriesPerSec', label: 'deliveries/s', better: 'higher' },
      { key: 'p50', label: 'p50 ms', better: 'lower' },
      { key: 'p99', label: 'p99 ms', better: 'lower' },
      { key: 'losses', label: 'losses', better: 'lower', exact: true },
      { key: 'redisBusiestPct', label: 'busiest Redis CPU %', better: 'lower' },
      { key: 'redisUsPerDelivery', label: 'Redis CPU µs/delivery (all shards)', better: 'lower' },
    ],
    ops: (r) => r.counts.received,
    async run(ctx) {
      const { subscribers: n, messages, window, deadlineMs } = ctx.params;
      const deadline = now() + deadlineMs;
      const url = (i) => ctx.urls[i % ctx.urls.length];
      const { clients, failures, errors: connectErrors } = await openMany(ctx, n, { concurrency: 50, deadline, url });
      const T = TOPICS.length;
      const per = Math.floor(messages / T);
      // Subscriber i: node i % nodes, topic ⌊i / nodes⌋ % T, so each topic has subscribers on every node.
      const topicOf = (i) => Math.floor(i / ctx.urls.length) % T;
      const groups = TOPICS.map((_, k) => clients.filter((_, i) => topicOf(i) === k));
      const published = TOPICS.map(() => 0);
      let publishErrors = 0;
      let publisher;
      const tallies = [];
      function pump() {
        for (let k = 0; k < T; k++) {
          while (published[k] < per && published[k] < tallies[k].completed + window) {
            const p = publisher.publish(TOPICS[k], fanPayload(published[k]++, epochMs()));
            if (typeof p?.then === 'function') p.then(undefined, () => publishErrors++);
          }
        }
      }
      for (const g of groups) tallies.push(createFanTally(g.length, per, pump));
      try {
        await Promise.all(groups.flatMap((g, k) => g.map((c, i) => c.subscribe(TOPICS[k], tallies[k].handler(i)))));
        publisher = await ctx.open();
        const all = Promise.all(tallies.map((t) => t.finished));
        const stop = setTimeout(() => tallies.forEach((t) => t.finish()), Math.max(0, deadline - now()));
        const cpu0 = await redisCpu(redisAddrs());
        ctx.mark('start');
        const t0 = now();
        pump();
        await all;
        clearTimeout(stop);
        ctx.mark('end');
        const wallS = (Math.max(...tallies.map((t) => t.tLast)) - t0) / 1000;
        const cpu1 = await redisCpu(redisAddrs());
        const used = cpu1.map((c, i) => c - cpu0[i]);
        const ms = tallies.map((t) => t.metrics(t0));
        const received = tallies.reduce((a, t) => a + t.received, 0);
        return {
          metrics: {
            deliveriesPerSec: received / wallS,
            p50: Math.max(...ms.map((m) => m.p50)),
            p99: Math.max(...ms.map((m) => m.p99)),
            losses: ms.reduce((a, m) => a + m.losses, 0),
            redisBusiestPct: (Math.max(...used) / wallS) * 100,
            redisUsPerDelivery: (used.reduce((a, b) => a + b, 0) * 1e6) / received,
          },
          counts: {
            topics: TOPICS,
            subscribers: clients.length,
            connectFailures: failures,
            connectErrors,
            published: published.reduce((a, b) => a + b, 0),
            received,
            redisCpuSecondsPerProcess: used.map((u) => Math.round(u * 1000) / 1000),
            publishErrors,
            timedOut: tallies.some((t) => t.completed < per),
          },
        };
      } finally {
        closeAll(publisher ? [...clients, publisher] : clients);
      }
    },
  };
}

export default [
  shardScenario({ name: 'shards-redis-1', title: 'Fan-out over 3 topics, 1 node on one Redis', nodes: 1, cluster: false }),
  shardScenario({ name: 'shards-cluster-3', title: 'Fan-out over 3 topics (one per shard), 3 nodes on a 3-primary Redis Cluster', nodes: 3, cluster: true }),
];
