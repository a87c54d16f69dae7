/**
 * `switchboard/pino`: structured logs with pino (an optional peer dependency, needed only by this
 * entry), with tokens, cookies and credentials redacted (docs/observability.md, "Logs").
 *
 * @example
 * import { createServer } from 'switchboard/server';
 * import { createPinoLogger } from 'switchboard/pino';
 * const server = createServer({ port: 8080, logger: createPinoLogger() });
 */
export { createPinoLogger, REDACTED_PATHS, type PinoLoggerOptions } from './pino.js';
