/**
 * Turns the runs into a summary (median and spread per metric), ratios against the baselines,
 * the goals against raw ws, a terminal table and a Markdown table.
 */
import { GOAL_FLOOR, RATIOS, STACKS } from '../stacks/index.js';
import { round, spread } from './stats.js';

/** Server CPU per operation: in all, in user space, in the kernel (µs, summed over nodes). */
const CPU_KEYS = ['serverUsPerOp', 'serverUserUsPerOp', 'serverSysUsPerOp'];
const CPU_LABELS = { serverUsPerOp: 'server CPU µs/op', serverUserUsPerOp: 'user µs/op', serverSysUsPerOp: 'kernel µs/op' };

/** Median / min / max per scenario, stack and metric, over the runs that completed. */
export function summarize(scenarios, runs) {
  const summary = {};
  for (const sc of scenarios) {
    summary[sc.name] = {};
    for (const stack of new Set(runs.filter((r) => r.scenario === sc.name).map((r) => r.stack))) {
      const ok = runs.filter((r) => r.scenario === sc.name && r.stack === stack && r.ok);
      const entry = { runs: ok.length, failedRuns: runs.filter((r) => r.scenario === sc.name && r.stack === stack && !r.ok).length };
      for (const m of sc.metrics) {
        const values = ok.map((r) => r.metrics[m.key]);
        // Counts that must be zero are summed over repetitions, never averaged away.
        entry[m.key] = m.exact ? { total: values.reduce((a, b) => a + b, 0), ...spread(values) } : spread(values);
      }
      if (sc.ops) for (const k of CPU_KEYS) entry[k] = spread(ok.map((r) => r.cpu[k]));
      entry.serverCpu = spread(ok.map((r) => r.cpu.server));
      entry.loadCpu = spread(ok.map((r) => r.cpu.load));
      summary[sc.name][stack] = entry;
    }
  }
  return summary;
}

/** Ratios of medians, subject / baseline, for every metric that is not an exact count. */
export function ratios(scenarios, summary) {
  const out = {};
  for (const sc of scenarios) {
    const s = summary[sc.name];
    out[sc.name] = {};
    for (const [subject, base] of RATIOS) {
      if (!s[subject] || !s[base]) continue;
      const r = {};
      for (const m of sc.metrics) {
        if (m.exact) continue;
        r[m.key] = round(s[subject][m.key].median / s[base][m.key].median, 3);
      }
      if (sc.ops) for (const k of CPU_KEYS) r[k] = round(s[subject][k].median / s[base][k].median, 3);
      out[sc.name][`${subject}/${base}`] = r;
    }
  }
  return out;
}

/**
 * The goals: the ratio to the subject's floor (GOAL_FLOOR: raw ws on Node, raw Bun on Bun) per
 * metric that has one (`goal` against raw ws, `bunGoal` against raw Bun, `cpuGoals` of the
 * scenario against raw ws), and "ahead of Socket.IO on every figure"; exact counts (losses,
 * failures) must be 0.
 */
export function goals(scenarios, summary, ratioTable) {
  const out = [];
  for (const sc of scenarios) {
    for (const [subject, floor] of Object.entries(GOAL_FLOOR)) {
      if (!summary[sc.name][subject]) continue;
      const floorLabel = label(floor);
      for (const m of sc.metrics) {
        if (m.exact) {
          const total = summary[sc.name][subject][m.key].total;
          out.push({ scenario: sc.name, stack: subject, metric: m.key, target: '= 0', value: total, met: total === 0 });
          continue;
        }
        const goal = floor === 'bun' ? m.bunGoal : m.goal;
        const vsFloor = ratioTable[sc.name][`${subject}/${floor}`]?.[m.key];
        if (goal !== undefined && vsFloor !== undefined) {
          const met = m.better === 'higher' ? vsFloor >= goal : vsFloor <= goal;
          out.push({ scenario: sc.name, stack: subject, metric: m.key, target: `${m.better === 'higher' ? '≥' : '≤'} ${goal}× ${floorLabel}`, value: vsFloor, met });
        }
        const vsSio = ratioTable[sc.name][`${subject}/socketio`]?.[m.key];
        if (vsSio !== undefined) {
          const met = m.better === 'higher' ? vsSio > 1 : vsSio < 1;
          out.push({ scenario: sc.name, stack: subject, metric: m.key, target: 'ahead of Socket.IO', value: vsSio, met });
        }
      }
      for (const [key, goal] of floor === 'ws' ? Object.entries(sc.cpuGoals ?? {}) : []) {
        const vsWs = ratioTable[sc.name][`${subject}/ws`]?.[key];
        if (vsWs !== undefined) out.push({ scenario: sc.name, stack: subject, metric: key, target: `≤ ${goal}× raw ws`, value: vsWs, met: vsWs <= goal });
      }
    }
  }
  return out;
}

const fmt = (x) => {
  if (!Number.isFinite(x)) return '–';
  const r = round(x, 3);
  return Math.abs(r) >= 1000 ? Math.round(r).toLocaleString('en-US') : String(r);
};
const cell = (sp, showSpread) => (sp.n > 1 && showSpread ? `${fmt(sp.median)} [${fmt(sp.min)}–${fmt(sp.max)}]` : fmt(sp.median));
const label = (stack) => STACKS[stack]?.label ?? stack;
const short = (key) => key.replace('switchboard-json', 'SB JSON').replace('switchboard-msgpack', 'SB MsgPack').replace('switchboard-bun', 'SB on Bun').replace('socketio', 'Socket.IO').replace(/^bun\//, 'raw Bun/').replace(/\/bun$/, '/raw Bun').replace(/\/ws$/, '/raw ws').replace('/', ' / ');

function rowsFor(sc, summary, ratioTable) {
  const perOp = sc.ops ? CPU_KEYS.map((k) => CPU_LABELS[k]) : [];
  const head = ['stack', ...sc.metrics.map((m) => m.label), ...perOp, 'server CPU %', 'load CPU %'];
  const rows = [];
  for (const [stack, e] of Object.entries(summary[sc.name])) {
    rows.push([
      label(stack) + (e.failedRuns ? ` (${e.failedRuns} failed)` : ''),
      ...sc.metrics.map((m) => (m.exact ? `${e[m.key].total ?? '–'}` : cell(e[m.key], true))),
      ...(sc.ops ? CPU_KEYS.map((k) => cell(e[k], true)) : []),
      fmt(e.serverCpu.median),
      fmt(e.loadCpu.median),
    ]);
  }
  const ratioRows = Object.entries(ratioTable[sc.name]).map(([k, r]) => [
    short(k),
    ...sc.metrics.map((m) => (m.exact ? '' : fmt(r[m.key]))),
    ...(sc.ops ? CPU_KEYS.map((k) => fmt(r[k])) : []),
    '',
    '',
  ]);
  return { head, rows, ratioRows };
}

function pad(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')).join('\n');
}

/** The terminal table: one block per scenario, then the ratios, then the goals. */
export function terminalReport(scenarios, params, summary, ratioTable, goalList) {
  const out = [];
  for (const sc of scenarios) {
    if (!summary[sc.name] || Object.keys(summary[sc.name]).length === 0) continue;
    const { head, rows, ratioRows } = rowsFor(sc, summary, ratioTable);
    out.push(`\n${sc.title}  ${JSON.stringify(params[sc.name])}`);
    out.push(pad([head, ...rows]));
    if (ratioRows.length) out.push(pad([['ratio (median / median)', ...head.slice(1)], ...ratioRows]));
  }
  const missed = goalList.filter((g) => !g.met);
  out.push(`\nGoals: ${goalList.length - missed.length} of ${goalList.length} met`);
  for (const g of missed) out.push(`  not met: ${g.scenario} ${label(g.stack)} ${g.metric} ${g.target}: ${fmt(g.value)}`);
  return out.join('\n');
}

/** The same, as Markdown for docs/performance.md. */
export function markdownReport(scenarios, params, summary, ratioTable) {
  const out = [];
  const md = (rows) => [`| ${rows[0].join(' | ')} |`, `|${rows[0].map((_, i) => (i ? '---:' : '---')).join('|')}|`, ...rows.slice(1).map((r) => `| ${r.join(' | ')} |`)].join('\n');
  for (const sc of scenarios) {
    if (!summary[sc.name] || Object.keys(summary[sc.name]).length === 0) continue;
    const { head, rows, ratioRows } = rowsFor(sc, summary, ratioTable);
    out.push(`### ${sc.title}\n\n\`${JSON.stringify(params[sc.name])}\`\n`);
    out.push(md([head, ...rows]));
    if (ratioRows.length) out.push('\n' + md([['ratio', ...head.slice(1, -2)], ...ratioRows.map((r) => r.slice(0, -2))]));
    out.push('');
  }
  return out.join('\n');
}
