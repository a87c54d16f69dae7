/**
 * Idempotent calls (docs/protocol.md §2.8): a `call` with a `key` runs at most once per key and
 * scope; repeats get the first outcome. Outcomes live in the engine so that a repeat reaching
 * another node (after a failover) is answered too; a repeat arriving while the first still runs on
 * this node waits for it without asking the engine.
 */
import { createHash } from 'node:crypto';
import { ErrorCode } from '../protocol/error-codes.js';
import { errorFields, frameToError } from '../protocol/error-frame.js';
import { SwitchboardError } from '../protocol/errors.js';
import { jsonCodec } from '../protocol/codec.js';
import type { CallOutcome, Engine } from '../engines/engine.js';
import type { Logger } from '../shared/logger.js';

/** First and last wait between two looks at a call another node is running, in ms. */
const POLL_MIN_MS = 25;
const POLL_MAX_MS = 500;

export interface IdempotencyDeps {
  engine: Engine;
  logger: Logger;
  ttlMs: number;
  leaseMs: number;
}

/** Runs `execute` at most once per key; resolves its output or rejects with a `SwitchboardError`. */
export type IdempotentRun = (key: string, input: unknown, execute: () => Promise<unknown>, what: string) => Promise<unknown>;

/** A digest of the input, so that a key reused for a different request is caught. */
function fingerprint(input: unknown): string {
  const encoded = jsonCodec.encode(input === undefined ? { u: 1 } : { i: input });
  return createHash('sha256').update(encoded).digest('base64url');
}

function settle(outcome: CallOutcome): unknown {
  if (outcome.ok) return outcome.output;
  throw frameToError(outcome);
}

const conflict = () =>
  new SwitchboardError(ErrorCode.IDEMPOTENCY_CONFLICT, 'This idempotency key was used for a call with a different input');

export function createIdempotency(deps: IdempotencyDeps): IdempotentRun {
  const { engine, logger, ttlMs, leaseMs } = deps;
  const running = new Map<string, { fingerprint: string; outcome: Promise<CallOutcome> }>();

  async function execute(key: string, fp: string, run: () => Promise<unknown>, what: string): Promise<CallOutcome> {
    let outcome: CallOutcome;
    try {
      outcome = { ok: true, output: await run() };
    } catch (err) {
      // Remembered as it is sent: a non-SwitchboardError becomes INTERNAL (logged here, once).
      if (!(err instanceof SwitchboardError)) logger.error({ err, what }, 'handler failed');
      outcome = { ok: false, ...errorFields(err) };
    }
    try {
      await engine.finishCall(key, fp, outcome, ttlMs);
    } catch (err) {
      // The caller still gets its answer; a repeat may run the call again, which the log tells.
      logger.error({ err, what }, 'could not record an idempotent call outcome');
    }
    return outcome;
  }

  return async (key, input, run, what) => {
    const fp = fingerprint(input);
    const local = running.get(key);
    if (local) {
      if (local.fingerprint !== fp) throw conflict();
      return settle(await local.outcome);
    }
    let wait = POLL_MIN_MS;
    // Until the call is done, or its lease lapses (its node died: then it runs here). A live node
    // renews the lease however long the handler takes, so there is no deadline of our own.
    for (;;) {
      const claim = await engine.claimCall(key, fp, leaseMs);
      if (claim.state === 'claimed') break;
      if (claim.fingerprint !== fp) throw conflict();
      if (claim.state === 'done') return settle(claim.outcome);
      const here = running.get(key);
      if (here) return settle(await here.outcome);
      // Running on another node: look again.
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, POLL_MAX_MS);
    }
    const outcome = execute(key, fp, run, what);
    running.set(key, { fingerprint: fp, outcome });
    // A handler slower than the lease keeps its key: renewed at a third of the lease.
    const renew = setInterval(() => {
      Promise.resolve(engine.renewCall(key, fp, leaseMs)).catch((err: unknown) => logger.error({ err, what }, 'could not renew an idempotent call lease'));
    }, Math.max(10, leaseMs / 3));
    renew.unref?.();
    try {
      return settle(await outcome);
    } finally {
      clearInterval(renew);
      running.delete(key);
    }
  };
}
