/**
 * `node bench/metrics-ab.js` (after `npm run build`): what `prometheus()` costs the server, measured
 * with metrics off and on, in alternating rounds (off/on, then on/off…) so a busy spell of the
 * machine hits both alike (docs/performance.md, "Metrics on and off"). Each round forks a fresh
 * server on 127.0.0.1 port 0 and warms it up with the very load it then measures, so the figures are
 * of compiled code, not of V8 compiling it (about half of a cold window's instructions are the JIT's,
 * and a server with more code to compile looks slower). The load: 20 clients with 50 calls in flight each (bounded:
 * `CALLS` calls), then `PUBLISHES` publishes to 10 subscribers. Only the processes it forked are
 * ended, by their handles.
 *
 *   node bench/metrics-ab.js [rounds]                  # server CPU µs per operation; default 8 rounds
 *   node bench/metrics-ab.js [rounds] --instructions   # instructions per call, counted by valgrind; default 3
 *
 * `--instructions` runs each server under `valgrind --tool=callgrind` (Debian's valgrind) with
 * instrumentation switched on for the measured window only: a count that does not depend on what
 * else the machine is doing. It is slow (about a minute per round).
 */
import { execFileSync, fork } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'switchboard/client';

const CLIENTS = 20;
const WINDOW = 50;
const SUBSCRIBERS = 10;

if (process.argv[2] === 'child') {
  const [, , , mode, counting] = process.argv;
  const { createServer, silentLogger } = await import('switchboard/server');
  const observe = mode === 'on' ? (await import('switchboard/metrics')).prometheus() : undefined;
  const server = createServer({ host: '127.0.0.1', port: 0, logger: silentLogger, limits: { rate: false, maxConnectionsPerIp: 10_000 }, ...(observe ? { observe } : {}) })
    .command('echo', (x) => x)
    .topic('fan', { subscribe: true, publish: true });
  const { port } = await server.listen();
  // The parent gone (ended, crashed): so is this server, instead of listening on.
  process.on('disconnect', () => process.exit(1));
  // Under callgrind, only the measured windows are instrumented.
  const instrument = (on) => counting === 'count' && execFileSync('callgrind_control', ['-i', on ? 'on' : 'off', String(process.pid)], { stdio: 'ignore' });
  let from;
  process.on('message', async (m) => {
    if (m === 'mark') {
      instrument(true);
      from = process.cpuUsage();
      process.send({ t: 'marked' });
    } else if (m === 'read') {
      const c = process.cpuUsage(from);
      instrument(false);
      process.send({ t: 'cpu', us: c.user + c.system });
    } else if (m === 'exit') {
      await server.close();
      process.exit(0);
    }
  });
  process.send({ t: 'port', port });
} else {
  const counting = process.argv.includes('--instructions');
  const rounds = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? (counting ? 3 : 8));
  if (counting) {
    for (const tool of ['valgrind', 'callgrind_control']) {
      try {
        execFileSync(tool, ['--version'], { stdio: 'ignore' });
      } catch {
        console.error(`--instructions needs ${tool} (Debian: apt-get install valgrind)`);
        process.exit(2);
      }
    }
  }
  const CALLS = counting ? 5_000 : 20_000;
  const PUBLISHES = counting ? 300 : 1_000;
  const WARMUP = { calls: 20_000, publishes: 1_000 };
  const outDir = counting ? mkdtempSync(join(tmpdir(), 'switchboard-metrics-ab-')) : undefined;
  /** The child's next message of type `t` (after sending `msg`, if given); rejects if the child exits first. */
  const fromChild = (child, t, msg) =>
    new Promise((resolve, reject) => {
      const h = (m) => {
        if (m.t !== t) return;
        off();
        resolve(m);
      };
      const exited = (code, signal) => {
        off();
        reject(new Error(`the server process exited (${signal ?? code}) before answering "${t}"`));
      };
      const off = () => (child.off('message', h), child.off('exit', exited));
      child.on('message', h);
      child.once('exit', exited);
      if (msg !== undefined) child.send(msg);
    });
  const ask = (child, msg, t) => fromChild(child, t, msg);

  /** Calls that failed (reported after the round; a failure would make the figures meaningless). */
  const failures = [];
  /** `n` calls, `WINDOW` in flight per client. */
  const pipelined = (clients, n) =>
    new Promise((resolve) => {
      let sent = 0;
      let done = 0;
      const fire = (c) => {
        while (sent < n && c.inflight < WINDOW) {
          sent++;
          c.inflight++;
          const answered = () => {
            c.inflight--;
            if (++done === n) resolve();
            else fire(c);
          };
          c.client.call('echo', { i: sent, s: 'hello world payload' }).then(answered, (err) => {
            failures.push(err);
            answered();
          });
        }
      };
      clients.map((client) => ({ client, inflight: 0 })).forEach(fire);
    });
  const publishes = async (client, n) => {
    for (let i = 0; i < n; i++) await client.publish('fan', { i, s: 'fan payload' });
  };

  /** Instructions counted in the window of callgrind's output file for `pid`. */
  const instructions = (pid) => {
    const file = readdirSync(outDir).find((f) => f.endsWith(`-${pid}.out`));
    const totals = /^totals: (\d+)/m.exec(readFileSync(join(outDir, file), 'utf8'));
    return Number(totals?.[1] ?? NaN);
  };

  async function round(mode) {
    const child = fork(fileURLToPath(import.meta.url), ['child', mode, counting ? 'count' : 'time'], {
      ...(counting
        ? { execPath: 'valgrind', execArgv: ['--tool=callgrind', '--instr-atstart=no', '--smc-check=all-non-file', `--callgrind-out-file=${outDir}/${mode}-%p.out`, process.execPath] }
        : {}),
    });
    const deadline = setTimeout(() => child.kill(), counting ? 1_200_000 : 120_000);
    let clients = [];
    try {
      const { port } = await fromChild(child, 'port');
      clients = await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          const c = connect(`ws://127.0.0.1:${port}/ws`, { reconnect: false });
          await c.call('echo', 0);
          return c;
        }),
      );
      await Promise.all(clients.slice(0, SUBSCRIBERS).map((c) => c.subscribe('fan', () => {}).ready));
      const publisher = clients[CLIENTS - 1];
      await pipelined(clients, WARMUP.calls);
      await publishes(publisher, WARMUP.publishes);
      // Callgrind counts one window per file: the calls when counting, both when timing.
      await ask(child, 'mark', 'marked');
      await pipelined(clients, CALLS);
      const rpc = (await ask(child, 'read', 'cpu')).us / CALLS;
      let fan = NaN;
      if (!counting) {
        await ask(child, 'mark', 'marked');
        await publishes(publisher, PUBLISHES);
        fan = (await ask(child, 'read', 'cpu')).us / (PUBLISHES * SUBSCRIBERS);
      }
      if (failures.length) throw new Error(`${failures.length} calls failed, the first: ${failures[0]?.message}`);
      clients.forEach((c) => c.close());
      const exited = new Promise((r) => child.once('exit', r));
      child.send('exit');
      await exited;
      return counting ? { rpc: instructions(child.pid) / CALLS, fan } : { rpc, fan };
    } finally {
      clearTimeout(deadline);
      clients.forEach((c) => c.close());
      if (child.exitCode === null && child.signalCode === null) child.kill();
    }
  }

  const res = { off: [], on: [] };
  for (let r = 0; r < rounds; r++) for (const m of r % 2 ? ['on', 'off'] : ['off', 'on']) res[m].push(await round(m));
  if (outDir) rmSync(outDir, { recursive: true, force: true });
  const median = (a) => {
    const s = [...a].sort((x, y) => x - y);
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  const unit = counting ? 'instructions' : 'server CPU µs';
  for (const [k, what] of [['rpc', 'pipelined call'], ['fan', 'delivery (sequential publishes)']]) {
    if (counting && k === 'fan') continue;
    const off = median(res.off.map((x) => x[k]));
    const on = median(res.on.map((x) => x[k]));
    const fmt = (v) => (counting ? Math.round(v).toLocaleString('en-US') : v.toFixed(2));
    console.log(`${unit} per ${what}: off ${fmt(off)}, on ${fmt(on)}, on/off ${(on / off).toFixed(3)}`);
    console.log(`  off: ${res.off.map((x) => fmt(x[k])).join(' ')}\n  on:  ${res.on.map((x) => fmt(x[k])).join(' ')}`);
  }
}
