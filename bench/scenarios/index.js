/**
 * The scenarios, in the order they run and are reported. A scenario module exports:
 *
 *   name, title, params: { full, quick, smoke }, metrics: [{ key, label, better, goal?, bunGoal?, exact? }],
 *             (params may hold `reps`, the repetitions of that scenario unless --reps says),
 *   interleaved?  one load process drives every stack in turn and returns { byStack: { [stack]:
 *             { metrics, counts } } } (for sequential scenarios that leave the machine idle),
 *   stacks?   the stacks it applies to (default: all),
 *   fds?      (params) → file descriptors each process needs,
 *   skip?     a reason not to run it on this machine (printed), e.g. no Redis for scale.js,
 *   servers?  (params) → one options object per server node (default: one node, `[{}]`);
 *             the load process gets one base URL per node (ctx.urls) — for the multi-node fan-out
 *             of the scale-out comparison,
 *   ops?      (result) → operations done in the measured window (calls, deliveries): the report
 *             then shows server CPU µs per operation, in all and split into user space and kernel,
 *             which a busy machine disturbs far less than rates,
 *   cpuGoals? { serverUsPerOp?, serverUserUsPerOp?, serverSysUsPerOp? }: targets for those, as a
 *             ratio to raw ws (at most),
 *   run(ctx)  → { metrics, counts }, in the load process (bench/load.js describes ctx).
 *
 * `goal` is the target as a ratio to raw ws: at least that much for `better: 'higher'`,
 * at most that much for `better: 'lower'`. `bunGoal` is the same for Switchboard on Bun against raw Bun
 * (GOAL_FLOOR in bench/stacks/index.js).
 */
import rpc from './rpc.js';
import pipelined from './pipelined.js';
import fanout from './fanout.js';
import fanoutTurn from './fanout-turn.js';
import memory from './memory.js';
import storm from './storm.js';
import streams from './streams.js';
import scale from './scale.js';
import shards from './shards.js';
import { fanoutFallback, rpcFallback } from './fallback.js';

export const SCENARIOS = [rpc, pipelined, fanout, fanoutTurn, memory, storm, streams, ...scale, ...shards, rpcFallback, fanoutFallback];
