/**
 * Scenario 3: one publisher, many subscribers of one topic, all in the load process. The publisher
 * keeps at most `window` messages that some subscriber has not yet received (a closed loop: as fast
 * as server and load process sustain together, with bounded queues, so latency means something).
 * Every subscriber checks sequence numbers: a message never received is a loss, one received twice
 * or out of order is counted too.
 */
import { fanPayload } from '../stacks/payloads.js';
import { percentile, sorted } from '../lib/stats.js';
import { closeAll, now, openMany } from './util.js';

export default {
  name: 'fanout',
  title: 'Fan-out, 1 publisher, N subscribers of one topic',
  params: {
    full: { subscribers: 1_000, messages: 2_000, window: 8, deadlineMs: 90_000 },
    quick: { subscribers: 200, messages: 300, window: 8, deadlineMs: 20_000 },
    smoke: { subscribers: 50, messages: 100, window: 8, deadlineMs: 15_000 },
  },
  fds: (p) => p.subscribers + 64,
  metrics: [
    { key: 'deliveriesPerSec', label: 'deliveries/s', better: 'higher', goal: 1.0 },
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
    const last = new Int32Array(subs).fill(-1);
    /** reached[k]: subscribers whose latest message is seq ≥ k (monotone in k, as each goes in order). */
    const reached = new Int32Array(total);
    const latency = new Float64Array(subs * total);
    let samples = 0;
    let received = 0;
    let duplicates = 0;
    let gaps = 0;
    let completed = 0;
    let published = 0;
    let publishErrors = 0;
    let tLast = 0;
    let finish;
    const finished = new Promise((resolve) => (finish = resolve));
    let publisher;

    function pump() {
      while (published < total && published < completed + window) {
        const p = publisher.publish('fan', fanPayload(published++, now()));
        if (typeof p?.then === 'function') p.then(undefined, () => publishErrors++);
      }
    }

    const handler = (i) => (data) => {
      const t = now();
      const seq = data.seq;
      if (samples < latency.length) latency[samples++] = t - data.ts;
      if (!(seq > last[i]) || seq >= total) return void duplicates++;
      gaps += seq - last[i] - 1;
      for (let k = last[i] + 1; k <= seq; k++) if (++reached[k] === subs) completed = k + 1;
      last[i] = seq;
      received++;
      tLast = t;
      if (completed === total) finish();
      else pump();
    };

    try {
      await Promise.all(clients.map((c, i) => c.subscribe('fan', handler(i))));
      publisher = await ctx.open();
      const stop = setTimeout(finish, Math.max(0, deadline - now()));
      ctx.mark('start');
      const t0 = now();
      pump();
      await finished;
      clearTimeout(stop);
      ctx.mark('end');
      const asc = sorted(latency, samples);
      return {
        metrics: {
          deliveriesPerSec: received / ((tLast - t0) / 1000),
          p50: percentile(asc, 0.5),
          p99: percentile(asc, 0.99),
          losses: total * subs - received,
        },
        counts: { subscribers: subs, connectFailures: failures, connectErrors, published, expected: total * subs, received, gaps, duplicates, publishErrors, timedOut: completed < total },
      };
    } finally {
      closeAll(publisher ? [...clients, publisher] : clients);
    }
  },
};
