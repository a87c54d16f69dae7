/**
 * Small statistics helpers shared by the load process and the report: percentiles over latency
 * samples, and median / min / max over repetitions.
 */

/** Sorts a copy of the first `n` samples (a typed array sorts numerically). */
export function sorted(samples, n = samples.length) {
  return Float64Array.from(samples.subarray ? samples.subarray(0, n) : samples.slice(0, n)).sort();
}

/** Nearest-rank percentile of an ascending array; `q` in [0, 1]. */
export function percentile(asc, q) {
  if (asc.length === 0) return NaN;
  return asc[Math.min(asc.length - 1, Math.max(0, Math.ceil(q * asc.length) - 1))];
}

/** Median of a list of numbers (NaN-free); the lower middle for an even count. */
export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return v.length === 0 ? NaN : v[Math.floor((v.length - 1) / 2)];
}

/** `{ median, min, max, n }` over repetitions. */
export function spread(xs) {
  const v = xs.filter((x) => Number.isFinite(x));
  return { median: median(v), min: v.length ? Math.min(...v) : NaN, max: v.length ? Math.max(...v) : NaN, n: v.length };
}

/** Rounds to a few significant digits for the JSON and the table. */
export function round(x, digits = 3) {
  if (!Number.isFinite(x) || x === 0) return x;
  const p = 10 ** Math.max(0, digits - 1 - Math.floor(Math.log10(Math.abs(x))));
  return Math.round(x * p) / p;
}
