/**
 * The subscriber side of both fan-out scenarios: one handler per subscriber that checks sequence
 * numbers (a message never received is a loss; one received twice or out of order is counted too),
 * records the latency from the payload's send time, and knows when every subscriber has every
 * message. Payloads are `fanPayload(seq, ts)` with `ts` on the shared clock (`epochMs`).
 */
import { percentile, sorted } from '../lib/stats.js';
import { epochMs } from '../stacks/payloads.js';
import { now } from './util.js';

/** A tally for `subs` subscribers of `total` messages; `onDelivery` runs after each new delivery. */
export function createFanTally(subs, total, onDelivery = () => {}) {
  const last = new Int32Array(subs).fill(-1);
  /** reached[k]: subscribers whose latest message is seq ≥ k (monotone in k, as each goes in order). */
  const reached = new Int32Array(total);
  const latency = new Float64Array(subs * total);
  let finish;
  const t = {
    samples: 0,
    received: 0,
    duplicates: 0,
    gaps: 0,
    /** Messages every subscriber has received (seq < completed). */
    completed: 0,
    /** Load-process time of the latest delivery. */
    tLast: 0,
    /** Resolves once every subscriber has every message (or when `finish()` is called). */
    finished: new Promise((resolve) => (finish = resolve)),
    finish: () => finish(),
    handler: (i) => (data) => {
      const at = now();
      const seq = data.seq;
      if (t.samples < latency.length) latency[t.samples++] = epochMs() - data.ts;
      if (!(seq > last[i]) || seq >= total) return void t.duplicates++;
      t.gaps += seq - last[i] - 1;
      for (let k = last[i] + 1; k <= seq; k++) if (++reached[k] === subs) t.completed = k + 1;
      last[i] = seq;
      t.received++;
      t.tLast = at;
      if (t.completed === total) finish();
      else onDelivery();
    },
    /**
     * Deliveries/s since `t0`, latency percentiles (ms) and losses: deliveries of the `published`
     * messages (default: all of them) that some subscriber never received.
     */
    metrics(t0, published = total) {
      const asc = sorted(latency, t.samples);
      return {
        deliveriesPerSec: t.received / ((t.tLast - t0) / 1000),
        p50: percentile(asc, 0.5),
        p99: percentile(asc, 0.99),
        losses: published * subs - t.received,
      };
    },
  };
  return t;
}
