/**
 * Config modules for `switchboard serve --config file` (docs/cli.md, "Config modules"): an ES
 * module whose default export is a setup function or an `{ options, setup }` object.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ServerOptions } from '../server/options.js';
import type { Server } from '../server/types.js';
import { UsageError } from './args.js';

/** Registers commands, streams and topic rules on the server `serve` created; may be async. */
export type ServeSetup = (server: Server) => unknown;

/**
 * What a config module default-exports, in its long form. The short form is the `setup` function
 * alone.
 *
 * @example
 * // switchboard.config.js
 * import { jwt } from 'switchboard/server';
 * export default {
 *   options: { authenticate: jwt({ secret: process.env.JWT_SECRET, algorithms: ['HS256'] }) },
 *   setup: (server) => server.command('add', ({ a, b }) => a + b).topic('room:*', { subscribe: true }),
 * };
 */
export interface ServeConfig {
  /** `createServer` options; `--port`, `--host`, `--path` and `--redis` given on the command line win. @default {} */
  options?: ServerOptions;
  /** Registers what the server offers. */
  setup: ServeSetup;
}

/** Checks a config module's default export and returns it in the long form. */
export function normalizeConfig(file: string, exported: unknown): ServeConfig {
  if (typeof exported === 'function') return { setup: exported as ServeSetup };
  const c = exported as Partial<Record<keyof ServeConfig, unknown>> | null;
  const shape = 'must default-export a function (server) => server.command(…) or an object { options?, setup }';
  if (typeof c !== 'object' || c === null) throw new UsageError(`${file} ${shape}; it exports ${c === undefined ? 'no default' : typeof c}`);
  if (typeof c.setup !== 'function') throw new UsageError(`${file} ${shape}; its setup is not a function`);
  if (c.options !== undefined && (typeof c.options !== 'object' || c.options === null)) throw new UsageError(`${file}: options must be an object of createServer options`);
  return { setup: c.setup as ServeSetup, ...(c.options !== undefined ? { options: c.options as ServerOptions } : {}) };
}

/** Imports the config module at `file` (relative to the working directory). */
export async function loadConfig(file: string): Promise<ServeConfig> {
  const url = pathToFileURL(resolve(file)).href;
  let mod: { default?: unknown };
  try {
    mod = (await import(url)) as { default?: unknown };
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND' && String((err as Error).message).includes(url.replace(/^file:\/\//, ''))) {
      throw new UsageError(`--config: no such file: ${file}`);
    }
    // An error inside the config module: its stack says where, which its message alone does not.
    throw new Error(`${file} failed to load: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
  return normalizeConfig(file, mod.default);
}
