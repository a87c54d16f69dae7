/**
 * NATS for the scale-out tests: the machine's NATS with JetStream (SWITCHBOARD_TEST_NATS_URL,
 * default nats://127.0.0.1:4222), each test under its own prefix, whose streams and KV buckets
 * are deleted afterwards.
 */
import { randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';

export const NATS_URL = process.env.SWITCHBOARD_TEST_NATS_URL ?? 'nats://127.0.0.1:4222';

/** Why NATS tests cannot run here (no server, or no JetStream), or `undefined` when they can. */
export async function natsMissing(url = NATS_URL): Promise<string | undefined> {
  let nc;
  try {
    nc = await connect({ servers: url, timeout: 1_000, maxReconnectAttempts: 0 });
  } catch {
    return `no NATS answers at ${url} (start nats-server -js, or set SWITCHBOARD_TEST_NATS_URL)`;
  }
  try {
    await jetstreamManager(nc, { timeout: 1_000 });
    return undefined;
  } catch {
    return `the NATS server at ${url} has no JetStream (start it with -js)`;
  } finally {
    await nc.close();
  }
}

/** A fresh prefix; {@link dropNatsPrefix} deletes its streams and buckets. */
export function natsTestPrefix(): string {
  return `sbt${randomUUID().slice(0, 8)}`;
}

/** Deletes the streams of `prefix`: history streams only, or also its KV buckets (`all`). */
export async function dropNatsPrefix(prefix: string, { all = true, url = NATS_URL } = {}): Promise<void> {
  const nc = await connect({ servers: url, maxReconnectAttempts: 0 });
  try {
    const jsm = await jetstreamManager(nc);
    const doomed: string[] = [];
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(`${prefix}-h-`) || (all && (name === `KV_${prefix}-state` || name === `KV_${prefix}-calls`))) doomed.push(name);
    }
    await Promise.all(doomed.map((n) => jsm.streams.delete(n).catch(() => false)));
  } finally {
    await nc.close();
  }
}
