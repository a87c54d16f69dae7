/**
 * A load-generator process: runs one scenario against one stack and reports its figures.
 *
 *   ← { type: 'run', scenario, stack, params, urls }
 *   → { type: 'mark', name }                    measurement boundary (relayed to the servers)
 *   → { type: 'server', id, msg }               a question for the servers (e.g. stats after GC)
 *   ← { type: 'server-reply', id, replies }
 *   → { type: 'progress', text }
 *   → { type: 'result', result } | { type: 'error', message }
 */
import { performance } from 'node:perf_hooks';
import { STACKS } from './stacks/index.js';
import { SCENARIOS } from './scenarios/index.js';

let nextQuestion = 1;
const waiting = new Map();
const marks = [];

process.on('message', async (m) => {
  if (m.type === 'server-reply') {
    waiting.get(m.id)?.(m.replies);
    waiting.delete(m.id);
    return;
  }
  if (m.type !== 'run') return;
  try {
    const stack = STACKS[m.stack];
    const scenario = SCENARIOS.find((s) => s.name === m.scenario);
    const { open } = await import(`./stacks/${stack.client}/client.js`);
    const ctx = {
      stack: m.stack,
      params: m.params,
      urls: m.urls,
      url: m.urls[0],
      open: (url = m.urls[0]) => open(url, stack.options),
      mark(name) {
        marks.push({ name, t: performance.now(), cpu: process.cpuUsage() });
        process.send({ type: 'mark', name });
      },
      server(msg) {
        const id = nextQuestion++;
        return new Promise((resolve) => {
          waiting.set(id, resolve);
          process.send({ type: 'server', id, msg });
        });
      },
      progress: (text) => process.send({ type: 'progress', text }),
    };
    const result = await scenario.run(ctx);
    process.send({ type: 'result', result: { ...result, loadMarks: marks } });
  } catch (err) {
    process.send({ type: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) });
  }
});
process.on('disconnect', () => process.exit(0));
process.send({ type: 'ready' });
