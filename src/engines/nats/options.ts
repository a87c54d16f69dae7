/**
 * Options of the NATS engine: one table of defaults, merged once (an explicit `undefined` keeps
 * the default), each value checked with the option's name in the TypeError.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { checkLogger, type Logger } from '../../shared/logger.js';
import { check, knownKeys, positiveMs, positiveNumber, withDefaults } from '../../shared/options.js';

/** Options of {@link natsEngine}. */
export interface NatsEngineOptions {
  /**
   * NATS server URL(s), comma-separated for several. Ignored when `connection` is given.
   * @default process.env.SWITCHBOARD_NATS_URL ?? 'nats://127.0.0.1:4222'
   */
  url?: string;
  /**
   * A connection of your own (`connect()` of `@nats-io/transport-node`); the engine does not close
   * it. @default a connection to `url` that reconnects forever
   */
  connection?: NatsConnection;
  /**
   * First token of every subject, stream, and KV bucket name, to share a NATS account between apps
   * or environments: letters, digits, `-` and `_` only. @default 'sb'
   */
  prefix?: string;
  /** How long a node's presence entries outlive its last heartbeat (a killed node's ghosts vanish within it), in ms. @default 15000 */
  nodeTtlMs?: number;
  /**
   * How long a topic's history stream (and so its epoch and offset) outlives its last publish, in
   * ms: idle streams are deleted by the nodes' sweep. @default 86400000 (1 day)
   */
  historyMetaTtlMs?: number;
  /**
   * The deadline of every JetStream request (publish, history read, KV operation), in ms. A publish
   * past it rejects with `OUTCOME_UNKNOWN`, anything else with `UNAVAILABLE`.
   * @default 2000
   */
  commandTimeoutMs?: number;
  /**
   * How long an event whose predecessor has not arrived is held before the missing ones are read
   * from the topic's stream (they were published by another node whose fan-out copy is late, or
   * that died between storing and fanning out), in ms. @default 100
   */
  reorderWaitMs?: number;
  /**
   * How long the KV bucket of idempotent-call records keeps a record at most (the bucket's TTL), in
   * ms; keep it above the servers' `idempotency.ttlMs`. @default 86400000 (1 day)
   */
  callRecordMaxAgeMs?: number;
  /**
   * Where the engine reports what it handles itself (a lost link, a failed heartbeat).
   * @default the logger of the server it is attached to (`createServer({ logger })`); errors and
   * warnings to stderr before that
   */
  logger?: Logger;
}

/** The defaults of {@link NatsEngineOptions} (`url` first comes from `SWITCHBOARD_NATS_URL`). */
const NATS_DEFAULTS = {
  url: 'nats://127.0.0.1:4222',
  connection: undefined as NatsConnection | undefined,
  prefix: 'sb',
  nodeTtlMs: 15_000,
  historyMetaTtlMs: 86_400_000,
  commandTimeoutMs: 2_000,
  reorderWaitMs: 100,
  callRecordMaxAgeMs: 86_400_000,
  logger: undefined as Logger | undefined,
};

export type ResolvedNatsOptions = typeof NATS_DEFAULTS;

/** Merges `options` with {@link NATS_DEFAULTS} (`undefined` keeps the default) and checks them. */
export function resolveNatsOptions(options: NatsEngineOptions | undefined): ResolvedNatsOptions {
  const o = withDefaults({ ...NATS_DEFAULTS, url: process.env.SWITCHBOARD_NATS_URL ?? NATS_DEFAULTS.url }, knownKeys('', options, Object.keys(NATS_DEFAULTS)));
  if (o.connection !== undefined && (typeof o.connection !== 'object' || o.connection === null)) {
    throw new TypeError('connection must be a NATS connection (connect() of @nats-io/transport-node)');
  }
  return {
    url: check('url', o.url, typeof o.url === 'string' && o.url.length > 0, 'a NATS URL string'),
    connection: o.connection,
    prefix: check('prefix', o.prefix, typeof o.prefix === 'string' && /^[A-Za-z0-9_-]{1,32}$/.test(o.prefix), 'letters, digits, - and _ (1 to 32), as it names subjects, streams and buckets'),
    nodeTtlMs: positiveMs('nodeTtlMs', o.nodeTtlMs),
    historyMetaTtlMs: positiveNumber('historyMetaTtlMs', o.historyMetaTtlMs),
    commandTimeoutMs: positiveMs('commandTimeoutMs', o.commandTimeoutMs),
    reorderWaitMs: positiveMs('reorderWaitMs', o.reorderWaitMs),
    callRecordMaxAgeMs: positiveNumber('callRecordMaxAgeMs', o.callRecordMaxAgeMs),
    logger: o.logger === undefined ? undefined : checkLogger('logger', o.logger),
  };
}
