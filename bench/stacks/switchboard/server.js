/**
 * Switchboard's bench server: the public API only, limits raised where the bench itself would hit
 * them (rate limit, connections per IP), everything else at its default.
 */
import { createServer, silentLogger } from 'switchboard/server';
import { CHUNK, STREAM_ITEM } from '../payloads.js';

/**
 * `redis`: a Redis URL to run on the Redis engine (the scale-out scenarios), with `prefix`;
 * `cluster`: the node URLs of a Redis Cluster instead (bench/scenarios/shards.js);
 * `nats`: a NATS URL to run on the NATS JetStream engine instead.
 * `metrics`: observed by prometheus() (switchboard/metrics), to measure what metrics cost.
 */
export async function start({ host, redis, cluster, nats, prefix, metrics }) {
  const engine =
    redis || cluster
      ? (await import('switchboard/redis')).redisEngine({ ...(cluster ? { cluster } : { url: redis }), prefix, logger: silentLogger })
      : nats
        ? (await import('switchboard/nats')).natsEngine({ url: nats, prefix, logger: silentLogger })
        : undefined;
  const observe = metrics ? (await import('switchboard/metrics')).prometheus() : undefined;
  const server = createServer({
    host,
    ...(engine ? { engine } : {}),
    ...(observe ? { observe } : {}),
    logger: silentLogger,
    // The fallback's endpoints, for the SSE stack's clients (WebSocket clients never touch them).
    sse: true,
    limits: { rate: false, maxConnections: 100_000, maxConnectionsPerIp: 100_000, maxPayload: 16 * 1024 * 1024 },
  })
    .command('echo', (input) => input)
    .topic('fan', { subscribe: true, publish: true })
    .topic('fan:*', { subscribe: true, publish: true })
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
