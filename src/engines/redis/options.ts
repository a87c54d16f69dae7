/**
 * Options of the Redis engine: one table of defaults, merged once (an explicit `undefined` keeps
 * the default), each value checked with the option's name in the TypeError.
 */
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { checkLogger, type Logger } from '../../shared/logger.js';
import { checkClusterPrefix } from './keys.js';
import { positiveMs, positiveNumber, withDefaults } from '../../shared/options.js';

/** A client the engine sends its commands with: one Redis (or Sentinel), or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/** Options of {@link redisEngine}. */
export interface RedisEngineOptions {
  /** Redis URL. Ignored when `client` is given. @default process.env.SWITCHBOARD_REDIS_URL ?? 'redis://127.0.0.1:6379' */
  url?: string;
  /**
   * An ioredis client to use for commands; the engine does not close it. A `Redis` (or Sentinel)
   * client is duplicated for pub/sub; give it `enableOfflineQueue: false` to fail fast while Redis
   * is down (the engine's own clients do). A `Cluster` client runs the engine on a Redis Cluster
   * (Redis >= 7): every topic's keys and channel on its own shard, fan-out on sharded pub/sub, one
   * subscriber connection per primary that carries a subscribed topic (docs/scaling.md, "Redis Cluster").
   * @default a client for `url`
   */
  client?: RedisClient;
  /**
   * The seed nodes of a Redis Cluster (Redis >= 7), as `redis://[user:password@]host:port` URLs (one
   * reachable node is enough; the others are discovered). The engine creates its own `Cluster`
   * client and closes it; it works as with a `Cluster` given as `client`. Not with `client`.
   * @default none: one Redis at `url`
   */
  cluster?: string[];
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
  client: undefined as RedisClient | undefined,
  cluster: undefined as string[] | undefined,
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
  const prefix = string('prefix', o.prefix);
  if (o.cluster !== undefined) {
    if (!Array.isArray(o.cluster) || o.cluster.length === 0 || !o.cluster.every((u) => typeof u === 'string')) {
      throw new TypeError('cluster must be a non-empty array of redis:// URLs of cluster nodes, e.g. ["redis://10.0.0.1:7000"]');
    }
    if (o.client !== undefined) throw new TypeError('cluster and client cannot both be given: pass your own ioredis Cluster as client, or the node URLs as cluster');
  }
  if (o.client?.isCluster || o.cluster) checkClusterPrefix(prefix);
  return {
    url: string('url', o.url),
    client: o.client,
    cluster: o.cluster,
    prefix,
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

/**
 * Options for the cluster client the engine creates (`cluster`): commands fail over to the new
 * primary after a failover or a resharding (MOVED/ASK, retried by ioredis), fail rather than queue
 * while the cluster cannot be reached, and the slot map is re-read every 5 s besides (a moved slot
 * is also noticed by the sharded subscriptions themselves).
 */
export const CLUSTER_OPTIONS: ClusterOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  slotsRefreshInterval: 5_000,
  clusterRetryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
  redisOptions: { maxRetriesPerRequest: 1 },
};
