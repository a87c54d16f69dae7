/**
 * Engine options are merged and checked like every other factory's (src/shared/options.ts): an
 * explicit `undefined` means the default, a value that cannot work throws a TypeError naming it.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryEngine } from '../src/engines/memory.js';
import { redisEngine } from '../src/engines/redis/index.js';
import { resolveNatsOptions } from '../src/engines/nats/options.js';

afterEach(() => {
  vi.restoreAllMocks();
});

const node = { deliver() {}, suspend() {}, async resync() {} };

describe('memory engine options', () => {
  it('sweeps every 60 s when sweepIntervalMs is explicitly undefined (not every millisecond)', async () => {
    const spy = vi.spyOn(globalThis, 'setInterval');
    const engine = createMemoryEngine({ sweepIntervalMs: undefined, historyIdleTtlMs: undefined, maxCallRecords: undefined });
    await engine.attach(node);
    const delays = spy.mock.calls.map((c) => c[1]);
    await engine.close();
    expect(delays).toEqual([60_000]);
  });

  it('refuses values that cannot work, naming the option', () => {
    expect(() => createMemoryEngine({ sweepIntervalMs: 0 })).toThrow(new TypeError('sweepIntervalMs must be a positive number, got 0'));
    expect(() => createMemoryEngine({ sweepIntervalMs: Number.NaN })).toThrow(/^sweepIntervalMs/);
    expect(() => createMemoryEngine({ maxCallRecords: 1.5 })).toThrow(/^maxCallRecords must be a positive integer/);
    expect(() => createMemoryEngine({ historyIdleTtlMs: -1 })).toThrow(/^historyIdleTtlMs/);
  });
});

describe('redis engine options', () => {
  it('refuses values that cannot work, naming the option', () => {
    expect(() => redisEngine({ nodeTtlMs: 0 })).toThrow(new TypeError('nodeTtlMs must be a positive number, got 0'));
    expect(() => redisEngine({ commandTimeoutMs: -5 })).toThrow(/^commandTimeoutMs/);
    expect(() => redisEngine({ historyMetaTtlMs: Number.POSITIVE_INFINITY })).toThrow(/^historyMetaTtlMs/);
    expect(() => redisEngine({ prefix: 3 as never })).toThrow(/^prefix must be a string/);
    expect(() => redisEngine({ logger: 'log' as never })).toThrow(/^logger must be a logger/);
  });
});

describe('nats engine options', () => {
  it('refuses a key that is not an option, naming the valid ones', () => {
    // resolveNatsOptions is what natsEngine() runs first, before it connects to anything.
    expect(() => resolveNatsOptions({ prefx: 'app' } as never)).toThrow(
      new TypeError('prefx is not an option (url, connection, prefix, nodeTtlMs, historyMetaTtlMs, commandTimeoutMs, reorderWaitMs, callRecordMaxAgeMs, logger)'),
    );
    expect(resolveNatsOptions({ prefix: 'app' }).prefix).toBe('app');
  });
});

describe('redis engine options on a cluster', () => {
  it('refuses cluster node lists that cannot work, and cluster with client', () => {
    expect(() => redisEngine({ cluster: [] })).toThrow(/^cluster must be a non-empty array of redis:\/\/ URLs/);
    expect(() => redisEngine({ cluster: 'redis://127.0.0.1:7000' as never })).toThrow(/^cluster must be/);
    const client = { isCluster: false } as never;
    expect(() => redisEngine({ cluster: ['redis://127.0.0.1:7000'], client })).toThrow(/^cluster and client cannot both be given/);
  });

  it('refuses a prefix with a hash tag of its own, which would split or pile up the topics’ keys', () => {
    expect(() => redisEngine({ cluster: ['redis://127.0.0.1:7000'], prefix: 'app{1}:' })).toThrow(/^prefix must not contain "\{" or "\}" on a Redis Cluster/);
    expect(() => redisEngine({ client: { isCluster: true } as never, prefix: 'app{' })).toThrow(/^prefix must not contain/);
    // On one Redis a brace in the prefix is only a character.
    expect(() => redisEngine({ prefix: 'app{1}:', url: 'redis://127.0.0.1:1' }).close()).not.toThrow();
  });
});
