/**
 * Benchmark server process for bench/streams.js: serves the streams the load process measures,
 * prints its port as JSON on stdout, and exits when its parent disconnects.
 */
import { createServer, silentLogger } from 'switchboard/server';

const item100 = { seq: 0, payload: 'x'.repeat(80) }; // ~100 bytes encoded
const chunk = new Uint8Array(64 * 1024).map((_, i) => i & 0xff);

const server = createServer({ host: '127.0.0.1', logger: silentLogger, limits: { rate: false, maxPayload: 16 * 1024 * 1024 } })
  .stream('small', async function* ({ n }) {
    for (let i = 0; i < n; i++) yield { ...item100, seq: i };
  })
  .stream('small-batched', { batch: { maxItems: 256, maxDelayMs: 2 } }, async function* ({ n }) {
    for (let i = 0; i < n; i++) yield { ...item100, seq: i };
  })
  .stream('chunks', async function* ({ n }) {
    for (let i = 0; i < n; i++) yield chunk;
  });
const { port } = await server.listen();
process.stdout.write(`${JSON.stringify({ port })}\n`);
process.on('disconnect', () => void server.close().then(() => process.exit(0)));
