/**
 * The catalogue `switchboard serve` runs without `--config`: a little of everything the protocol
 * has, to try a client against (docs/cli.md, "The demo catalogue").
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { Server } from '../server/types.js';

/** One numeric field of {@link numbers}: any finite number, or an integer in a range; optional with a default. */
interface NumberField {
  integer?: { min: number; max: number };
  default?: number;
}

/**
 * A Standard Schema for an object of numeric fields, so the demo's bad inputs get the server's own
 * `INVALID_INPUT` answer with issues, as a zod or valibot schema would give, without a dependency.
 */
function numbers<K extends string>(fields: Record<K, NumberField>): StandardSchemaV1<Record<K, number>, Record<K, number>> {
  return {
    '~standard': {
      version: 1,
      vendor: 'switchboard-cli',
      validate(value) {
        const input = value === undefined || value === null ? {} : value;
        if (typeof input !== 'object' || Array.isArray(input)) return { issues: [{ message: 'expected an object' }] };
        const out = {} as Record<K, number>;
        const issues: StandardSchemaV1.Issue[] = [];
        for (const [key, f] of Object.entries(fields) as [K, NumberField][]) {
          const v = (input as Record<string, unknown>)[key] ?? f.default;
          const i = f.integer;
          if (typeof v !== 'number' || !Number.isFinite(v) || (i && (!Number.isInteger(v) || v < i.min || v > i.max))) {
            issues.push({ message: i ? `expected an integer from ${i.min} to ${i.max}` : 'expected a number', path: [key] });
          } else out[key] = v;
        }
        return issues.length ? { issues } : { value: out };
      },
    },
  };
}

/** What the demo offers, for the banner `serve` prints. */
export const DEMO_SUMMARY = [
  'commands: echo <any>, add {"a":1,"b":2}, whoami',
  'streams:  ticks {"count":5,"intervalMs":1000}',
  'topics:   room:* (anyone may subscribe and publish; presence; history of 100)',
];

/**
 * Registers the demo catalogue on `server`: `echo`, `add`, `whoami`, the `ticks` stream and the
 * `room:*` topics.
 */
export function demoCatalogue(server: Server): void {
  server
    .command('echo', (input: unknown) => input ?? null)
    .command('add', { input: numbers({ a: {}, b: {} }) }, ({ a, b }) => a + b)
    .command('whoami', (_input: unknown, ctx) => ({ clientId: ctx.clientId, identity: ctx.identity ?? null }))
    .stream('ticks', { input: numbers({ count: { integer: { min: 1, max: 1000 }, default: 5 }, intervalMs: { integer: { min: 10, max: 60_000 }, default: 1000 } }) }, async function* ({ count, intervalMs }, ctx) {
      for (let n = 1; n <= count; n++) {
        yield { n, at: new Date().toISOString() };
        if (n === count) break;
        try {
          await delay(intervalMs, undefined, { signal: ctx.signal });
        } catch {
          return; // cancelled, or the connection closed: the stream ends
        }
      }
    })
    .topic('room:*', { subscribe: true, publish: true, presence: true, history: { size: 100, ttlMs: 300_000 } });
}
