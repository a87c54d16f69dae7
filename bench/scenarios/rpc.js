/**
 * Scenario 1: one client, sequential calls of a ~100-byte object (echo); latency per call.
 */
import { rpcPayload } from '../stacks/payloads.js';
import { percentile, sorted } from '../lib/stats.js';
import { closeAll, now } from './util.js';

export default {
  name: 'rpc',
  title: 'RPC round trip, 1 client, sequential',
  params: {
    full: { calls: 20_000, warmup: 2_000, deadlineMs: 60_000 },
    quick: { calls: 3_000, warmup: 500, deadlineMs: 10_000 },
    smoke: { calls: 500, warmup: 100, deadlineMs: 10_000 },
  },
  metrics: [
    { key: 'callsPerSec', label: 'calls/s', better: 'higher', goal: 0.9 },
    { key: 'p50', label: 'p50 µs', better: 'lower' },
    { key: 'p99', label: 'p99 µs', better: 'lower', goal: 1.2 },
    { key: 'p999', label: 'p99.9 µs', better: 'lower' },
  ],
  ops: (r) => r.counts.calls,
  async run(ctx) {
    const { calls, warmup, deadlineMs } = ctx.params;
    const deadline = now() + deadlineMs;
    const client = await ctx.open();
    let errors = 0;
    try {
      for (let i = 0; i < warmup && now() < deadline; i++) await client.call(rpcPayload(i));
      const latency = new Float64Array(calls);
      let done = 0;
      ctx.mark('start');
      const t0 = now();
      for (; done < calls && now() < deadline; done++) {
        const s = now();
        const out = await client.call(rpcPayload(done));
        latency[done] = now() - s;
        if (out?.n !== done) errors++;
      }
      const seconds = (now() - t0) / 1000;
      ctx.mark('end');
      const asc = sorted(latency, done);
      return {
        metrics: { callsPerSec: done / seconds, p50: percentile(asc, 0.5) * 1000, p99: percentile(asc, 0.99) * 1000, p999: percentile(asc, 0.999) * 1000 },
        counts: { calls: done, expected: calls, errors },
      };
    } finally {
      closeAll([client]);
    }
  },
};
