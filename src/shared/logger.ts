/**
 * The logger contract: a subset of pino's (`logger.error(obj, msg)`), so a pino instance can be
 * passed as is. Tokens and message payloads are never logged.
 */
export interface Logger {
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
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
