/**
 * Scenario 3, flow-controlled: one publisher, many subscribers of one topic, all in the load
 * process. The publisher keeps at most `window` messages that some subscriber has not yet received
 * (a closed loop: as fast as server and load process sustain together, with bounded queues, so
 * latency means something).
 * With several messages in flight, a server that batches per tick (corks) writes several frames
 * per syscall; ./fanout-turn.js is the variant without that help. Subscribers: ./fan-tally.js.
 */
import { epochMs, fanPayload } from '../stacks/payloads.js';
import { createFanTally } from './fan-tally.js';
import { closeAll, now, openMany } from './util.js';

export default {
  name: 'fanout',
  title: 'Fan-out, flow-controlled: 1 publisher client, N subscribers of one topic',
  params: {
    full: { subscribers: 1_000, messages: 2_000, window: 8, deadlineMs: 90_000 },
    quick: { subscribers: 200, messages: 300, window: 8, deadlineMs: 20_000 },
    smoke: { subscribers: 50, messages: 100, window: 8, deadlineMs: 15_000 },
  },
  fds: (p) => p.subscribers + 64,
  metrics: [
    { key: 'deliveriesPerSec', label: 'deliveries/s', better: 'higher', goal: 1.0, bunGoal: 0.9 },
    { key: 'p50', label: 'p50 ms', better: 'lower' },
    { key: 'p99', label: 'p99 ms', better: 'lower' },
    { key: 'losses', label: 'losses', better: 'lower', exact: true },
  ],
  ops: (r) => r.counts.received,
  async run(ctx) {
    const { subscribers: n, messages: total, window, deadlineMs } = ctx.params;
    const deadline = now() + deadlineMs;
    // Spread over the server nodes when there are several (the Redis scale-out scenarios).
    const url = (i) => ctx.urls[i % ctx.urls.length];
    const { clients, failures, errors: connectErrors } = await openMany(ctx, n, { concurrency: 50, deadline, url });
    const subs = clients.length;
    let published = 0;
    let publishErrors = 0;
    let publisher;

    function pump() {
      while (published < total && published < tally.completed + window) {
        const p = publisher.publish('fan', fanPayload(published++, epochMs()));
        if (typeof p?.then === 'function') p.then(undefined, () => publishErrors++);
      }
    }
    const tally = createFanTally(subs, total, pump);

    try {
      await Promise.all(clients.map((c, i) => c.subscribe('fan', tally.handler(i))));
      publisher = await ctx.open();
      const stop = setTimeout(tally.finish, Math.max(0, deadline - now()));
      ctx.mark('start');
      const t0 = now();
      pump();
      await tally.finished;
      clearTimeout(stop);
      ctx.mark('end');
      const { received, gaps, duplicates, completed } = tally;
      return {
        metrics: tally.metrics(t0),
        counts: { subscribers: subs, connectFailures: failures, connectErrors, published, expected: total * subs, received, gaps, duplicates, publishErrors, timedOut: completed < total },
      };
    } finally {
      closeAll(publisher ? [...clients, publisher] : clients);
    }
  },
};
