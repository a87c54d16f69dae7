/**
 * A load-generator process: runs one scenario against one stack and reports its figures.
 *
 *   ← { type: 'run', scenario, stacks, params, targets: { [stack]: [baseUrl per node] } }
 *   → { type: 'mark', name }                    measurement boundary (relayed to the servers)
 *   → { type: 'server', id, msg, reply }        a question for the servers (e.g. stats after GC, or
 *                                               publish one message per turn), answered by `reply`
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
    const scenario = SCENARIOS.find((s) => s.name === m.scenario);
    const drivers = {};
    for (const name of m.stacks) drivers[name] = (await import(`./stacks/${STACKS[name].client}/client.js`)).open;
    const [first] = m.stacks;
    const ctx = {
      /** The stack under test (the first, for an interleaved scenario) and every stack of the run. */
      stack: first,
      stacks: m.stacks,
      params: m.params,
      /** Base URLs of the server nodes of `stack` (one per node). */
      urls: m.targets[first],
      url: m.targets[first][0],
      /** Opens a client of `stack` (default: the run's) to `url` (default: its first node). */
      open: (url, stack = first) => drivers[stack](url ?? m.targets[stack][0], STACKS[stack].options),
      mark(name) {
        marks.push({ name, t: performance.now(), cpu: process.cpuUsage() });
        process.send({ type: 'mark', name });
      },
      /** Asks every server node; resolves with their replies of type `reply`. */
      server(msg, reply = 'stats') {
        const id = nextQuestion++;
        return new Promise((resolve) => {
          waiting.set(id, resolve);
          process.send({ type: 'server', id, msg, reply });
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
