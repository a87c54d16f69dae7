/**
 * `switchboard/redis`: the Redis engine for running several Switchboard servers as one
 * (docs/scaling.md). Needs the `ioredis` package, an optional peer dependency.
 *
 * @example
 * import { createServer } from 'switchboard/server';
 * import { redisEngine } from 'switchboard/redis';
 * const server = createServer({ engine: redisEngine({ url: 'redis://127.0.0.1:6379' }) });
 */
export { redisEngine, type RedisEngine } from './redis-engine.js';
export type { RedisEngineOptions } from './options.js';
export { redisEmitter, type RedisEmitter, type RedisEmitterOptions } from './external-emitter.js';
