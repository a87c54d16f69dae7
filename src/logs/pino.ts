/**
 * `createPinoLogger()`: a pino logger for the server, the engines and the relay (anything taking a
 * `logger`), with Switchboard's redaction and level rules (docs/observability.md, "Logs"). pino is
 * an optional peer dependency, needed only by this entry.
 */
import { pino, type DestinationStream, type Logger as PinoLogger, type LoggerOptions } from 'pino';
import { envLogLevel, isLogLevel, LOG_LEVELS, type LogLevel } from '../shared/logger.js';
import { knownKeys } from '../shared/options.js';

/** Options of {@link createPinoLogger}. */
export interface PinoLoggerOptions {
  /**
   * The lowest level written.
   * @default `SWITCHBOARD_LOG_LEVEL`, else `silent` under a test runner (`NODE_ENV=test` or `VITEST`), else `info`
   */
  level?: LogLevel;
  /** More paths to redact, in pino's syntax (`'user.email'`, `'*.ssn'`), besides {@link REDACTED_PATHS}. @default [] */
  redact?: readonly string[];
  /** Fields on every line (`{ service: 'chat' }`). @default pino's (`pid`, `hostname`) */
  base?: Record<string, unknown> | null;
  /** Where lines go (a file, a transport, a test's capture). @default standard output */
  destination?: DestinationStream;
}

/**
 * Paths always redacted: tokens, passwords, secrets, credentials, API keys, authorization and
 * cookie headers and the subprotocol header (which may carry a token, docs/protocol.md §1.3), at the
 * top of a line's object and one level down (`req.headers.cookie` and `headers.cookie` alike). A URL
 * field (`url`, `*.url`) keeps its path but loses the values of `token`, `access_token`, `auth`
 * and `session` (an SSE fallback session id) query parameters.
 */
export const REDACTED_PATHS: readonly string[] = (() => {
  const fields = ['token', 'accessToken', 'access_token', 'refreshToken', 'idToken', 'password', 'secret', 'clientSecret', 'credentials', 'apiKey', 'authorization', 'cookie'];
  const headers = ['authorization', 'cookie', '"set-cookie"', '"proxy-authorization"', '"sec-websocket-protocol"', '"switchboard-protocol"', '"x-api-key"'];
  const h = headers.map((n) => (n.startsWith('"') ? `headers[${n}]` : `headers.${n}`));
  return [...fields, ...fields.map((f) => `*.${f}`), ...h, ...h.map((p) => `*.${p}`), ...h.map((p) => `*.*.${p}`), 'url', '*.url'];
})();

const QUERY_SECRET = /([?&](?:token|access_token|auth|session)=)[^&#]*/gi;

/** What a redacted path becomes: a URL keeps its path with its secret query values replaced. */
function censor(value: unknown, path: string[]): unknown {
  if (path[path.length - 1] === 'url') return typeof value === 'string' ? value.replace(QUERY_SECRET, '$1[Redacted]') : value;
  return '[Redacted]';
}

/** Whether a test runner runs us: lines are then dropped unless a level is asked for. */
function underTest(): boolean {
  const env = process.env;
  return env.NODE_ENV === 'test' || env.VITEST !== undefined;
}

/** The level from the options, else the environment, else the default of the situation. */
function resolveLevel(given: unknown): LogLevel {
  if (given !== undefined) {
    if (!isLogLevel(given)) throw new TypeError(`level must be one of ${Object.keys(LOG_LEVELS).join(', ')}, got ${JSON.stringify(given)}`);
    return given;
  }
  const env = envLogLevel();
  if (typeof env === 'object') throw new TypeError(`SWITCHBOARD_LOG_LEVEL must be one of ${Object.keys(LOG_LEVELS).join(', ')}, got ${JSON.stringify(env.invalid)}`);
  return env ?? (underTest() ? 'silent' : 'info');
}

/**
 * A pino logger with Switchboard's redaction (see {@link REDACTED_PATHS}) and level rules; pass it
 * as `logger` to `createServer`, `redisEngine`, the egress relay. At `debug` the server writes its
 * development trace: connections opened and closed, subscriptions, frames (docs/server.md,
 * "Diagnostics").
 *
 * @example
 * import { createPinoLogger } from 'switchboard/pino';
 * const server = createServer({ port: 8080, logger: createPinoLogger({ base: { service: 'chat' } }) });
 */
export function createPinoLogger(options: PinoLoggerOptions = {}): PinoLogger {
  knownKeys('', options, ['level', 'redact', 'base', 'destination']);
  if (options.redact !== undefined && !(Array.isArray(options.redact) && options.redact.every((p) => typeof p === 'string'))) {
    throw new TypeError('redact must be an array of paths (strings)');
  }
  const config: LoggerOptions = {
    level: resolveLevel(options.level),
    redact: { paths: [...REDACTED_PATHS, ...(options.redact ?? [])], censor },
    ...(options.base !== undefined ? { base: options.base } : {}),
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}
