/**
 * The SSE + HTTP fallback (docs/protocol.md §8) beside WebSocket: the RPC and fan-out scenarios
 * run again for Switchboard JSON over WebSocket and over the fallback only, at sizes the fallback
 * finishes (every client→server batch is a POST). Separate scenarios, so the fallback never slows
 * the interleaved RPC run of the other stacks; no goals: the figures say what the fallback costs.
 */
import rpc from './rpc.js';
import fanout from './fanout.js';

const STACKS = ['switchboard-json', 'switchboard-sse'];
/** The scenario's metrics without goals (they are ratios to raw ws, which does not run here). */
const noGoals = (metrics) => metrics.map(({ goal: _goal, bunGoal: _bunGoal, ...m }) => m);

export const rpcFallback = {
  ...rpc,
  name: 'rpc-fallback',
  title: 'RPC round trip, 1 client, sequential: WebSocket and the SSE fallback',
  stacks: STACKS,
  metrics: noGoals(rpc.metrics),
  params: {
    full: { calls: 3_000, warmup: 300, deadlineMs: 90_000, reps: 3 },
    quick: { calls: 500, warmup: 50, deadlineMs: 30_000 },
    smoke: { calls: 50, warmup: 10, deadlineMs: 15_000 },
  },
};

export const fanoutFallback = {
  ...fanout,
  name: 'fanout-fallback',
  title: 'Fan-out, flow-controlled, 1 publisher, N subscribers: WebSocket and the SSE fallback',
  stacks: STACKS,
  metrics: noGoals(fanout.metrics),
  params: {
    full: { subscribers: 200, messages: 500, window: 8, deadlineMs: 90_000 },
    quick: { subscribers: 50, messages: 200, window: 8, deadlineMs: 30_000 },
    smoke: { subscribers: 10, messages: 30, window: 8, deadlineMs: 15_000 },
  },
};
