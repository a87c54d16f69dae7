/**
 * The chart of docs/performance.md, as hand-written SVG (no charting dependency): RPC latency
 * percentiles per stack, and fan-out deliveries per second per stack, medians with min–max whiskers.
 */
import { STACKS } from '../stacks/index.js';
import { round } from './stats.js';

const COLORS = { 'switchboard-json': '#2563eb', 'switchboard-msgpack': '#7c3aed', ws: '#6b7280', socketio: '#ea580c', 'switchboard-bun': '#0891b2', bun: '#a16207' };
const esc = (s) => String(s).replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
const num = (x) => (x >= 1000 ? Math.round(x).toLocaleString('en-US') : String(round(x, 3)));

/** A "nice" axis maximum: 1, 2 or 5 × 10^k at or above `x`. */
function niceMax(x) {
  const k = 10 ** Math.floor(Math.log10(x || 1));
  return [1, 2, 5, 10].map((m) => m * k).find((v) => v >= x);
}

/** One panel of grouped bars: groups × series, each value `{ median, min, max }`. */
function panel({ x, y, w, h, title, unit, groups, series }) {
  const parts = [];
  const values = groups.flatMap((g) => series.map((s) => g.values[s.key]).filter(Boolean));
  const top = niceMax(Math.max(...values.map((v) => (Number.isFinite(v.max) ? v.max : v.median))));
  const plotX = x + 74;
  const plotW = w - 84;
  const plotY = y + 34;
  const plotH = h - 80;
  const yOf = (v) => plotY + plotH - (v / top) * plotH;
  parts.push(`<text x="${x + w / 2}" y="${y + 18}" text-anchor="middle" font-weight="600">${esc(title)}</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    const yy = yOf(v);
    parts.push(`<line x1="${plotX}" x2="${plotX + plotW}" y1="${yy}" y2="${yy}" stroke="#e5e7eb"/>`);
    parts.push(`<text x="${plotX - 6}" y="${yy + 4}" text-anchor="end" font-size="11" fill="#374151">${num(v)}</text>`);
  }
  parts.push(`<text x="${x + 14}" y="${plotY + plotH / 2}" font-size="11" fill="#374151" transform="rotate(-90 ${x + 14} ${plotY + plotH / 2})" text-anchor="middle">${esc(unit)}</text>`);
  const groupW = plotW / groups.length;
  const barW = Math.min(36, (groupW - 16) / series.length);
  groups.forEach((g, gi) => {
    const gx = plotX + gi * groupW + (groupW - barW * series.length) / 2;
    series.forEach((s, si) => {
      const v = g.values[s.key];
      if (!v || !Number.isFinite(v.median)) return;
      const bx = gx + si * barW;
      const color = s.color ?? g.color;
      const opacity = s.opacity ?? 1;
      parts.push(`<rect x="${bx + 2}" y="${yOf(v.median)}" width="${barW - 4}" height="${plotY + plotH - yOf(v.median)}" fill="${color}" fill-opacity="${opacity}"><title>${esc(`${g.label} ${s.label}: ${num(v.median)} ${unit}`)}</title></rect>`);
      if (v.n > 1 && Number.isFinite(v.min) && v.max > v.min) {
        const cx = bx + barW / 2;
        parts.push(`<line x1="${cx}" x2="${cx}" y1="${yOf(v.min)}" y2="${yOf(v.max)}" stroke="#111827"/>`);
      }
      parts.push(`<text x="${bx + barW / 2}" y="${yOf(v.median) - 4}" text-anchor="middle" font-size="9" fill="#111827">${num(v.median)}</text>`);
      if (series.length > 1) parts.push(`<text x="${bx + barW / 2}" y="${plotY + plotH + 12}" text-anchor="middle" font-size="9" fill="#374151">${esc(s.label)}</text>`);
    });
    // Two lines ("Switchboard" / "MsgPack"), so neighbouring labels never overlap.
    const cx = plotX + gi * groupW + groupW / 2;
    const [line1, ...rest] = g.label.split(' ');
    const ly = plotY + plotH + (series.length > 1 ? 28 : 16);
    parts.push(`<text x="${cx}" y="${ly}" text-anchor="middle" font-size="11">${esc(line1)}${rest.length ? `<tspan x="${cx}" dy="13">${esc(rest.join(' '))}</tspan>` : ''}</text>`);
  });
  parts.push(`<line x1="${plotX}" x2="${plotX + plotW}" y1="${plotY + plotH}" y2="${plotY + plotH}" stroke="#111827"/>`);
  return parts.join('\n');
}

/** The SVG for a summary; `caption` names the machine and run. */
export function chartSvg(summary, caption) {
  const stacksOf = (sc) => Object.keys(summary[sc] ?? {});
  // Both fan-out variants per stack: flow-controlled, and one server publish per event-loop turn.
  const fanStacks = [...new Set([...stacksOf('fanout'), ...stacksOf('fanout-turn')])];
  // Room for three labelled bars per stack in each half.
  const W = Math.max(960, 2 * 100 * Math.max(stacksOf('rpc').length, fanStacks.length) + 168);
  const H = 380;
  const rpc = panel({
    x: 0, y: 0, w: W / 2, h: H - 20,
    title: 'RPC round-trip latency (1 client, sequential)', unit: 'µs',
    groups: stacksOf('rpc').map((s) => ({ label: STACKS[s]?.label ?? s, color: COLORS[s], values: summary.rpc[s] })),
    series: [{ key: 'p50', label: 'p50', opacity: 0.55 }, { key: 'p99', label: 'p99', opacity: 0.8 }, { key: 'p999', label: 'p99.9', opacity: 1 }],
  });
  const fan = panel({
    x: W / 2, y: 0, w: W / 2, h: H - 20,
    title: 'Fan-out (N subscribers): flow-controlled, 1 publish per turn', unit: 'deliveries/s',
    groups: fanStacks.map((s) => ({
      label: STACKS[s]?.label ?? s,
      color: COLORS[s],
      values: { flow: summary.fanout?.[s]?.deliveriesPerSec, turn: summary['fanout-turn']?.[s]?.deliveriesPerSec },
    })),
    series: [{ key: 'flow', label: 'flow', opacity: 1 }, { key: 'turn', label: '1/turn', opacity: 0.55 }],
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="system-ui, sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#ffffff"/>
${rpc}
${fan}
<text x="${W / 2}" y="${H - 6}" text-anchor="middle" font-size="10" fill="#6b7280">${esc(caption)}</text>
</svg>
`;
}
