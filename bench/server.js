/**
 * A bench server process (under Node, or Bun for a Bun stack): starts one stack's server on
 * 127.0.0.1, port 0, and answers the orchestrator over IPC. Exits when the orchestrator disconnects.
 *
 *   → { type: 'ready', port }
 *   ← { type: 'mark', name }   records process.cpuUsage() at a measurement boundary
 *   ← { type: 'stats', gc }    → { type: 'stats', rss, heapUsed, …, connections, marks }
 *   ← { type: 'publish', topic, count, deadlineMs }
 *                              publishes `count` fan payloads from the server, one per event-loop
 *                              turn → { type: 'published', sent, errors, ms }
 *
 * Environment: BENCH_SERVER (folder under bench/stacks), BENCH_OPTIONS (JSON).
 */
import { performance } from 'node:perf_hooks';
import { epochMs, fanPayload } from './stacks/payloads.js';

const name = process.env.BENCH_SERVER;
const options = JSON.parse(process.env.BENCH_OPTIONS ?? '{}');
const { start } = await import(`./stacks/${name}/server.js`);
const server = await start({ host: '127.0.0.1', ...options });
const marks = [];
/** Node's gc() (with --expose-gc) or Bun's synchronous full collection. */
const gc = globalThis.gc ?? (globalThis.Bun ? () => globalThis.Bun.gc(true) : undefined);

process.on('message', (m) => {
  if (m.type === 'mark') {
    marks.push({ name: m.name, t: performance.now(), cpu: process.cpuUsage() });
  } else if (m.type === 'publish') {
    void publishPerTurn(m).then((r) => process.send({ type: 'published', ...r }));
  } else if (m.type === 'stats') {
    if (m.gc && gc) {
      // Twice: the first pass may only schedule finalisers whose memory the second one frees.
      gc();
      gc();
    }
    const mem = process.memoryUsage();
    process.send({ type: 'stats', ...mem, connections: server.connections(), marks, gcExposed: typeof gc === 'function' });
  }
});
/**
 * One publish per event-loop turn, as an app whose every incoming event triggers one publish: the
 * next publish waits for `setImmediate`, so I/O callbacks and the server's per-tick flushes run in
 * between (docs/performance.md, "Two fan-out variants").
 */
async function publishPerTurn({ topic, count, deadlineMs }) {
  const stop = performance.now() + deadlineMs;
  const first = performance.now();
  let sent = 0;
  let errors = 0;
  while (sent < count && performance.now() < stop) {
    try {
      const p = server.publish(topic, fanPayload(sent, epochMs()));
      if (typeof p?.then === 'function') p.then(undefined, () => errors++);
    } catch {
      errors++;
    }
    sent++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { sent, errors, ms: performance.now() - first };
}

process.on('disconnect', () => {
  // A server whose close() hangs must still go: the orchestrator also SIGKILLs after a grace period.
  setTimeout(() => process.exit(0), 2_000).unref();
  Promise.resolve(server.close()).finally(() => process.exit(0));
});
process.send({ type: 'ready', port: server.port });
