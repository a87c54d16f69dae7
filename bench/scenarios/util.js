/**
 * Helpers for scenarios: bounded-concurrency connects and deadlines. Every loop in a scenario
 * stops at its count or its deadline, whichever comes first.
 */
import { performance } from 'node:perf_hooks';

export const now = () => performance.now();

/** Opens `n` clients, at most `concurrency` connecting at once; failures are counted, not retried. */
export async function openMany(ctx, n, { concurrency = 100, deadline, url } = {}) {
  const clients = [];
  const errors = [];
  let next = 0;
  async function worker() {
    while (next < n && now() < deadline) {
      next++;
      try {
        clients.push(await ctx.open(url?.(clients.length + errors.length)));
      } catch (err) {
        errors.push(String(err?.message ?? err));
      }
      if ((clients.length + errors.length) % 500 === 0) ctx.progress(`${clients.length}/${n} open`);
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return { clients, failures: n - clients.length, errors: [...new Set(errors)].slice(0, 5) };
}

/** Resolves after `ms`, for polling a condition that has no event (server-side counts). */
export const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 20 ms until it is true or `deadline` passes; returns whether it became true. */
export async function until(check, deadline) {
  while (now() < deadline) {
    if (await check()) return true;
    await delay(20);
  }
  return false;
}

export function closeAll(clients) {
  for (const c of clients) {
    try {
      c.close();
    } catch {
      // already closed
    }
  }
}
