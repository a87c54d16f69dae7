/**
 * `switchboard/nats`: the NATS JetStream engine for running several Switchboard servers as one
 * (docs/scaling.md, "NATS"). Needs `@nats-io/transport-node`, `@nats-io/jetstream` and
 * `@nats-io/kv`, optional peer dependencies, and a NATS server with JetStream (`nats-server -js`).
 *
 * @example
 * import { createServer } from 'switchboard/server';
 * import { natsEngine } from 'switchboard/nats';
 * const server = createServer({ engine: natsEngine({ url: 'nats://127.0.0.1:4222' }) });
 */
export { natsEngine, type NatsEngine } from './nats-engine.js';
export type { NatsEngineOptions } from './options.js';
