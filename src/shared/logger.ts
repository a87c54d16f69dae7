/**
 * The logger contract: a subset of pino's (`logger.error(obj, msg)`), so a pino instance can be
 * passed as is. Tokens and message payloads are never logged.
 */
export interface Logger {
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
  /**
   * Whether lines of `level` are written (pino's method). The server's development trace
   * (docs/server.md, "Diagnostics") runs only when this says `debug` is on; a logger without it
   * gets no trace, so tracing costs nothing unless asked for.
   */
  isLevelEnabled?(level: string): boolean;
}

/** Whether `logger` declares `debug` lines enabled; read once by whoever traces (never per frame). */
export function debugEnabled(logger: Logger): boolean {
  try {
    return typeof logger.isLevelEnabled === 'function' && logger.isLevelEnabled('debug') === true;
  } catch {
    return false;
  }
}

/** Default logger: errors and warnings to stderr, the rest dropped. */
export const consoleLogger: Logger = {
  error: (obj, msg) => console.error('[switchboard]', msg ?? '', obj),
  warn: (obj, msg) => console.warn('[switchboard]', msg ?? '', obj),
  info: () => {},
  debug: () => {},
};

/** A logger that drops everything (tests, benchmarks). */
export const silentLogger: Logger = { error() {}, warn() {}, info() {}, debug() {} };

/** Checks that `v` has the four methods of the {@link Logger} contract (a pino instance does). */
export function checkLogger(path: string, v: unknown): Logger {
  const l = v as Partial<Record<keyof Logger, unknown>> | null;
  if (typeof l !== 'object' || l === null || (['error', 'warn', 'info', 'debug'] as const).some((m) => typeof l[m] !== 'function')) {
    throw new TypeError(`${path} must be a logger with error, warn, info and debug methods (pino's work)`);
  }
  return v as Logger;
}
