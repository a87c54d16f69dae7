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

/** Log levels by name, pino's numbers; `silent` writes nothing. */
export const LOG_LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;

/** A level name of {@link LOG_LEVELS}. */
export type LogLevel = keyof typeof LOG_LEVELS;

/** Whether `v` names a level. */
export function isLogLevel(v: unknown): v is LogLevel {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(LOG_LEVELS, v);
}

/**
 * The level `SWITCHBOARD_LOG_LEVEL` asks for (docs/observability.md, "Logs"): `undefined` when it is
 * unset or empty (or there is no `process`), the raw text when it is not a level name (the caller
 * says so), else the level.
 */
export function envLogLevel(): LogLevel | { invalid: string } | undefined {
  const raw = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.SWITCHBOARD_LOG_LEVEL;
  const v = raw?.trim().toLowerCase();
  if (!v) return undefined;
  return isLogLevel(v) ? v : { invalid: raw! };
}

let warnedLevel: string | undefined;

/** The default logger's level: `SWITCHBOARD_LOG_LEVEL`, else `warn`. Read at each line, so it follows the environment. */
function consoleLevel(): number {
  const env = envLogLevel();
  if (env === undefined) return LOG_LEVELS.warn;
  if (typeof env === 'object') {
    if (warnedLevel !== env.invalid) {
      warnedLevel = env.invalid;
      console.warn(`[switchboard] SWITCHBOARD_LOG_LEVEL=${JSON.stringify(env.invalid)} is not a level (${Object.keys(LOG_LEVELS).join(', ')}): logging at warn`);
    }
    return LOG_LEVELS.warn;
  }
  return LOG_LEVELS[env];
}

/**
 * Default logger: errors and warnings to stderr, the rest dropped; `SWITCHBOARD_LOG_LEVEL` moves
 * the threshold (`debug` turns on the development trace, `silent` drops everything).
 */
export const consoleLogger: Logger = {
  error: (obj, msg) => void (consoleLevel() <= LOG_LEVELS.error && console.error('[switchboard]', msg ?? '', obj)),
  warn: (obj, msg) => void (consoleLevel() <= LOG_LEVELS.warn && console.warn('[switchboard]', msg ?? '', obj)),
  info: (obj, msg) => void (consoleLevel() <= LOG_LEVELS.info && console.info('[switchboard]', msg ?? '', obj)),
  debug: (obj, msg) => void (consoleLevel() <= LOG_LEVELS.debug && console.debug('[switchboard]', msg ?? '', obj)),
  isLevelEnabled: (level) => isLogLevel(level) && consoleLevel() <= LOG_LEVELS[level],
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
