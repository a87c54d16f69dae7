/**
 * Scenario 5: N clients start connecting in the same tick; time until every one is open (the
 * stack's own "ready": Switchboard's welcome, ws's open, Socket.IO's connect), and failures.
 */
import { closeAll, now } from './util.js';

export default {
  name: 'storm',
  title: 'Connection storm, N clients at once',
  params: {
    full: { connections: 5_000, deadlineMs: 60_000 },
    quick: { connections: 1_000, deadlineMs: 20_000 },
    smoke: { connections: 200, deadlineMs: 15_000 },
  },
  fds: (p) => p.connections + 64,
  metrics: [
    { key: 'allOpenMs', label: 'all open ms', better: 'lower' },
    { key: 'failures', label: 'failures', better: 'lower', exact: true },
  ],
  ops: (r) => r.counts.opened,
  async run(ctx) {
    const { connections: n, deadlineMs } = ctx.params;
    const clients = [];
    const errors = new Set();
    let failures = 0;
    let lastOpen = 0;
    ctx.mark('start');
    const t0 = now();
    const attempts = Array.from({ length: n }, () =>
      ctx.open().then(
        (c) => {
          clients.push(c);
          lastOpen = now();
        },
        (err) => {
          failures++;
          errors.add(String(err?.message ?? err));
        },
      ),
    );
    let timer;
    const timedOut = await Promise.race([
      Promise.all(attempts).then(() => false),
      new Promise((resolve) => (timer = setTimeout(() => resolve(true), deadlineMs))),
    ]);
    clearTimeout(timer);
    ctx.mark('end');
    const opened = clients.length;
    closeAll(clients);
    return {
      metrics: { allOpenMs: lastOpen - t0, failures: n - opened },
      counts: { opened, failures, pendingAtDeadline: timedOut ? n - opened - failures : 0, errors: [...errors].slice(0, 5) },
    };
  },
};
