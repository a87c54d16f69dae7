/**
 * Scenario 2: many clients, each keeping up to `window` calls in flight. Measured after a warm-up
 * of `warmupPerClient` calls each, the same load: about half of a cold window's instructions are V8
 * compiling the server's hot path, and a stack with more code (metrics on) would look slower for
 * compiling it. The warm-up may use a third of the deadline at most.
 */
import { rpcPayload } from '../stacks/payloads.js';
import { closeAll, now, openMany } from './util.js';

export default {
  name: 'pipelined',
  title: 'Pipelined RPC, many clients, calls in flight per client',
  params: {
    full: { clients: 50, callsPerClient: 2_000, warmupPerClient: 400, window: 100, deadlineMs: 60_000, reps: 5 },
    quick: { clients: 20, callsPerClient: 500, warmupPerClient: 500, window: 100, deadlineMs: 10_000 },
    smoke: { clients: 10, callsPerClient: 200, warmupPerClient: 20, window: 50, deadlineMs: 10_000 },
  },
  metrics: [{ key: 'callsPerSec', label: 'calls/s', better: 'higher', goal: 0.9 }],
  ops: (r) => r.counts.calls,
  async run(ctx) {
    const { clients: n, callsPerClient, warmupPerClient = 0, window, deadlineMs } = ctx.params;
    const deadline = now() + deadlineMs;
    const { clients, failures } = await openMany(ctx, n, { concurrency: 10, deadline });
    let done = 0;
    let errors = 0;
    /**
     * Every client makes `perClient` calls, `window` in flight, until `until`; `count` false for the
     * warm-up. A client with nothing sent (the deadline already past) is done at once.
     */
    const pipeline = (perClient, count, until) =>
      Promise.all(
        clients.map(
          (client) =>
            new Promise((resolve) => {
              let sent = 0;
              let answered = 0;
              const onAnswer = (out, expected) => {
                if (count && out?.n !== expected) errors++;
                answered++;
                if (count) done++;
                if (answered === sent && (sent === perClient || now() >= until)) resolve();
                else fire();
              };
              const fire = () => {
                while (sent < perClient && sent - answered < window && now() < until) {
                  const i = sent++;
                  client.call(rpcPayload(i)).then((out) => onAnswer(out, i), () => onAnswer(undefined, i));
                }
              };
              fire();
              if (sent === 0) resolve();
            }),
        ),
      );
    try {
      if (warmupPerClient > 0) await pipeline(warmupPerClient, false, Math.min(deadline, now() + deadlineMs / 3));
      ctx.mark('start');
      const t0 = now();
      await pipeline(callsPerClient, true, deadline);
      const seconds = (now() - t0) / 1000;
      ctx.mark('end');
      return {
        metrics: { callsPerSec: done / seconds },
        counts: { calls: done, expected: n * callsPerClient, errors, connectFailures: failures },
      };
    } finally {
      closeAll(clients);
    }
  },
};
