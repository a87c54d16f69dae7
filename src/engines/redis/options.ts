/**
 * Options of the Redis engine: one table of defaults, merged once (an explicit `undefined` keeps
 * the default), each value checked with the option's name in the TypeError.
 */
import type { Redis, RedisOptions } from 'ioredis';
import { checkLogger, type Logger } from '../../shared/logger.js';
import { positiveMs, positiveNumber, withDefaults } from '../../shared/options.js';

/** Options of {@link redisEngine}. */
export interface RedisEngineOptions {
  /** Redis URL. Ignored when `client` is given. @default process.env.SWITCHBOARD_REDIS_URL ?? 'redis://127.0.0.1:6379' */
  url?: string;
  /**
   * An ioredis client to use for commands; the engine duplicates it for pub/sub and does not close
   * it. Give it `enableOfflineQueue: false` to fail fast while Redis is down (the engine's own
   * clients do). @default a client for `url`
   */
  client?: Redis;
  /** Prefix of every key and channel, to share a Redis between apps or environments. @default 'sb:' */
  prefix?: string;
  /** How long a node's presence entries outlive its last heartbeat (a killed node's ghosts vanish within it), in ms. @default 15000 */
  nodeTtlMs?: number;
  /** How long a topic's epoch and offset outlive its last publish or read, in ms. @default 86400000 (1 day) */
  historyMetaTtlMs?: number;
  /**
   * The deadline of every command the engine sends, in ms. A Redis that does not answer within it
   * is taken as frozen: a publish past it rejects with `OUTCOME_UNKNOWN`, other operations with
   * `UNAVAILABLE`, later ones fail at once, and `health()` is false until Redis answers a probe
   * (sent every `commandTimeoutMs`). Keep it above Redis's slowest normal answer.
   * @default 2000
   */
  commandTimeoutMs?: number;
  /**
   * Where the engine reports what it handles itself (a lost link, a failed heartbeat, a freeze).
   * @default the logger of the server it is attached to (`createServer({ logger })`); errors and
   * warnings to stderr before that
   */
  logger?: Logger;
}

/** The defaults of {@link RedisEngineOptions} (`url` first comes from `SWITCHBOARD_REDIS_URL`). */
const REDIS_DEFAULTS = {
  url: 'redis://127.0.0.1:6379',
  client: undefined as Redis | undefined,
  prefix: 'sb:',
  nodeTtlMs: 15_000,
  historyMetaTtlMs: 86_400_000,
  commandTimeoutMs: 2_000,
  logger: undefined as Logger | undefined,
};

/**
 * Merges `options` with {@link REDIS_DEFAULTS} (`undefined` keeps the default) and checks them.
 */
export function resolveRedisOptions(options: RedisEngineOptions | undefined): typeof REDIS_DEFAULTS {
  const o = withDefaults({ ...REDIS_DEFAULTS, url: process.env.SWITCHBOARD_REDIS_URL ?? REDIS_DEFAULTS.url }, options);
  const string = (path: string, v: unknown) => {
    if (typeof v !== 'string') throw new TypeError(`${path} must be a string, got ${typeof v}`);
    return v;
  };
  if (o.client !== undefined && (typeof o.client !== 'object' || o.client === null)) throw new TypeError('client must be an ioredis client');
  return {
    url: string('url', o.url),
    client: o.client,
    prefix: string('prefix', o.prefix),
    nodeTtlMs: positiveMs('nodeTtlMs', o.nodeTtlMs),
    historyMetaTtlMs: positiveNumber('historyMetaTtlMs', o.historyMetaTtlMs),
    commandTimeoutMs: positiveMs('commandTimeoutMs', o.commandTimeoutMs),
    logger: o.logger === undefined ? undefined : checkLogger('logger', o.logger),
  };
}

/** Options for the clients the engine creates: fail fast while disconnected, reconnect forever. */
export const CLIENT_OPTIONS: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  lazyConnect: true,
  retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
};
