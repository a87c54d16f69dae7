/**
 * The runtime-neutral pieces every factory builds on: the options merge and validators
 * (src/shared/options.ts) and the event emitter with its one policy for a throwing listener
 * (src/shared/emitter.ts).
 */
import { describe, expect, it, vi } from 'vitest';
import { resolveClientOptions } from '../src/client/options.js';
import { createMemoryEngine } from '../src/engines/memory.js';
import { Emitter, invokeListener } from '../src/shared/emitter.js';
import { MAX_TIMER_MS, nonNegativeInt, oneOf, positiveInt, positiveMs, positiveNumber, withDefaults } from '../src/shared/options.js';

describe('withDefaults', () => {
  it('takes an explicit undefined as the default and keeps every other given value', () => {
    const d = { a: 1, b: 'x', c: true };
    expect(withDefaults(d, { a: undefined, b: 'y' })).toEqual({ a: 1, b: 'y', c: true });
    expect(withDefaults(d, undefined)).toEqual(d);
    expect(withDefaults(d, { c: false })).toEqual({ a: 1, b: 'x', c: false });
    expect(withDefaults(d, {})).not.toBe(d);
  });

  it('refuses options that are not an object', () => {
    expect(() => withDefaults({ a: 1 }, 5 as never)).toThrow(TypeError);
  });
});

describe('validators', () => {
  it('name the option path and the value they got', () => {
    expect(() => positiveInt('limits.maxPayload', 0)).toThrow('limits.maxPayload must be a positive integer, got 0');
    expect(() => positiveInt('n', 1.5)).toThrow(/got 1.5/);
    expect(() => nonNegativeInt('n', -1)).toThrow('n must be a non-negative integer, got -1');
    expect(() => positiveNumber('rate', Number.NaN)).toThrow(/rate must be a positive number, got NaN/);
    expect(() => positiveNumber('rate', '5')).toThrow(/got "5"/);
    expect(() => oneOf('codec', 'xml', ['json', 'msgpack'])).toThrow('codec must be one of "json", "msgpack", got "xml"');
    expect(positiveInt('n', 3)).toBe(3);
    expect(nonNegativeInt('n', 0)).toBe(0);
  });

  it('refuse a timer longer than runtimes honour (which would fire after 1 ms)', () => {
    expect(positiveMs('timeoutMs', MAX_TIMER_MS)).toBe(MAX_TIMER_MS);
    expect(() => positiveMs('timeoutMs', MAX_TIMER_MS + 1)).toThrow(/timeoutMs must be at most 2147483647 ms/);
    expect(() => resolveClientOptions({ connectTimeoutMs: 3e9 })).toThrow(/connectTimeoutMs must be at most/);
    // Infinity still means "no timeout" where the option documents it.
    expect(resolveClientOptions({ timeoutMs: Infinity }).timeoutMs).toBe(Infinity);
    expect(() => createMemoryEngine({ sweepIntervalMs: 2 ** 31 })).toThrow(/sweepIntervalMs must be at most/);
  });
});

describe('Emitter', () => {
  it('calls listeners in order, removes them with the returned function, also from inside a listener', () => {
    const e = new Emitter<{ close: (code: number, reason: string) => void }>();
    const seen: string[] = [];
    const off = e.on('close', (code, reason) => seen.push(`a${code}${reason}`));
    const offOnce = e.on('close', (code) => {
      offOnce();
      seen.push(`b${code}`);
    });
    e.emit('close', 1000, 'x');
    e.emit('close', 1001, 'y');
    off();
    e.emit('close', 1002, 'z');
    expect(seen).toEqual(['a1000x', 'b1000', 'a1001y']);
    expect(e.listenerCount('close')).toBe(0);
  });

  it('a throwing listener goes to the owner and the others still run', () => {
    const errors: unknown[] = [];
    const e = new Emitter<{ tick: (n: number) => void }>((err, event) => errors.push([event, (err as Error).message]));
    const seen: number[] = [];
    e.on('tick', () => {
      throw new Error('boom');
    });
    e.on('tick', (n) => seen.push(n));
    e.emit('tick', 1);
    expect(seen).toEqual([1]);
    expect(errors).toEqual([['tick', 'boom']]);
  });

  it('without an owner handler, rethrows in a microtask instead of swallowing or breaking emit', async () => {
    const thrown = new Error('later');
    const spy = vi.spyOn(globalThis, 'queueMicrotask').mockImplementation(() => {});
    try {
      const e = new Emitter<{ x: () => void }>();
      e.on('x', () => {
        throw thrown;
      });
      expect(() => e.emit('x')).not.toThrow();
      expect(spy).toHaveBeenCalledTimes(1);
      expect(() => (spy.mock.calls[0]![0] as () => void)()).toThrow(thrown);
    } finally {
      spy.mockRestore();
    }
  });

  it('an error handler that throws is rethrown later, never looped back into itself', () => {
    const spy = vi.spyOn(globalThis, 'queueMicrotask').mockImplementation(() => {});
    try {
      let calls = 0;
      const onError = () => {
        calls++;
        throw new Error('handler broke');
      };
      invokeListener(() => {
        throw new Error('first');
      }, [], 'x', onError);
      expect(calls).toBe(1);
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });
});
