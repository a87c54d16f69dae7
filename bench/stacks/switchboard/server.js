/**
 * Switchboard's bench server: the public API only, limits raised where the bench itself would hit
 * them (rate limit, connections per IP), everything else at its default.
 */
import { createServer, silentLogger } from 'switchboard/server';
import { CHUNK, STREAM_ITEM } from '../payloads.js';

/** `redis` (or `nats`): a URL to run on the Redis (or NATS) engine (the scale-out scenarios), with `prefix`. */
export async function start({ host, redis, nats, prefix }) {
  const engine = redis
    ? (await import('switchboard/redis')).redisEngine({ url: redis, prefix, logger: silentLogger })
    : nats
      ? (await import('switchboard/nats')).natsEngine({ url: nats, prefix, logger: silentLogger })
      : undefined;
  const server = createServer({
    host,
    ...(engine ? { engine } : {}),
    logger: silentLogger,
    limits: { rate: false, maxConnections: 100_000, maxConnectionsPerIp: 100_000, maxPayload: 16 * 1024 * 1024 },
  })
    .command('echo', (input) => input)
    .topic('fan', { subscribe: true, publish: true })
    .stream('small', async function* ({ n }) {
      for (let i = 0; i < n; i++) yield { ...STREAM_ITEM, seq: i };
    })
    .stream('small-batched', { batch: { maxItems: 256, maxDelayMs: 2 } }, async function* ({ n }) {
      for (let i = 0; i < n; i++) yield { ...STREAM_ITEM, seq: i };
    })
    .stream('chunks', async function* ({ n }) {
      for (let i = 0; i < n; i++) yield CHUNK;
    });
  const { port } = await server.listen();
  return { port, connections: () => server.connections, publish: (topic, data) => server.publish(topic, data), close: async () => (await server.close(), await engine?.close()) };
}
