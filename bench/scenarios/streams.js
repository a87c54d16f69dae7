/**
 * Scenario 6 (Switchboard only, raw ws as the floor): a server-to-client stream of ~100-byte items,
 * the same batched 256 to a frame, and 64 KB binary chunks. Switchboard streams have credit-based
 * flow control; the floor sends as fast as its socket takes the bytes (ws/server.js).
 */
import { CHUNK_BYTES, ITEM_BYTES } from '../stacks/payloads.js';
import { closeAll, now } from './util.js';

const STREAMS = [
  { name: 'small', key: 'smallItemsPerSec', bytes: ITEM_BYTES, highWaterMark: 256, count: 'items' },
  { name: 'small-batched', key: 'batchedItemsPerSec', bytes: ITEM_BYTES, highWaterMark: 1024, count: 'items' },
  { name: 'chunks', key: 'chunksMBps', bytes: CHUNK_BYTES, highWaterMark: 16, count: 'chunks' },
];

export default {
  name: 'streams',
  title: 'Streams, server to client',
  stacks: ['switchboard-json', 'switchboard-msgpack', 'ws'],
  params: {
    full: { items: 200_000, chunks: 2_000, deadlineMs: 60_000 },
    quick: { items: 20_000, chunks: 200, deadlineMs: 15_000 },
    smoke: { items: 2_000, chunks: 20, deadlineMs: 10_000 },
  },
  metrics: [
    { key: 'smallItemsPerSec', label: 'items/s', better: 'higher' },
    { key: 'batchedItemsPerSec', label: 'batched items/s', better: 'higher' },
    { key: 'chunksMBps', label: '64 KB MB/s', better: 'higher' },
  ],
  async run(ctx) {
    const client = await ctx.open();
    const metrics = {};
    const counts = {};
    try {
      ctx.mark('start');
      for (const s of STREAMS) {
        const n = s.count === 'items' ? ctx.params.items : ctx.params.chunks;
        let got = 0;
        let bad = 0;
        const t0 = now();
        const run = client.stream(s.name, { n, highWaterMark: s.highWaterMark }, (item) => {
          if (s.count === 'chunks' ? item.byteLength !== CHUNK_BYTES : item.seq !== got) bad++;
          got++;
        });
        let timer;
        await Promise.race([run, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${s.name}: deadline`)), ctx.params.deadlineMs)))]);
        clearTimeout(timer);
        const rate = got / ((now() - t0) / 1000);
        metrics[s.key] = s.count === 'chunks' ? (rate * s.bytes) / 1e6 : rate;
        counts[s.name] = { received: got, expected: n, bad };
        if (got !== n || bad) throw new Error(`${s.name}: received ${got} of ${n}, ${bad} bad`);
      }
      ctx.mark('end');
      return { metrics, counts };
    } finally {
      closeAll([client]);
    }
  },
};
