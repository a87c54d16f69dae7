/**
 * `node bench/metrics-ab.js` (after `npm run build`): what `prometheus()` costs the server, measured
 * as server-process CPU per operation with metrics off and on, in alternating rounds (off/on, then
 * on/off…) so a busy spell of the machine hits both alike (docs/performance.md, "Metrics on and
 * off"). Each round forks a fresh server on 127.0.0.1 port 0; the load is 20 clients with 50 calls in
 * flight each (bounded: `CALLS` calls), then `PUBLISHES` publishes to 10 subscribers. Only the
 * processes it forked are ended, by their handles.
 *
 *   node bench/metrics-ab.js [rounds]   # default 8 rounds of each
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect } from 'switchboard/client';

const CALLS = 20_000;
const CLIENTS = 20;
const WINDOW = 50;
const PUBLISHES = 1_000;
const SUBSCRIBERS = 10;

if (process.argv[2] === 'child') {
  const { createServer, silentLogger } = await import('switchboard/server');
  const observe = process.argv[3] === 'on' ? (await import('switchboard/metrics')).prometheus() : undefined;
  const server = createServer({ host: '127.0.0.1', port: 0, logger: silentLogger, limits: { rate: false, maxConnectionsPerIp: 10_000 }, ...(observe ? { observe } : {}) })
    .command('echo', (x) => x)
    .topic('fan', { subscribe: true, publish: true });
  const { port } = await server.listen();
  let from;
  process.on('message', async (m) => {
    if (m === 'mark') {
      from = process.cpuUsage();
      process.send({ t: 'marked' });
    } else if (m === 'read') {
      const c = process.cpuUsage(from);
      process.send({ t: 'cpu', us: c.user + c.system });
    } else if (m === 'exit') {
      await server.close();
      process.exit(0);
    }
  });
  process.send({ t: 'port', port });
} else {
  const rounds = Number(process.argv[2] ?? 8);
  const ask = (child, msg, t) =>
    new Promise((resolve) => {
      const h = (m) => {
        if (m.t !== t) return;
        child.off('message', h);
        resolve(m);
      };
      child.on('message', h);
      child.send(msg);
    });

  async function round(mode) {
    const child = fork(fileURLToPath(import.meta.url), ['child', mode]);
    const deadline = setTimeout(() => child.kill(), 120_000);
    try {
      const { port } = await new Promise((r) => child.once('message', r));
      const clients = await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          const c = connect(`ws://127.0.0.1:${port}/ws`, { reconnect: false });
          await c.call('echo', 0);
          return c;
        }),
      );
      await Promise.all(clients.slice(0, SUBSCRIBERS).map((c) => c.subscribe('fan', () => {}).ready));
      await ask(child, 'mark', 'marked');
      let sent = 0;
      let done = 0;
      await new Promise((resolve) => {
        const fire = (c) => {
          while (sent < CALLS && c.inflight < WINDOW) {
            sent++;
            c.inflight++;
            c.client.call('echo', { i: sent, s: 'hello world payload' }).then(() => {
              c.inflight--;
              if (++done === CALLS) resolve();
              else fire(c);
            });
          }
        };
        clients.map((client) => ({ client, inflight: 0 })).forEach(fire);
      });
      const rpc = (await ask(child, 'read', 'cpu')).us / CALLS;
      await ask(child, 'mark', 'marked');
      for (let i = 0; i < PUBLISHES; i++) await clients[CLIENTS - 1].publish('fan', { i, s: 'fan payload' });
      const fan = (await ask(child, 'read', 'cpu')).us / (PUBLISHES * SUBSCRIBERS);
      clients.forEach((c) => c.close());
      child.send('exit');
      await new Promise((r) => child.once('exit', r));
      return { rpc, fan };
    } finally {
      clearTimeout(deadline);
    }
  }

  const res = { off: [], on: [] };
  for (let r = 0; r < rounds; r++) for (const m of r % 2 ? ['on', 'off'] : ['off', 'on']) res[m].push(await round(m));
  const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  for (const [k, what] of [['rpc', 'pipelined call'], ['fan', 'delivery (sequential publishes)']]) {
    const off = median(res.off.map((x) => x[k]));
    const on = median(res.on.map((x) => x[k]));
    console.log(`server CPU µs per ${what}: off ${off.toFixed(2)}, on ${on.toFixed(2)}, on/off ${(on / off).toFixed(3)}`);
    console.log(`  off: ${res.off.map((x) => x[k].toFixed(1)).join(' ')}\n  on:  ${res.on.map((x) => x[k].toFixed(1)).join(' ')}`);
  }
}
