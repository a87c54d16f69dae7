/**
 * Scenario 3b, one publish per event-loop turn: the server process itself publishes `messages`
 * messages to the `fan` topic, one per turn of its event loop (`setImmediate` in between, see
 * bench/server.js), to N subscribers in the load process. This is how an application publishes when
 * each incoming event (a webhook, a database change, a message from a queue) triggers one publish:
 * nothing else is in flight in that turn, so a server that batches per tick writes one frame per
 * subscriber per syscall, and what a delivery costs the server shows undiluted. The server does
 * not wait for the subscribers (an open loop): its CPU per delivery, split into user space and the
 * kernel, is the figure to read; latency includes any queue the subscribers let grow.
 */
import { createFanTally } from './fan-tally.js';
import { closeAll, now, openMany } from './util.js';

export default {
  name: 'fanout-turn',
  title: 'Fan-out, one server publish per event-loop turn, N subscribers of one topic',
  params: {
    full: { subscribers: 1_000, messages: 1_000, deadlineMs: 90_000 },
    quick: { subscribers: 200, messages: 300, deadlineMs: 20_000 },
    smoke: { subscribers: 50, messages: 100, deadlineMs: 15_000 },
  },
  fds: (p) => p.subscribers + 64,
  metrics: [
    { key: 'deliveriesPerSec', label: 'deliveries/s', better: 'higher', goal: 1.1, bunGoal: 0.9 },
    { key: 'p50', label: 'p50 ms', better: 'lower' },
    { key: 'p99', label: 'p99 ms', better: 'lower', goal: 1.0 },
    { key: 'losses', label: 'losses', better: 'lower', exact: true },
  ],
  ops: (r) => r.counts.received,
  /** Goals on the server's CPU per delivery, as a ratio to raw ws (bench/lib/report.js). */
  cpuGoals: { serverUserUsPerOp: 0.6 },
  async run(ctx) {
    const { subscribers: n, messages: total, deadlineMs } = ctx.params;
    const deadline = now() + deadlineMs;
    const { clients, failures, errors: connectErrors } = await openMany(ctx, n, { concurrency: 50, deadline });
    const subs = clients.length;
    const tally = createFanTally(subs, total);
    try {
      await Promise.all(clients.map((c, i) => c.subscribe('fan', tally.handler(i))));
      const stop = setTimeout(tally.finish, Math.max(0, deadline - now()));
      ctx.mark('start');
      const t0 = now();
      const publishing = ctx.server({ type: 'publish', topic: 'fan', count: total, deadlineMs: Math.max(0, deadline - now()) }, 'published');
      await tally.finished;
      clearTimeout(stop);
      ctx.mark('end');
      const [server] = await publishing;
      const { received, gaps, duplicates, completed } = tally;
      return {
        // A message the server had not published by the deadline is not a loss (counts say so).
        metrics: tally.metrics(t0, server.sent),
        counts: {
          subscribers: subs,
          connectFailures: failures,
          connectErrors,
          published: server.sent,
          unpublishedAtDeadline: total - server.sent,
          publishErrors: server.errors,
          publishMs: server.ms,
          expected: total * subs,
          received,
          gaps,
          duplicates,
          timedOut: completed < total,
        },
      };
    } finally {
      closeAll(clients);
    }
  },
};
