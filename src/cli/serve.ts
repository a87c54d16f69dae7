/**
 * `switchboard serve`: a server from a config module, or the demo catalogue, for prototypes and
 * for trying the protocol (docs/cli.md, "serve"). Ends cleanly on SIGINT and SIGTERM.
 */
import type { Engine } from '../engines/engine.js';
import { jwt } from '../server/jwt.js';
import type { ServerOptions } from '../server/options.js';
import type { Logger } from '../shared/logger.js';
import { createServer } from '../server/server.js';
import { helpWanted, parse, port as parsePort, str, UsageError } from './args.js';
import { DEMO_SUMMARY, demoCatalogue } from './demo-catalogue.js';
import { loadConfig, type ServeConfig } from './serve-config.js';
import type { Style } from './style.js';
import { weakSecret } from './token.js';

/** Port `serve` listens on when neither `--port` nor the config says. */
export const DEFAULT_PORT = 8080;
/** Host `serve` binds when neither `--host` nor the config says: this machine only. */
export const DEFAULT_HOST = '127.0.0.1';

/** `switchboard serve --help`. */
export const SERVE_HELP = `Usage: switchboard serve [options]

Runs a Switchboard server: the one a config module describes, or a demo catalogue (echo, add,
whoami, a ticks stream, room:* topics with presence and history). Prints
"listening on ws://HOST:PORT/PATH" once it accepts connections; Ctrl-C (SIGINT) or SIGTERM
closes it cleanly.

Options:
  --config FILE    an ES module default-exporting (server) => server.command(…).topic(…)
                   or { options, setup } (see docs/cli.md)
  --port PORT      port; 0 picks a free one (default: the config's, else ${DEFAULT_PORT})
  --host HOST      address to bind (default: the config's, else ${DEFAULT_HOST}; 0.0.0.0 for every interface)
  --path PATH      URL path of the endpoint (default: the config's, else /ws)
  --redis URL      share topics, presence and history over Redis (needs the ioredis package)
  --secret SECRET  accept only HS256 JWTs signed with SECRET, as minted by switchboard token
                   (default: $SWITCHBOARD_JWT_SECRET when set and the config has no authenticate)
  -h, --help       this help
`;

/** The URL clients connect to, for the banner: a wildcard bind is reachable on loopback. */
export function displayUrl(host: string, port: number, path: string): string {
  const shown = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `ws://${shown.includes(':') ? `[${shown}]` : shown}:${port}${path}`;
}

/** `switchboard/redis`'s engine, imported only when asked for: it needs the optional `ioredis`. */
async function redisEngineFor(url: string): Promise<Engine> {
  try {
    const { redisEngine } = await import('../engines/redis/index.js');
    return redisEngine({ url });
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND' && /ioredis/.test(String((err as Error).message))) {
      throw new Error('--redis needs the ioredis package, an optional peer dependency of switchboard: npm install ioredis');
    }
    throw err;
  }
}

/** One `key=value` per field; an error as its message. */
function fields(obj: object): string {
  return Object.entries(obj)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}=${v instanceof Error ? JSON.stringify(v.message) : typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join('');
}

/**
 * `serve`'s logger when the config has none: errors, warnings and `info` lines (refused handshakes,
 * refused server-side subscriptions) on stderr, one line each; `debug` is off.
 */
export function serveLogger(err: NodeJS.WritableStream, style: Style): Logger {
  const line = (paint: (t: string) => string, level: string) => (obj: object, msg?: string) => void err.write(`${paint(`${level} ${msg ?? ''}`)}${style.dim(fields(obj))}\n`);
  return { error: line(style.error, 'error'), warn: line(style.warn, 'warn'), info: line((t) => t, 'info'), debug: () => {} };
}

/** Resolves with the first of SIGINT and SIGTERM; a second one ends the process at once. */
function firstSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      // A second Ctrl-C while closing: the user does not want to wait for the close handshakes.
      const force = () => process.exit(130);
      process.once('SIGINT', force);
      process.once('SIGTERM', force);
      resolve(signal);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/** Runs `switchboard serve` until a signal; resolves the exit code. */
export async function runServe(args: readonly string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream, style: Style, env: NodeJS.ProcessEnv): Promise<number> {
  const p = parse('serve', args, {
    config: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    path: { type: 'string' },
    redis: { type: 'string' },
    secret: { type: 'string' },
  }, false);
  if (helpWanted(p, SERVE_HELP, out)) return 0;
  const file = str(p, 'config');
  const config: ServeConfig = file !== undefined ? await loadConfig(file) : { setup: demoCatalogue };
  const options: ServerOptions = { ...config.options };
  if (options.server !== undefined) throw new UsageError(`${file}: options.server does not apply to switchboard serve, which runs its own HTTP server; use --port and --host`);
  options.port = str(p, 'port') !== undefined ? parsePort(str(p, 'port')!) : (options.port ?? DEFAULT_PORT);
  options.host = str(p, 'host') ?? options.host ?? DEFAULT_HOST;
  if (str(p, 'path') !== undefined) options.path = str(p, 'path')!;

  const secretFlag = str(p, 'secret');
  const secret = secretFlag ?? (options.authenticate === undefined ? env.SWITCHBOARD_JWT_SECRET || undefined : undefined);
  if (secret !== undefined) {
    if (options.authenticate !== undefined) throw new UsageError(`--secret and ${file}'s options.authenticate both set how clients authenticate; keep one`);
    const weak = weakSecret(secret);
    if (weak) throw new UsageError(weak);
    options.authenticate = jwt({ secret, algorithms: ['HS256'] });
  }
  let engine: Engine | undefined;
  const redisUrl = str(p, 'redis');
  if (redisUrl !== undefined) {
    if (options.engine !== undefined) throw new UsageError(`--redis and ${file}'s options.engine both set an engine; keep one`);
    engine = await redisEngineFor(redisUrl);
    options.engine = engine;
  }

  // Without a logger of the config's, refused handshakes (logged at info) are printed too: a
  // client that cannot connect is explained on both ends (docs/cli.md, "serve").
  options.logger ??= serveLogger(err, style);
  let server;
  try {
    server = createServer(options);
  } catch (e) {
    await engine?.close(); // it may be connecting already
    if (e instanceof TypeError) throw new UsageError(`invalid server options: ${e.message}`);
    throw e;
  }
  try {
    await config.setup(server);
    const { port } = await server.listen();
    const url = displayUrl(options.host, port, options.path ?? '/ws');
    out.write(`listening on ${url}\n`);
    if (file === undefined) {
      for (const line of DEMO_SUMMARY) out.write(`${style.dim(line)}\n`);
      out.write(`${style.dim(`try:      npx switchboard connect ${url}`)}\n`);
    }
    const signal = await firstSignal();
    err.write(`${style.dim(`${signal}: closing (open connections get 1001 and may reconnect elsewhere)…`)}\n`);
    return 0;
  } finally {
    await server.close();
    await engine?.close();
  }
}
