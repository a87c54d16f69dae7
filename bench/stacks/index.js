/**
 * The stacks under test. Each has a server module (run in its own process by bench/server.js) and
 * a client driver (run in the load process by bench/load.js) with one interface:
 *
 *   server: start({ host, ...options }) → { port, connections(), publish(topic, data), close() }
 *   client: open(baseUrl, options) → Promise<{ call, subscribe, publish, stream?, close }>
 *
 * Every server implements the same logic: an `echo` command, a `fan` topic that anyone may
 * subscribe and publish to, and (where streams exist) the `small`, `small-batched` and `chunks`
 * streams; `publish` is a publish by the server itself (the fan-out with one publish per
 * event-loop turn). To add a stack (e.g. Switchboard over the Redis engine), add a folder with
 * those two files and an entry here; a scenario that needs several server nodes says so with
 * `servers` (see bench/scenarios/index.js).
 *
 * An entry may say `runtime: 'bun'` (its server process runs under the Bun binary of
 * bench/lib/bun.js; skipped with the reason printed where that cannot run), `scenarios` (the only
 * scenarios it takes part in) and `smoke: false` (left out of `--smoke`, CI's run).
 */
import { bunBinary } from '../lib/bun.js';

export const BUN = bunBinary();
/** What a Bun stack can run: no streams on raw Bun, and the Node-side scenarios stay Node's. */
const BUN_SCENARIOS = ['rpc', 'fanout', 'fanout-turn', 'memory'];

export const STACKS = {
  'switchboard-json': { label: 'Switchboard JSON', server: 'switchboard', client: 'switchboard', options: { codec: 'json' } },
  'switchboard-msgpack': { label: 'Switchboard MsgPack', server: 'switchboard', client: 'switchboard', options: { codec: 'msgpack' } },
  // The SSE + HTTP fallback (docs/protocol.md §8) of the same server: what a client behind a proxy
  // that blocks WebSockets gets. Only in its own scenarios (bench/scenarios/fallback.js).
  'switchboard-sse': { label: 'Switchboard SSE fallback', server: 'switchboard', client: 'switchboard', options: { codec: 'json', transport: 'sse' }, scenarios: ['rpc-fallback', 'fanout-fallback'] },
  // Switchboard JSON with prometheus() observing it: the cost of metrics (docs/observability.md),
  // as the ratio to Switchboard JSON in the same run.
  'switchboard-metrics': { label: 'Switchboard JSON + metrics', server: 'switchboard', client: 'switchboard', options: { codec: 'json', metrics: true }, scenarios: ['rpc', 'pipelined', 'fanout'], smoke: false },
  ws: { label: 'raw ws', server: 'ws', client: 'ws', options: {} },
  socketio: { label: 'Socket.IO', server: 'socketio', client: 'socketio', options: {} },
  // The same server module as Switchboard JSON with default transport options, run by Bun: it
  // uses whatever createServer picks on Bun (docs/performance.md, "Bun stacks").
  'switchboard-bun': { label: 'Switchboard on Bun', server: 'switchboard', client: 'switchboard', options: { codec: 'json' }, runtime: 'bun', scenarios: BUN_SCENARIOS, smoke: false, skip: BUN.skip },
  bun: { label: 'raw Bun.serve', server: 'bun', client: 'ws', options: {}, runtime: 'bun', scenarios: BUN_SCENARIOS, smoke: false, skip: BUN.skip },
};

/**
 * The ratio columns, subject / baseline: Switchboard on Node against raw ws (the floor) and
 * Socket.IO; Switchboard on Bun against raw Bun (its floor) and raw ws; raw Bun against raw ws
 * (how far the runtime alone moves the floor).
 */
export const RATIOS = [
  ['switchboard-metrics', 'switchboard-json'],
  ['switchboard-json', 'ws'],
  ['switchboard-json', 'socketio'],
  ['switchboard-msgpack', 'ws'],
  ['switchboard-sse', 'switchboard-json'],
  ['switchboard-msgpack', 'socketio'],
  ['switchboard-bun', 'bun'],
  ['switchboard-bun', 'ws'],
  ['bun', 'ws'],
];

/**
 * The stacks whose figures have goals, and the floor each is measured against: a metric's `goal`
 * is against raw ws, its `bunGoal` against raw Bun; Node subjects must also be ahead of Socket.IO.
 */
export const GOAL_FLOOR = { 'switchboard-json': 'ws', 'switchboard-msgpack': 'ws', 'switchboard-bun': 'bun' };

/** The stacks that run `scenario` in `mode` ('full' | 'quick' | 'smoke') on this machine. */
export function stacksFor(scenario, mode) {
  return Object.keys(STACKS).filter((name) => {
    const s = STACKS[name];
    if (s.skip || (mode === 'smoke' && s.smoke === false)) return false;
    if (s.scenarios && !s.scenarios.includes(scenario.name)) return false;
    return !scenario.stacks || scenario.stacks.includes(name);
  });
}
