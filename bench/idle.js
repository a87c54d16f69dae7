/**
 * Idle connections: what N open, silent connections cost each side with a short heartbeat, for
 * Switchboard against the raw `ws` floor (docs/performance.md, "Idle connections").
 *
 *   npm run build && node bench/idle.js [connections=2000] [windowMs=30000] [intervalMs=5000]
 *
 * Three processes per stack: this one orchestrates over IPC, a server and a load process (the
 * clients). Raw ws runs the heartbeat its README recommends (every interval, terminate whoever did
 * not answer the previous Ping, then Ping everyone); Switchboard runs its own heartbeat on both ends
 * with the same interval. After all clients are open and one interval has passed, both processes
 * measure their CPU (process.cpuUsage, user + system) over the same fixed window, then the load
 * process reports its heap + external per connection after a forced GC, against its own figure
 * before the first connection. Loopback only; every count and wait is bounded.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

const self = fileURLToPath(import.meta.url);
const [role, stack, ...rest] = process.argv.slice(2);
const HOST = '127.0.0.1';
const KB = 1024;

/** A forced GC whether or not --expose-gc was passed. */
function gc() {
  v8.setFlagsFromString('--expose-gc');
  const collect = vm.runInNewContext('gc');
  collect();
  collect();
}

function memory() {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** Measures this process's CPU over `windowMs`, as a percentage of one core. */
async function cpuOver(windowMs) {
  const start = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, windowMs));
  const used = process.cpuUsage(start);
  return ((used.user + used.system) / 1000 / (performance.now() - t0)) * 100;
}

/** The child's next message; `msg` is sent first when given. */
const ask = (child, msg) =>
  new Promise((resolve, reject) => {
    const onExit = (code) => reject(new Error(`child exited with ${code} before answering`));
    child.once('message', (m) => {
      child.off('exit', onExit);
      resolve(m);
    });
    child.once('exit', onExit);
    if (msg) child.send(msg);
  });

// ---- server process -------------------------------------------------------------------------------
async function server(intervalMs) {
  let port;
  let count;
  if (stack === 'ws') {
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ host: HOST, port: 0, perMessageDeflate: false });
    await new Promise((r) => wss.once('listening', r));
    wss.on('connection', (ws) => {
      ws.isAlive = true;
      ws.on('error', () => {});
      ws.on('pong', () => (ws.isAlive = true));
    });
    // The heartbeat of ws's README: one timer, a flag per connection.
    setInterval(() => {
      for (const ws of wss.clients) {
        if (!ws.isAlive) {
          ws.terminate();
          continue;
        }
        ws.isAlive = false;
        ws.ping();
      }
    }, intervalMs).unref();
    port = wss.address().port;
    count = () => wss.clients.size;
  } else {
    const { createServer, silentLogger } = await import('switchboard/server');
    const sb = createServer({
      host: HOST,
      logger: silentLogger,
      heartbeat: { intervalMs, timeoutMs: intervalMs },
      limits: { rate: false, maxConnections: 100_000, maxConnectionsPerIp: 100_000 },
    });
    ({ port } = await sb.listen());
    count = () => sb.connections;
  }
  process.on('message', async (m) => {
    if (m.type === 'count') process.send({ connections: count() });
    else if (m.type === 'cpu') process.send({ cpu: await cpuOver(m.windowMs) });
    else if (m.type === 'exit') process.exit(0);
  });
  process.send({ port });
}

// ---- load process ---------------------------------------------------------------------------------
async function load(port, n, intervalMs) {
  const url = `ws://${HOST}:${port}${stack === 'ws' ? '' : '/ws'}`;
  let openOne;
  if (stack === 'ws') {
    const { default: WebSocket } = await import('ws');
    openOne = () =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(url, { perMessageDeflate: false });
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
      });
  } else {
    const { connect } = await import('switchboard/client');
    openOne = () =>
      new Promise((resolve, reject) => {
        const c = connect(url, { reconnect: false, heartbeat: { intervalMs, timeoutMs: intervalMs } });
        c.on('error', reject);
        c.on('open', () => resolve(c));
      });
  }
  const before = memory();
  const clients = [];
  for (let i = 0; i < n; i += 200) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 200); j++) batch.push(openOne());
    clients.push(...(await Promise.all(batch)));
  }
  process.on('message', async (m) => {
    if (m.type === 'cpu') process.send({ cpu: await cpuOver(m.windowMs) });
    else if (m.type === 'memory') process.send({ heapKbPerConn: (memory() - before) / KB / clients.length });
    else if (m.type === 'exit') process.exit(0);
  });
  process.send({ opened: clients.length });
}

// ---- orchestrator ---------------------------------------------------------------------------------
async function runStack(name, n, windowMs, intervalMs) {
  const srv = fork(self, ['server', name, String(intervalMs)], { stdio: 'inherit' });
  const { port } = await ask(srv);
  const ld = fork(self, ['load', name, String(port), String(n), String(intervalMs)], { stdio: 'inherit' });
  try {
    const { opened } = await ask(ld);
    const { connections } = await ask(srv, { type: 'count' });
    // One interval first, so both sides are in their steady heartbeat rhythm.
    await new Promise((r) => setTimeout(r, intervalMs + 500));
    const [s, l] = await Promise.all([ask(srv, { type: 'cpu', windowMs }), ask(ld, { type: 'cpu', windowMs })]);
    const { connections: after } = await ask(srv, { type: 'count' });
    const { heapKbPerConn } = await ask(ld, { type: 'memory' });
    return { stack: name, opened, connections, after, serverCpu: s.cpu, loadCpu: l.cpu, heapKbPerConn };
  } finally {
    srv.kill();
    ld.kill();
  }
}

if (role === 'server') {
  await server(Number(rest[0]));
} else if (role === 'load') {
  await load(Number(rest[0]), Number(rest[1]), Number(rest[2]));
} else {
  const n = Number(process.argv[2] ?? 2000);
  const windowMs = Number(process.argv[3] ?? 30_000);
  const intervalMs = Number(process.argv[4] ?? 5000);
  const rows = [];
  for (const name of ['ws', 'switchboard']) rows.push(await runStack(name, n, windowMs, intervalMs));
  const [ws, sb] = rows;
  const f = (x) => x.toFixed(2);
  console.log(`${n} idle connections, heartbeat ${intervalMs} ms, CPU over ${windowMs} ms (% of one core)`);
  console.log('| | raw ws | Switchboard | ratio |');
  console.log('|---|---:|---:|---:|');
  console.log(`| server CPU | ${f(ws.serverCpu)} % | ${f(sb.serverCpu)} % | ${f(sb.serverCpu / ws.serverCpu)}× |`);
  console.log(`| load process CPU | ${f(ws.loadCpu)} % | ${f(sb.loadCpu)} % | ${f(sb.loadCpu / ws.loadCpu)}× |`);
  console.log(`| client heap + external per connection | ${f(ws.heapKbPerConn)} KB | ${f(sb.heapKbPerConn)} KB | ${f(sb.heapKbPerConn / ws.heapKbPerConn)}× |`);
  console.log(`connections open at the end: ws ${ws.after}/${ws.opened}, switchboard ${sb.after}/${sb.opened}`);
}
