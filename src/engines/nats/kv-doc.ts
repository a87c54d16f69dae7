/**
 * A JSON document in a JetStream KV bucket changed by compare-and-set: read it with its revision,
 * compute the new value, write it only if nobody wrote in between (else read again). This is what
 * makes a presence change, a call claim or a node cleanup atomic across nodes without a script.
 */
import { JetStreamApiError } from '@nats-io/jetstream';
import type { KV, KvEntry } from '@nats-io/kv';

/** A write lost its race: another node changed the key after it was read. */
export function casConflict(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === 10071 || err.code === 10164);
}

/** The entry's value as JSON, `undefined` when the key is absent or deleted. */
export function readDoc<T>(e: KvEntry | null): T | undefined {
  if (!e || e.operation !== 'PUT' || e.length === 0) return undefined;
  return JSON.parse(new TextDecoder().decode(e.value)) as T;
}

/**
 * Changes `key` with `change(current, entry)`: its result is written (`undefined` deletes the key,
 * `null` leaves it as it is) only if the key did not change since it was read; retried otherwise.
 * Resolves what was read and what was written.
 */
export async function mutate<T>(kv: KV, key: string, change: (cur: T | undefined, entry: KvEntry | null) => T | undefined | null): Promise<{ before: T | undefined; after: T | undefined }> {
  for (;;) {
    const entry = await kv.get(key);
    const before = readDoc<T>(entry);
    const after = change(before, entry);
    if (after === null) return { before, after: before };
    const live = entry !== null && entry.operation === 'PUT';
    try {
      if (after === undefined) {
        if (live) await kv.delete(key, { previousSeq: entry.revision });
      } else if (live) {
        await kv.update(key, JSON.stringify(after), entry.revision);
      } else {
        await kv.create(key, JSON.stringify(after));
      }
      return { before, after };
    } catch (err) {
      if (!casConflict(err)) throw err;
    }
  }
}
