/**
 * Stream throughput benchmark (not a test): items/s and MB/s for ~100-byte items and 64 KB binary
 * chunks, JSON vs MessagePack, with the server in its own process. Bounded in items and repetitions;
 * prints a table and writes bench/results/streams.json. Ratios between rows are what to quote —
 * absolute figures drift between machines.
 *
 *   npm run bench:streams            # full: 200,000 small items, 2,000 chunks (128 MB), 3 repetitions
 *   npm run bench:streams -- --quick # smoke: 20,000 items, 200 chunks, 1 repetition
 */
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { connect } from 'switchboard/client';

const quick = process.argv.includes('--quick');
const REPS = quick ? 1 : 3;
const SMALL = quick ? 20_000 : 200_000;
const CHUNKS = quick ? 200 : 2_000;

const child = fork(new URL('./stream-server.js', import.meta.url), [], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
const { port } = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('server did not start within 10 s')), 10_000);
  child.stdout.once('data', (d) => (clearTimeout(timer), resolve(JSON.parse(String(d)))));
});

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rows = [];
try {
  for (const codec of ['json', 'msgpack']) {
    const client = connect(`ws://127.0.0.1:${port}/ws`, { codec, reconnect: false });
    for (const [stream, n, bytesPerItem, hwm] of [
      ['small', SMALL, 100, 256],
      ['small-batched', SMALL, 100, 1024],
      ['chunks', CHUNKS, 65_536, 16],
    ]) {
      const rates = [];
      for (let rep = 0; rep < REPS; rep++) {
        process.stderr.write(`\r${codec} ${stream} rep ${rep + 1}/${REPS}…          `);
        const t0 = process.hrtime.bigint();
        let count = 0;
        for await (const item of client.stream(stream, { n }, { highWaterMark: hwm })) {
          count++;
          if (stream === 'chunks' && item.byteLength !== 65_536) throw new Error('bad chunk');
        }
        if (count !== n) throw new Error(`${stream}: got ${count} of ${n}`);
        rates.push(n / (Number(process.hrtime.bigint() - t0) / 1e9));
      }
      const itemsPerSec = median(rates);
      rows.push({ codec, stream, items: n, itemsPerSec: Math.round(itemsPerSec), mbPerSec: +((itemsPerSec * bytesPerItem) / 1e6).toFixed(1), spread: rates.map((r) => Math.round(r)) });
    }
    client.close();
  }
} finally {
  child.disconnect();
}
process.stderr.write('\r' + ' '.repeat(40) + '\r');
console.table(rows.map(({ spread, ...r }) => r));
const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, quick };
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/streams.json', import.meta.url), `${JSON.stringify({ date: new Date().toISOString(), machine, rows }, null, 2)}\n`);
console.log(`machine: ${machine.cpus} × ${machine.cpu}, Node ${machine.node}; written to bench/results/streams.json`);
