/**
 * `drainOnSignals`: the SIGTERM of a rolling deploy drains the server, then ends the process
 * (docs/deploy.md, "Rolling deploys"). Opt-in: a library never takes over a process's signals
 * unasked.
 */
import { bool, check, func, knownKeys, nonNegativeMs, withDefaults } from '../shared/options.js';
import { checkLogger, consoleLogger, type Logger } from '../shared/logger.js';
import type { DrainReport, Server } from './types.js';

/** Options of {@link drainOnSignals}. */
export interface DrainOnSignalsOptions {
  /** The signals that start the drain. A second one while draining ends the process at once. @default ['SIGTERM', 'SIGINT'] */
  signals?: NodeJS.Signals[];
  /** `server.drain({ timeoutMs })`. @default 20000 */
  timeoutMs?: number;
  /**
   * Runs after the drain, before the process exits: close what the server does not own (an engine
   * you passed in, a database pool), flush logs. A throw is logged and the process exits with 1.
   * @default nothing
   */
  beforeExit?: (report: DrainReport) => unknown;
  /** Whether to end the process (`process.exit(0)`) once drained; `false` leaves that to you. @default true */
  exit?: boolean;
  /** Where the drain is reported. @default errors/warnings to stderr */
  logger?: Logger;
}

const DEFAULTS = { signals: ['SIGTERM', 'SIGINT'] as NodeJS.Signals[], timeoutMs: 20_000, exit: true };

/**
 * Drains `server` when the process receives one of `signals`, then exits. A listener for a signal
 * replaces its default action (ending the process), which is why this is a helper you opt into and
 * why it exits itself; a second signal during the drain restores the default and re-raises it, so
 * an impatient Ctrl-C still ends the process at once. Returns a function that removes the listeners.
 *
 * @example
 * import { createServer, drainOnSignals } from 'switchboard/server';
 * const server = createServer({ port: 8080, health: true });
 * await server.listen();
 * drainOnSignals(server, { timeoutMs: 20_000, beforeExit: () => engine.close() });
 */
export function drainOnSignals(server: Pick<Server, 'drain'>, options: DrainOnSignalsOptions = {}): () => void {
  knownKeys('', options, ['signals', 'timeoutMs', 'beforeExit', 'exit', 'logger']);
  const o = withDefaults(DEFAULTS, { signals: options.signals, timeoutMs: options.timeoutMs, exit: options.exit });
  const signals = check<NodeJS.Signals[]>('signals', o.signals, Array.isArray(o.signals) && o.signals.length > 0 && o.signals.every((s) => typeof s === 'string'), 'a non-empty list of signal names');
  const timeoutMs = nonNegativeMs('timeoutMs', o.timeoutMs);
  const exit = bool('exit', o.exit);
  if (options.beforeExit !== undefined) func('beforeExit', options.beforeExit);
  const logger = options.logger === undefined ? consoleLogger : checkLogger('logger', options.logger);
  let draining = false;
  const remove = () => {
    for (const s of signals) process.off(s, onSignal);
  };
  function onSignal(signal: NodeJS.Signals): void {
    if (draining) {
      // The second signal: the default action (termination) now.
      remove();
      process.kill(process.pid, signal);
      return;
    }
    draining = true;
    logger.info({ signal, timeoutMs }, 'draining before exit');
    server
      .drain({ timeoutMs })
      .then(async (report) => {
        logger.info(report, 'drained');
        await options.beforeExit?.(report);
        if (exit) process.exit(0);
      })
      .catch((err: unknown) => {
        logger.error({ err }, 'drain failed');
        if (exit) process.exit(1);
      });
  }
  for (const s of signals) process.on(s, onSignal);
  return remove;
}
