/**
 * The shared test scope's cleanup runner (test/helpers.ts): last registered first, every cleanup
 * run whatever the others do, and every failure reported.
 */
import { describe, expect, it } from 'vitest';
import { runCleanups } from './helpers.js';

describe('runCleanups', () => {
  it('runs cleanups one at a time in reverse order of registration, awaiting each', async () => {
    const log: string[] = [];
    const step = (name: string) => async () => {
      log.push(`${name} start`);
      await new Promise((r) => setImmediate(r));
      log.push(`${name} end`);
    };
    await runCleanups([step('server'), step('client'), step('peer')]);
    expect(log).toEqual(['peer start', 'peer end', 'client start', 'client end', 'server start', 'server end']);
  });

  it('runs every cleanup when some fail, then rethrows a single failure as it is', async () => {
    const ran: number[] = [];
    const boom = new Error('boom');
    const result = runCleanups([
      () => ran.push(1),
      () => {
        throw boom;
      },
      () => ran.push(3),
    ]);
    await expect(result).rejects.toBe(boom);
    expect(ran).toEqual([3, 1]);
  });

  it('reports every failure, synchronous throws and rejections alike, in the order they happened', async () => {
    const ran: number[] = [];
    const first = new Error('first');
    const second = new Error('second');
    const result = runCleanups([
      () => ran.push(1),
      () => Promise.reject(second),
      () => ran.push(3),
      () => {
        throw first;
      },
    ]);
    const err = await result.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AggregateError);
    expect((err as AggregateError).errors).toEqual([first, second]);
    expect(ran).toEqual([3, 1]);
  });

  it('does nothing for an empty list', async () => {
    await expect(runCleanups([])).resolves.toBeUndefined();
  });
});
