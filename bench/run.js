/**
 * `npm run bench`: Switchboard (JSON, MessagePack) against raw `ws` and Socket.IO, side by side, and
 * (where the Bun binary runs) raw `Bun.serve` and Switchboard run by Bun.
 * Each run starts the stack's server in its own process and a load generator in another, on
 * 127.0.0.1 port 0; every loop is bounded in count and time, and every run has a hard deadline
 * after which its processes (only those it spawned) are killed. Prints a table with medians,
 * spreads and ratios, writes the raw figures to bench/results/, and a chart.
 *
 *   npm run bench                       # full: 3 repetitions (about 5–10 minutes on 2 vCPU)
 *   npm run bench -- --quick            # smoke run, under a minute
 *   npm run bench -- --smoke            # smaller still (CI: test/bench.smoke.test.ts)
 *   options: --reps=N  --only=rpc,fanout  --stacks=ws,switchboard-json  --out=file.json  --results=dir
 *            --set=fanout.window=8,rpc.calls=5000 (override scenario parameters)
 *            --profile=dir (servers run under --cpu-prof; summarise with bench/profile.js)
 *            --profile-load (with --profile: the load processes too)
 *            --chart=file.svg (default: docs/performance-chart.svg after a full run of everything)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { chartSvg } from './lib/chart.js';
import { fdLimits, request, startChild } from './lib/child.js';
import { goals, markdownReport, ratios, summarize, terminalReport } from './lib/report.js';
import { SCENARIOS } from './scenarios/index.js';
import { BUN, STACKS, stacksFor } from './stacks/index.js';
import { round } from './lib/stats.js';

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const option = (name) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const list = (name) => option(name)?.split(',').filter(Boolean);

const mode = flag('smoke') ? 'smoke' : flag('quick') ? 'quick' : 'full';
const reps = Number(option('reps') ?? (mode === 'full' ? 3 : 1));
const only = list('only');
const onlyStacks = list('stacks');
for (const s of only ?? []) if (!SCENARIOS.some((sc) => sc.name === s)) throw new Error(`unknown scenario ${s}`);
for (const s of onlyStacks ?? []) if (!STACKS[s]) throw new Error(`unknown stack ${s}`);
if (!(reps >= 1)) throw new Error('--reps must be at least 1');
const scenarios = SCENARIOS.filter((s) => {
  if (only && !only.includes(s.name)) return false;
  if (s.skip) console.log(`skip ${s.name}: ${s.skip}`);
  return !s.skip;
});
for (const assignment of list('set') ?? []) {
  const [, scName, key, value] = /^([\w-]+)\.(\w+)=(\d+)$/.exec(assignment) ?? [];
  const sc = SCENARIOS.find((s) => s.name === scName);
  if (!sc || !(key in sc.params[mode])) throw new Error(`--set ${assignment}: no numeric parameter ${scName}.${key}`);
  sc.params[mode] = { ...sc.params[mode], [key]: Number(value) };
}
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const resultsDir = option('results') ? `${option('results').replace(/\/$/, '')}/` : here('./results/');
const profileDir = option('profile');
const fullRun = mode === 'full' && !only && !onlyStacks && !profileDir;

const tty = process.stderr.isTTY;
let progressText = '';
function progress(text) {
  progressText = text;
  if (tty) process.stderr.write(`\r\x1b[K${text.slice(0, (process.stderr.columns || 120) - 1)}`);
}
function log(line) {
  if (tty) process.stderr.write('\r\x1b[K');
  process.stderr.write(`${line}\n`);
  if (tty && progressText) progress(progressText);
}

function loadAverage() {
  const [one, five, fifteen] = os.loadavg().map((x) => Math.round(x * 100) / 100);
  let uptime = '';
  try {
    uptime = execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    // not every system has uptime(1); os.loadavg() is what counts
  }
  return { one, five, fifteen, uptime };
}

function machine() {
  const cpuinfo = (() => {
    try {
      return readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return '';
    }
  })();
  const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  const versions = {};
  for (const pkg of ['ws', 'socket.io', 'socket.io-client', 'msgpackr', '@msgpack/msgpack']) {
    try {
      versions[pkg] = JSON.parse(readFileSync(here(`../node_modules/${pkg}/package.json`), 'utf8')).version;
    } catch {
      versions[pkg] = 'missing';
    }
  }
  let optional = {};
  for (const pkg of ['bufferutil', 'utf-8-validate']) {
    try {
      optional[pkg] = JSON.parse(readFileSync(here(`../node_modules/${pkg}/package.json`), 'utf8')).version;
    } catch {
      optional[pkg] = 'not installed';
    }
  }
  return { cpu: model, cores: os.cpus().length, node: process.version, bun: BUN.version ?? `not run: ${BUN.skip}`, platform: `${os.platform()} ${os.release()}`, memoryGb: Math.round(os.totalmem() / 2 ** 30), versions, optional };
}

const fd = fdLimits();
/**
 * CPU time (µs: in all, in user space, in the kernel) and share of one core (%) between the
 * 'start' and 'end' marks.
 */
const cpuOf = (marks) => {
  const a = marks.find((m) => m.name === 'start');
  const b = marks.findLast((m) => m.name === 'end');
  if (!a || !b || b.t <= a.t) return { us: NaN, userUs: NaN, sysUs: NaN, percent: NaN };
  const userUs = b.cpu.user - a.cpu.user;
  const sysUs = b.cpu.system - a.cpu.system;
  const us = userUs + sysUs;
  return { us, userUs, sysUs, percent: (us / 1000 / (b.t - a.t)) * 100 };
};

/**
 * One scenario × repetition for a group of stacks: fresh server process(es) per stack, one fresh
 * load process. The group is one stack, or every stack of an `interleaved` scenario (whose load
 * alternates between the stacks, so a busy spell of the machine hits all of them alike).
 * Returns one run per stack.
 */
async function runGroup(scenario, stackNames, params, label) {
  const wanted = Math.max(1024, scenario.fds?.(params) ?? 0);
  const fds = Math.min(wanted, fd.hard);
  const nodes = scenario.servers?.(params) ?? [{}];
  const started = performance.now();
  const children = [];
  const runs = stackNames.map((stack) => ({ scenario: scenario.name, stack, ok: false }));
  const hardDeadlineMs = params.deadlineMs + 30_000;
  const tag = stackNames.length === 1 ? stackNames[0] : 'interleaved';
  let timer;
  try {
    const serversOf = {};
    await Promise.all(
      stackNames.flatMap((stackName) => {
        const stack = STACKS[stackName];
        serversOf[stackName] = [];
        return nodes.map((node, i) =>
          startChild(here('./server.js'), {
            // Bun collects with Bun.gc (bench/server.js) and has no --cpu-prof.
            ...(stack.runtime === 'bun'
              ? { bin: BUN.path }
              : { execArgv: ['--expose-gc', ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}/${scenario.name}-${stackName}`] : [])] }),
            fds,
            env: { BENCH_SERVER: stack.server, BENCH_OPTIONS: JSON.stringify({ ...stack.options, ...node }) },
          }).then((h) => {
            children.push(h);
            serversOf[stackName][i] = h;
          }),
        );
      }),
    );
    const servers = Object.values(serversOf).flat();
    const load = await startChild(here('./load.js'), {
      fds,
      execArgv: profileDir && flag('profile-load') ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}/${scenario.name}-${tag}-load`] : [],
    });
    children.push(load);
    const targets = Object.fromEntries(stackNames.map((s) => [s, serversOf[s].map((h) => `ws://127.0.0.1:${h.first.port}`)]));
    const result = await new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no result within ${hardDeadlineMs} ms`)), hardDeadlineMs);
      load.child.on('message', async (m) => {
        if (m.type === 'mark') for (const s of servers) s.child.send({ type: 'mark', name: m.name });
        else if (m.type === 'progress') progress(`${label} · ${m.text}`);
        else if (m.type === 'server') {
          const replies = await Promise.all(servers.map((s) => request(s.child, m.msg, m.reply ?? 'stats', hardDeadlineMs)));
          load.child.send({ type: 'server-reply', id: m.id, replies });
        } else if (m.type === 'result') resolve(m.result);
        else if (m.type === 'error') reject(new Error(m.message));
      });
      load.child.once('exit', (code, signal) => reject(new Error(`load process exited (${code ?? signal})`)));
      load.child.send({ type: 'run', scenario: scenario.name, stacks: stackNames, params, targets });
    });
    const loadCpu = cpuOf(result.loadMarks).percent;
    for (const run of runs) {
      const own = scenario.interleaved ? result.byStack[run.stack] : result;
      const stats = await Promise.all(serversOf[run.stack].map((s) => request(s.child, { type: 'stats', gc: false }, 'stats')));
      const serverCpu = stats.map((st) => cpuOf(st.marks));
      const ops = scenario.ops?.(own);
      Object.assign(run, {
        ok: true,
        metrics: own.metrics,
        counts: own.counts,
        cpu: {
          server: Math.max(...serverCpu.map((c) => c.percent)),
          load: loadCpu,
          servers: serverCpu.map((c) => c.percent),
          // Summed over server nodes: what one operation costs the servers in all.
          serverUsPerOp: ops ? serverCpu.reduce((a, c) => a + c.us, 0) / ops : undefined,
          serverUserUsPerOp: ops ? serverCpu.reduce((a, c) => a + c.userUs, 0) / ops : undefined,
          serverSysUsPerOp: ops ? serverCpu.reduce((a, c) => a + c.sysUs, 0) / ops : undefined,
        },
      });
    }
  } catch (err) {
    const error = String(err?.message ?? err).split('\n').slice(0, 6).join('\n');
    for (const run of runs) Object.assign(run, { ok: false, error });
    log(`FAILED ${label}: ${error}`);
  } finally {
    clearTimeout(timer);
    await Promise.all(children.map((c) => c.stop(3_000)));
    for (const run of runs) run.wallMs = Math.round(performance.now() - started);
  }
  return runs;
}

const info = machine();
const loadStart = loadAverage();
log(`switchboard bench · ${mode} · ${info.cores} × ${info.cpu} · Node ${info.node} · Bun ${info.bun} · load ${loadStart.one} ${loadStart.five} ${loadStart.fifteen} · fd limit ${fd.soft}/${fd.hard}`);
const needed = Math.max(...scenarios.map((s) => s.fds?.(s.params[mode]) ?? 0));
if (needed > fd.hard) log(`warning: scenarios need ${needed} file descriptors per process; the hard limit is ${fd.hard}, so some connections will fail`);

const plan = [];
const repsOf = (sc) => Number(option('reps') ?? sc.params[mode].reps ?? reps);
for (const [name, s] of Object.entries(STACKS)) {
  if (s.skip && (!onlyStacks || onlyStacks.includes(name))) log(`skip stack ${name}: ${s.skip}`);
}
for (const sc of scenarios) {
  const stacks = stacksFor(sc, mode).filter((s) => !onlyStacks || onlyStacks.includes(s));
  for (let rep = 0; rep < repsOf(sc); rep++) {
    // Rotate the order each repetition, so no stack always runs first (cold) or last.
    const order = stacks.map((_, i) => stacks[(i + rep) % stacks.length]);
    if (sc.interleaved) plan.push({ sc, group: order, rep });
    else for (const stack of order) plan.push({ sc, group: [stack], rep });
  }
}

const t0 = performance.now();
const runs = [];
for (const [i, { sc, group, rep }] of plan.entries()) {
  const elapsed = ((performance.now() - t0) / 1000).toFixed(0);
  const who = group.length === 1 ? STACKS[group[0]].label : `${group.length} stacks interleaved`;
  const label = `[${i + 1}/${plan.length}] ${sc.name} · ${who} · rep ${rep + 1}/${repsOf(sc)} · ${elapsed} s`;
  progress(label);
  if (!tty) log(label);
  for (const run of await runGroup(sc, group, sc.params[mode], label)) runs.push({ rep: rep + 1, ...run });
}
progress('');
if (tty) process.stderr.write('\r\x1b[K');

const params = Object.fromEntries(scenarios.map((s) => [s.name, s.params[mode]]));
const summary = summarize(scenarios, runs);
const ratioTable = ratios(scenarios, summary);
const goalList = goals(scenarios, summary, ratioTable);
// Scale-out: fan-out over Redis with 2 and 3 nodes against 1 node, and 1 node against the in-memory
// engine of the same run (Switchboard JSON throughout).
const scaleRatios = {};
const sbFan = (name) => summary[name]?.['switchboard-json'];
for (const n of [1, 2, 3]) {
  const s = sbFan(`fanout-redis-${n}`);
  if (!s) continue;
  const r = {};
  if (sbFan('fanout')) r.vsMemory = round(s.deliveriesPerSec.median / sbFan('fanout').deliveriesPerSec.median, 3);
  if (n > 1 && sbFan('fanout-redis-1')) r.vsOneNode = round(s.deliveriesPerSec.median / sbFan('fanout-redis-1').deliveriesPerSec.median, 3);
  r.losses = s.losses.total;
  scaleRatios[`${n} node${n > 1 ? 's' : ''}`] = r;
}
// Sharded fan-out: three nodes on the cluster against one node on one Redis
// (bench/scenarios/shards.js), in deliveries/s and in the busiest Redis's CPU.
const shardRatios = {};
const base = sbFan('shards-redis-1');
for (const name of ['shards-cluster-3']) {
  const s = sbFan(name);
  if (!s || !base) continue;
  shardRatios[name] = {
    deliveriesVsOneRedisOneNode: round(s.deliveriesPerSec.median / base.deliveriesPerSec.median, 3),
    busiestRedisCpuVsOneRedis: round(s.redisBusiestPct.median / base.redisBusiestPct.median, 3),
    losses: s.losses.total,
  };
}
// The same on NATS, and each against Redis with as many nodes in the same run.
const natsRatios = {};
for (const n of [1, 2, 3]) {
  const s = sbFan(`fanout-nats-${n}`);
  if (!s) continue;
  const r = {};
  if (sbFan(`fanout-redis-${n}`)) r.vsRedis = round(s.deliveriesPerSec.median / sbFan(`fanout-redis-${n}`).deliveriesPerSec.median, 3);
  if (sbFan('fanout')) r.vsMemory = round(s.deliveriesPerSec.median / sbFan('fanout').deliveriesPerSec.median, 3);
  if (n > 1 && sbFan('fanout-nats-1')) r.vsOneNode = round(s.deliveriesPerSec.median / sbFan('fanout-nats-1').deliveriesPerSec.median, 3);
  r.losses = s.losses.total;
  natsRatios[`${n} node${n > 1 ? 's' : ''}`] = r;
}
const loadEnd = loadAverage();
const report = {
  date: new Date().toISOString(),
  mode,
  repetitions: Object.fromEntries(scenarios.map((sc) => [sc.name, repsOf(sc)])),
  durationS: Math.round((performance.now() - t0) / 1000),
  machine: { ...info, fdLimit: fd, loadAverage: { start: loadStart, end: loadEnd } },
  params,
  stacks: Object.fromEntries(Object.entries(STACKS).map(([k, v]) => [k, v.label])),
  runs,
  summary,
  ratios: ratioTable,
  goals: goalList,
  scaleRatios,
  shardRatios,
  natsRatios,
};

console.log(terminalReport(scenarios, params, summary, ratioTable, goalList));
if (Object.keys(scaleRatios).length) {
  console.log('\nFan-out over Redis (deliveries/s, Switchboard JSON): ratios');
  for (const [k, r] of Object.entries(scaleRatios)) {
    console.log(`  ${k}: ${r.vsMemory !== undefined ? `${r.vsMemory}× the in-memory engine` : ''}${r.vsOneNode !== undefined ? `, ${r.vsOneNode}× one Redis node` : ''}, losses ${r.losses}`);
  }
}
if (Object.keys(shardRatios).length) {
  console.log('\nFan-out over 3 topics (Switchboard JSON): ratios to 1 node on one Redis');
  for (const [k, r] of Object.entries(shardRatios)) {
    console.log(`  ${k}: ${r.deliveriesVsOneRedisOneNode}× the deliveries/s, busiest Redis at ${r.busiestRedisCpuVsOneRedis}× the CPU, losses ${r.losses}`);
  }
}
if (Object.keys(natsRatios).length) {
  console.log('\nFan-out over NATS (deliveries/s, Switchboard JSON): ratios');
  for (const [k, r] of Object.entries(natsRatios)) {
    const parts = [r.vsRedis !== undefined && `${r.vsRedis}× Redis with as many nodes`, r.vsMemory !== undefined && `${r.vsMemory}× the in-memory engine`, r.vsOneNode !== undefined && `${r.vsOneNode}× one NATS node`];
    console.log(`  ${k}: ${parts.filter(Boolean).join(', ')}, losses ${r.losses}`);
  }
}
const losses = runs.filter((r) => r.ok && r.scenario.startsWith('fanout') && r.metrics.losses > 0);
if (losses.length) console.log(`\nFAN-OUT LOSSES in ${losses.length} run(s): ${losses.map((r) => `${r.stack} rep ${r.rep}: ${r.metrics.losses}`).join(', ')}`);
const timedOut = runs.filter((r) => r.ok && r.counts?.timedOut);
if (timedOut.length) console.log(`\nDEADLINE reached before every message was delivered in ${timedOut.length} run(s) (rates stand, counts say how far it got): ${timedOut.map((r) => `${r.scenario} ${r.stack} rep ${r.rep}`).join(', ')}`);
const failed = runs.filter((r) => !r.ok);
const caption = `${info.cores} × ${info.cpu}, Node ${info.node}, ${mode} run, medians of ${[...new Set(scenarios.map(repsOf))].join('/')} repetitions, load average ${loadStart.one} at start, ${report.date.slice(0, 10)}`;

mkdirSync(resultsDir, { recursive: true });
const stamp = report.date.replace(/[:.]/g, '-');
const out = option('out') ?? `${resultsDir}bench-${mode}-${stamp}.json`;
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(`${resultsDir}latest-${mode}.json`, `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(`${resultsDir}latest-${mode}.md`, `${markdownReport(scenarios, params, summary, ratioTable)}\n`);
const chartPath = option('chart') ?? (fullRun ? here('../docs/performance-chart.svg') : `${resultsDir}chart-${mode}.svg`);
if (summary.rpc || summary.fanout) writeFileSync(chartPath, chartSvg(summary, caption));
console.log(`\n${caption}; load average at end ${loadEnd.one} ${loadEnd.five} ${loadEnd.fifteen}`);
console.log(`${runs.length} runs in ${report.durationS} s, ${failed.length} failed · figures: ${out} · table: ${resultsDir}latest-${mode}.md · chart: ${chartPath}`);
process.exitCode = failed.length ? 1 : 0;
