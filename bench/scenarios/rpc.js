/**
 * Scenario 1: one client per stack, sequential calls of a ~100-byte object (echo); latency per call.
 * Interleaved: one load process holds a client of every stack and makes call i on each stack in
 * turn (the order rotating with i), so a busy spell of the shared machine slows every stack alike
 * instead of whichever ran then. Calls/s is 1 / mean latency.
 */
import { rpcPayload } from '../stacks/payloads.js';
import { percentile, sorted } from '../lib/stats.js';
import { closeAll, now } from './util.js';

export default {
  name: 'rpc',
  title: 'RPC round trip, 1 client, sequential',
  interleaved: true,
  params: {
    full: { calls: 20_000, warmup: 2_000, deadlineMs: 120_000, reps: 3 },
    quick: { calls: 3_000, warmup: 500, deadlineMs: 20_000 },
    smoke: { calls: 500, warmup: 100, deadlineMs: 10_000 },
  },
  metrics: [
    { key: 'callsPerSec', label: 'calls/s', better: 'higher', goal: 0.9, bunGoal: 0.9 },
    { key: 'p50', label: 'p50 µs', better: 'lower' },
    { key: 'p99', label: 'p99 µs', better: 'lower', goal: 1.2 },
    { key: 'p999', label: 'p99.9 µs', better: 'lower' },
  ],
  ops: (r) => r.counts.calls,
  async run(ctx) {
    const { calls, warmup, deadlineMs } = ctx.params;
    const deadline = now() + deadlineMs;
    const stacks = ctx.stacks;
    const clients = [];
    try {
      for (const stack of stacks) clients.push(await ctx.open(undefined, stack));
      for (let i = 0; i < warmup && now() < deadline; i++) for (const c of clients) await c.call(rpcPayload(i));
      const latency = stacks.map(() => new Float64Array(calls));
      const errors = stacks.map(() => 0);
      let done = 0;
      ctx.mark('start');
      for (; done < calls && now() < deadline; done++) {
        for (let k = 0; k < clients.length; k++) {
          const j = (k + done) % clients.length;
          const s = now();
          const out = await clients[j].call(rpcPayload(done));
          latency[j][done] = now() - s;
          if (out?.n !== done) errors[j]++;
        }
        if (done % 5_000 === 0 && done) ctx.progress(`${done}/${calls} calls per stack`);
      }
      ctx.mark('end');
      const byStack = {};
      stacks.forEach((stack, j) => {
        const asc = sorted(latency[j], done);
        const totalMs = asc.reduce((a, b) => a + b, 0);
        byStack[stack] = {
          metrics: { callsPerSec: done / (totalMs / 1000), p50: percentile(asc, 0.5) * 1000, p99: percentile(asc, 0.99) * 1000, p999: percentile(asc, 0.999) * 1000 },
          counts: { calls: done, expected: calls, errors: errors[j] },
        };
      });
      return { byStack };
    } finally {
      closeAll(clients);
    }
  },
};
