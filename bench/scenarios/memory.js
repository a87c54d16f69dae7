/**
 * Scenario 4: server memory per idle connection. RSS and V8 heap after GC, with N open idle
 * connections, minus the same figures of the same server before its first connection.
 */
import { closeAll, now, openMany, until } from './util.js';

const KB = 1024;

export default {
  name: 'memory',
  title: 'Memory per idle connection (server, after GC)',
  params: {
    full: { connections: 5_000, deadlineMs: 90_000 },
    quick: { connections: 1_000, deadlineMs: 20_000 },
    smoke: { connections: 200, deadlineMs: 15_000 },
  },
  fds: (p) => p.connections + 64,
  metrics: [
    { key: 'rssKbPerConn', label: 'RSS KB/conn', better: 'lower', goal: 1.3, bunGoal: 2 },
    { key: 'heapKbPerConn', label: 'heap KB/conn', better: 'lower' },
  ],
  async run(ctx) {
    const { connections: n, deadlineMs } = ctx.params;
    const deadline = now() + deadlineMs;
    const [base] = await ctx.server({ type: 'stats', gc: true });
    ctx.mark('start');
    const { clients, failures, errors } = await openMany(ctx, n, { concurrency: 200, deadline });
    try {
      // The server counts a connection a little after the client sees it open.
      await until(async () => (await ctx.server({ type: 'stats', gc: false }))[0].connections >= clients.length, deadline);
      const [full] = await ctx.server({ type: 'stats', gc: true });
      ctx.mark('end');
      const open = full.connections;
      return {
        metrics: {
          rssKbPerConn: (full.rss - base.rss) / KB / open,
          heapKbPerConn: (full.heapUsed + full.external - base.heapUsed - base.external) / KB / open,
        },
        counts: {
          connections: open,
          connectFailures: failures,
          connectErrors: errors,
          baseRssMb: base.rss / KB / KB,
          rssMb: full.rss / KB / KB,
          baseHeapMb: base.heapUsed / KB / KB,
          heapMb: full.heapUsed / KB / KB,
          externalMb: full.external / KB / KB,
          gcExposed: full.gcExposed,
        },
      };
    } finally {
      closeAll(clients);
    }
  },
};
