/**
 * The demo's logger: Switchboard's development trace (docs/server.md, "Diagnostics") is always on,
 * because the live dashboard counts the frames it reports; lines are printed only from the level
 * `SWITCHBOARD_DEMO_LOG` names (`error`, `warn` — the default —, `info`, `debug`), as JSON lines on
 * stderr, so a test can read the trace of the demo it started.
 */

const LEVELS = ['error', 'warn', 'info', 'debug'];
/**
 * Frame kinds printed at `debug`: the ones that open and close subscriptions and streams (a test
 * counts them to see that React's StrictMode left one of each per hook on the wire). Every other
 * frame is only counted: at 100+ dashboard updates per second they would drown the rest.
 */
const PRINTED_FRAMES = new Set(['sub', 'unsub', 'stream', 'cancel']);

/**
 * Creates the logger and its frame counters.
 *
 * @param {string | undefined} level the lowest level printed; `undefined` means `warn`
 * @returns {{ logger: import('switchboard/server').ServerOptions['logger'], frames: { in: number, out: number } }}
 */
export function createDemoLogger(level) {
  const wanted = level === undefined || level === '' ? 'warn' : level;
  const rank = LEVELS.indexOf(wanted);
  if (rank < 0) throw new TypeError(`SWITCHBOARD_DEMO_LOG must be one of ${LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  /** Frames the server received and sent to one connection, since the start (the trace's `frame` lines). */
  const frames = { in: 0, out: 0 };
  const print = (lvl) => (obj, msg) => {
    if (LEVELS.indexOf(lvl) > rank) return;
    const line = { level: lvl, msg: msg ?? '', ...obj };
    if (obj?.err instanceof Error) line.err = { message: obj.err.message, stack: obj.err.stack };
    process.stderr.write(`${JSON.stringify(line)}\n`);
  };
  const debugLine = print('debug');
  const logger = {
    error: print('error'),
    warn: print('warn'),
    info: print('info'),
    debug(obj, msg) {
      if (msg === 'frame') {
        if (obj.direction === 'in') frames.in++;
        else frames.out++;
        if (obj.direction !== 'in' || !PRINTED_FRAMES.has(obj.kind)) return;
      }
      debugLine(obj, msg);
    },
    isLevelEnabled: (lvl) => lvl === 'debug' || LEVELS.indexOf(lvl) <= rank,
  };
  return { logger, frames };
}
