/**
 * The live dashboard's server side: what the server measures about itself, sampled at the rate a
 * viewer asks for and delivered by the `metrics` stream (batched: items produced within 20 ms share
 * one frame, docs/streams.md#batching). Counters the demo keeps: frames in and out (from the
 * development trace, demo/lib/logger.js), calls by outcome (every command goes through
 * {@link Meter.counted}), and publishes.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { z } from 'zod';
import { ServerError } from 'switchboard/server';

/** The fastest and slowest sampling a viewer may ask for, in ms between samples. */
export const MIN_INTERVAL_MS = 5;
export const MAX_INTERVAL_MS = 2_000;
/** Rates are computed over this window, from totals snapshotted every {@link TICK_MS}. */
const RATE_WINDOW_MS = 1_000;
const TICK_MS = 100;

/** The `metrics` stream's input. */
export const metricsInput = z.strictObject({ intervalMs: z.number().int().min(MIN_INTERVAL_MS).max(MAX_INTERVAL_MS) });

/**
 * @typedef {object} Sample One point of the dashboard's charts.
 * @property {number} seq position in this stream, from 0 (a viewer sees any gap)
 * @property {number} t server time, ms since the epoch
 * @property {number} loopDelayMs event-loop delay, p99 over the last second
 * @property {number} connections open connections
 * @property {number} inPerSec frames received per second
 * @property {number} outPerSec frames sent to one connection per second (a topic message fanned out counts once per codec)
 * @property {number} publishesPerSec messages published per second (clients' and the server's)
 * @property {number} rssMb resident memory, MiB
 * @property {number} heapMb JavaScript heap in use, MiB
 * @property {number} callsOkPerSec commands that succeeded per second
 * @property {number} callsErrorPerSec commands that failed per second
 */

/**
 * @typedef {object} Meter
 * @property {{ ok: number, error: number }} calls totals by outcome
 * @property {() => void} published counts one publish
 * @property {<I, O>(handler: (input: I, ctx: unknown) => O | Promise<O>) => (input: I, ctx: unknown) => Promise<O>} counted wraps a command handler to count its outcome
 * @property {(seq: number) => Sample} sample the measurements now
 * @property {() => void} close stops the timers
 */

/**
 * Starts measuring `server`.
 *
 * @param {import('switchboard/server').Server} server
 * @param {{ in: number, out: number }} frames the logger's frame totals
 * @returns {Meter}
 */
export function createMeter(server, frames) {
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const calls = { ok: 0, error: 0 };
  let publishes = 0;
  let loopDelayMs = 0;
  /** Totals every TICK_MS over the last RATE_WINDOW_MS, oldest first. */
  const history = [];
  const totals = () => ({ at: performance.now(), in: frames.in, out: frames.out, publishes, ok: calls.ok, error: calls.error });
  let rates = { in: 0, out: 0, publishes: 0, ok: 0, error: 0 };
  let ticks = 0;
  const tick = setInterval(() => {
    const now = totals();
    history.push(now);
    while (history.length > 1 && now.at - history[0].at > RATE_WINDOW_MS) history.shift();
    const first = history[0];
    const secs = (now.at - first.at) / 1000;
    if (secs > 0) {
      const rate = (k) => (now[k] - first[k]) / secs;
      rates = { in: rate('in'), out: rate('out'), publishes: rate('publishes'), ok: rate('ok'), error: rate('error') };
    }
    if (++ticks % (RATE_WINDOW_MS / TICK_MS) === 0) {
      loopDelayMs = loop.count > 0 ? loop.percentile(99) / 1e6 : 0;
      loop.reset();
    }
  }, TICK_MS);
  tick.unref();

  return {
    calls,
    published: () => void publishes++,
    counted: (handler) => async (input, ctx) => {
      try {
        const out = await handler(input, ctx);
        calls.ok++;
        return out;
      } catch (err) {
        calls.error++;
        throw err;
      }
    },
    sample(seq) {
      const mem = process.memoryUsage();
      return {
        seq,
        t: Date.now(),
        loopDelayMs: round(loopDelayMs),
        connections: server.connections,
        inPerSec: round(rates.in),
        outPerSec: round(rates.out),
        publishesPerSec: round(rates.publishes),
        rssMb: round(mem.rss / 1048576),
        heapMb: round(mem.heapUsed / 1048576),
        callsOkPerSec: round(rates.ok),
        callsErrorPerSec: round(rates.error),
      };
    },
    close() {
      clearInterval(tick);
      loop.disable();
    },
  };
}

const round = (n) => Math.round(n * 100) / 100;

/** Resolves after `ms`, or at once when `signal` aborts (never rejects: the loop checks `signal`). */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Registers the `metrics` stream and the `probe` command (the dashboard's buttons make calls that
 * succeed or fail, so "calls by outcome" has something to show).
 *
 * @param {import('switchboard/server').Server} server
 * @param {Meter} meter
 */
export function registerDashboard(server, meter) {
  server.stream('metrics', { input: metricsInput, batch: { maxItems: 64, maxDelayMs: 20 } }, async function* ({ intervalMs }, ctx) {
    // Paced against the clock, not by chained timeouts, so timer lateness does not lower the rate;
    // after a long stall (a blocked loop) it starts afresh instead of bursting to catch up.
    let next = performance.now();
    for (let seq = 0; !ctx.signal.aborted; seq++) {
      next += intervalMs;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait, ctx.signal);
      else if (wait < -MAX_INTERVAL_MS) next = performance.now();
      if (ctx.signal.aborted) return;
      yield meter.sample(seq);
    }
  });
  server.command(
    'probe',
    { input: z.strictObject({ fail: z.boolean() }) },
    meter.counted(({ fail }) => {
      if (fail) throw new ServerError('PROBE_FAILED', 'This call fails on purpose (the dashboard asked it to)');
      return { at: Date.now() };
    }),
  );
}
