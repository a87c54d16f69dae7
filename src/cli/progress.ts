/**
 * The progress bar of `switchboard bench`, drawn from the plan lines the benchmark runner prints
 * (`[3/40] rpc · raw ws · rep 1/3 · 12 s`), so the runner itself stays a plain script
 * (docs/cli.md, "bench").
 */

/** A runner plan line, parsed; `undefined` for any other line. */
export function planStep(line: string): { step: number; total: number; label: string } | undefined {
  const m = /^\[(\d+)\/(\d+)\] (.*)$/.exec(line.trim());
  if (!m) return undefined;
  const step = Number(m[1]);
  const total = Number(m[2]);
  return step >= 1 && step <= total ? { step, total, label: m[3]! } : undefined;
}

/**
 * One line: a bar of `width` cells for the runs done before `step` (the line announces the run
 * that starts), the count, and the label cut to fit `columns`.
 */
export function progressBar(step: number, total: number, label: string, columns = 100, width = 24): string {
  const done = Math.max(0, Math.min(total, step - 1));
  const filled = Math.round((done / total) * width);
  const head = `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${done}/${total} `;
  const room = Math.max(0, columns - 1 - head.length);
  return head + (label.length > room ? `${label.slice(0, Math.max(0, room - 1))}…` : label);
}
