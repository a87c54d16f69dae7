/**
 * The Redis engine: several Switchboard servers (or a worker with no clients, as an emitter)
 * share topics, history, presence and idempotent-call records through one Redis.
 *
 * - Fan-out: Redis pub/sub, one channel per topic, one PUBLISH per message (encoded once).
 * - History: a Redis Stream per topic with entry ids `0-<offset>` and a meta hash with the epoch
 *   and last offset; publish assigns the offset, stores and publishes in one Lua script, so every
 *   node sees the same offsets in the same order. Streams rather than sorted sets: range reads by
 *   id and exact `MAXLEN` trimming are built in, and entries are stored compactly.
 * - Presence: hashes per topic, node heartbeats and cleanup of dead nodes (presence.ts).
 * - Redis down: local connections stay; operations that need Redis fail fast with `UNAVAILABLE`
 *   (nothing is buffered, so nothing is published late or twice); `health()` reports it; when
 *   Redis is back the engine re-subscribes, restores presence and asks the node to re-read the
 *   history its subscribers may have missed.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { ErrorCode } from '../../protocol/error-codes.js';
import { SwitchboardError } from '../../protocol/errors.js';
import type { StreamPosition } from '../../protocol/frames.js';
import type { CallClaim, CallOutcome, Engine, EngineEvent, EngineNode, HistoryOptions, HistoryQuery, HistoryResult, StoredMessage } from '../engine.js';
import { PresenceStore } from './presence.js';
import { defineScripts } from './scripts.js';
import { decodeEvent, decodeValue, encodeEvent, encodeValue, splitChannelMessage, type CallRecord } from './wire.js';

/** Options of {@link redisEngine}. */
export interface RedisEngineOptions {
  /** Redis URL. Ignored when `client` is given. @default process.env.SWITCHBOARD_REDIS_URL ?? 'redis://127.0.0.1:6379' */
  url?: string;
  /**
   * An ioredis client to use for commands; the engine duplicates it for pub/sub and does not close
   * it. Give it `enableOfflineQueue: false` to fail fast while Redis is down (the engine's own
   * clients do). @default a client for `url`
   */
  client?: Redis;
  /** Prefix of every key and channel, to share a Redis between apps or environments. @default 'sb:' */
  prefix?: string;
  /** How long a node's presence entries outlive its last heartbeat (a killed node's ghosts vanish within it), in ms. @default 15000 */
  nodeTtlMs?: number;
  /** How long a topic's epoch and offset outlive its last publish or read, in ms. @default 86400000 (1 day) */
  historyMetaTtlMs?: number;
  /** Called with errors the engine handles itself (heartbeat, resync); the server's logger is not reachable here. @default console.error */
  onError?: (err: unknown, what: string) => void;
}

const REDIS_DEFAULTS = {
  url: 'redis://127.0.0.1:6379',
  prefix: 'sb:',
  nodeTtlMs: 15_000,
  historyMetaTtlMs: 86_400_000,
};

/** Options for the clients the engine creates: fail fast while disconnected, reconnect forever. */
const CLIENT_OPTIONS: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  lazyConnect: true,
  retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
};

type Entry = [id: string, fields: string[]];

/** The engine for a Switchboard server that shares its topics with other nodes through Redis. */
export interface RedisEngine extends Engine {
  /** This node's id in the registry. */
  readonly nodeId: string;
}

/** Creates a Redis engine: `createServer({ engine: redisEngine({ url }) })`. */
export function redisEngine(options: RedisEngineOptions = {}): RedisEngine {
  const url = options.url ?? process.env.SWITCHBOARD_REDIS_URL ?? REDIS_DEFAULTS.url;
  const prefix = options.prefix ?? REDIS_DEFAULTS.prefix;
  const nodeTtlMs = options.nodeTtlMs ?? REDIS_DEFAULTS.nodeTtlMs;
  const metaTtlMs = options.historyMetaTtlMs ?? REDIS_DEFAULTS.historyMetaTtlMs;
  const onError = options.onError ?? ((err, what) => console.error(`[switchboard] redis engine: ${what} failed:`, err));
  const nodeId = randomUUID();
  const ownsClient = !options.client;
  const redis = options.client ?? new Redis(url, CLIENT_OPTIONS);
  const sub = redis.duplicate(CLIENT_OPTIONS);
  const scripts = defineScripts(redis);
  const channelPrefix = `${prefix}c:`;
  const channel = (topic: string) => `${channelPrefix}${topic}`;
  let node: EngineNode | undefined;
  let closed = false;
  /** Set once the subscriber connection was lost; cleared when a resync after it succeeded. */
  let lost = false;
  let recovering = false;
  let retry: ReturnType<typeof setTimeout> | undefined;
  /** Topics this node subscribed to (ioredis may re-subscribe more after a reconnect). */
  const channels = new Set<string>();
  /** Topics left while the subscriber connection was down (ioredis re-subscribes them on reconnect). */
  const unsubscribed = new Set<string>();
  const presence = new PresenceStore({
    redis,
    scripts,
    prefix,
    nodeId,
    nodeTtlMs,
    announce: (topic, event) => publish(topic, event).then(() => undefined),
    onError,
  });

  /** Runs a Redis operation; a failure to reach Redis becomes `UNAVAILABLE`. */
  async function run<T>(what: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (err instanceof SwitchboardError) throw err;
      throw new SwitchboardError(ErrorCode.UNAVAILABLE, `The message engine is unavailable (${what})`, {
        reason: err instanceof Error ? err.message : String(err),
      });
    }
  }

  sub.on('messageBuffer', (ch: Buffer, message: Buffer) => {
    const name = ch.toString('utf8');
    if (!name.startsWith(channelPrefix)) return;
    const parts = splitChannelMessage(message);
    const event = parts && decodeEvent(parts.payload, parts.epoch, parts.offset);
    if (!event) return onError(new Error('undecodable message on a topic channel'), 'deliver');
    node?.deliver(name.slice(channelPrefix.length), event);
  });
  sub.on('close', () => {
    if (closed || lost) return;
    lost = true;
    // From the moment the link drops, the node holds what still arrives and moves no position,
    // so the resync below reads history from before the hole.
    node?.suspend();
  });
  sub.on('ready', () => void recover());

  /** After the subscriber connection came back: resync, then presence; retried until it works. */
  async function recover(): Promise<void> {
    if (!lost || closed || recovering) return;
    recovering = true;
    try {
      // ioredis re-subscribed the channels it knew on reconnect; a PING answered after them proves
      // they are in effect, so the history read misses nothing published from here on.
      await sub.ping();
      const stale = [...unsubscribed].filter((t) => !channels.has(t));
      unsubscribed.clear();
      if (stale.length) await sub.unsubscribe(...stale.map(channel));
      await node?.resync();
      await presence.restore();
      lost = false;
    } catch (err) {
      onError(err, 'resync after reconnect');
      retry = setTimeout(() => void recover(), 1_000);
      retry.unref?.();
    } finally {
      recovering = false;
    }
  }
  // ioredis reports connection errors as events; without listeners they would be printed raw.
  const onRedisError = (err: unknown) => onError(err, 'redis connection');
  redis.on('error', onRedisError);
  sub.on('error', (err: unknown) => onError(err, 'redis subscriber connection'));
  // Idle topics with subscribers keep their epoch: their meta TTL is renewed while carried here.
  const metaTimer = setInterval(() => {
    if (redis.status !== 'ready' || channels.size === 0) return;
    const p = redis.pipeline();
    for (const topic of channels) p.pexpire(`${prefix}m:${topic}`, metaTtlMs);
    p.exec().catch((err: unknown) => onError(err, 'renewing topic meta'));
  }, Math.max(1_000, Math.floor(metaTtlMs / 4)));
  metaTimer.unref?.();

  async function publish(topic: string, event: EngineEvent, h?: HistoryOptions): Promise<StreamPosition | undefined> {
    const payload = encodeEvent(event);
    if (h && event.kind === 'msg') {
      const keys = [`${prefix}h:${topic}`, `${prefix}m:${topic}`, channel(topic)];
      const [epoch, offset] = (await run('publish', () =>
        scripts.sbPublish(...keys, payload, h.size, Math.ceil(h.ttlMs), metaTtlMs, newEpoch()),
      )) as [string, number];
      return { epoch, offset };
    }
    await run('publish', () => redis.publish(channel(topic), Buffer.concat([Buffer.from('\n\n'), payload])));
    return undefined;
  }

  function toStored(entry: Entry, epoch: string): (StoredMessage & { expiresAt: number }) | undefined {
    const [id, fields] = entry;
    const offset = Number(id.slice(2));
    let expiresAt = 0;
    let payload: string | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === 'x') expiresAt = Number(fields[i + 1]);
      else if (fields[i] === 'd') payload = fields[i + 1];
    }
    const event = payload === undefined ? undefined : decodeEvent(Buffer.from(payload, 'latin1'), epoch, offset);
    if (!event || event.kind !== 'msg') return undefined;
    return { data: event.data, meta: event.meta as StoredMessage['meta'], ...(event.skip ? { skip: event.skip } : {}), expiresAt };
  }

  async function read(topic: string, since: StreamPosition | undefined, limit: number): Promise<[string, number, number, string, Entry[]]> {
    const keys = [`${prefix}h:${topic}`, `${prefix}m:${topic}`];
    return (await run('history', () =>
      // latin1 round-trips bytes: stream payloads may be binary envelopes.
      scripts.sbReadBuffer(...keys, newEpoch(), since?.epoch ?? '', since?.offset ?? 0, limit, metaTtlMs).then(decodeReadReply),
    )) as [string, number, number, string, Entry[]];
  }

  async function history(topic: string, q: HistoryQuery): Promise<HistoryResult> {
    const limit = q.limit ?? 0;
    const [epoch, offset, now, mode, entries] = await read(topic, q.since, q.since ? 0 : limit);
    const top = { epoch, offset };
    const live = (list: Entry[]) =>
      list.map((e) => toStored(e, epoch)).filter((m): m is StoredMessage & { expiresAt: number } => m !== undefined && m.expiresAt > now);
    const strip = (list: (StoredMessage & { expiresAt: number })[]): StoredMessage[] =>
      list.map(({ expiresAt: _, ...m }) => m);
    if (!q.since) return { top, messages: strip(live(entries).reverse()) };
    if (mode === 'since') {
      const kept = live(entries);
      const complete = kept.length === offset - q.since.offset && (kept.length === 0 || kept[0]!.meta.offset === q.since.offset + 1);
      if (complete) return { top, messages: strip(kept), recovered: true };
    }
    const reason = q.since.epoch !== epoch ? 'epoch' : 'window';
    const messages = limit > 0 ? (await history(topic, { limit })).messages : [];
    return { top, messages, recovered: false, reason };
  }

  return {
    nodeId,
    async attach(n) {
      if (node) throw new Error('this redis engine is already attached to a server');
      // A failed attach may be retried (the server's listen() again) once Redis is up.
      await run('connect', () => ready(redis));
      await run('connect', () => ready(sub));
      node = n;
      presence.start();
    },
    publish,
    history,
    async subscribe(topic) {
      channels.add(topic);
      try {
        await run('subscribe', () => sub.subscribe(channel(topic)));
      } catch (err) {
        channels.delete(topic);
        throw err;
      }
    },
    async unsubscribe(topic) {
      channels.delete(topic);
      // While disconnected ioredis still lists the channel and re-subscribes it on reconnect; the
      // recovery then unsubscribes it (meanwhile the node drops events for topics nobody wants).
      if (sub.status === 'ready') await sub.unsubscribe(channel(topic)).catch(() => unsubscribed.add(topic));
      else unsubscribed.add(topic);
    },
    presenceAdd: (entry) => run('presence', () => presence.add(entry)),
    async presenceRemove(entry) {
      return (await run('presence', () => presence.remove(entry))) !== undefined;
    },
    presenceList: (topic) => run('presence', () => presence.list(topic)),
    async claimCall(key, fingerprint, leaseMs): Promise<CallClaim> {
      const k = `${prefix}k:${key}`;
      const running: CallRecord = ['running', fingerprint];
      for (;;) {
        const set = await run('call', () => redis.set(k, encodeValue(running), 'PX', Math.ceil(leaseMs), 'NX'));
        if (set === 'OK') return { state: 'claimed' };
        const raw = await run('call', () => redis.getBuffer(k));
        if (!raw) continue; // expired between the two commands: claim again
        const r = decodeValue(raw) as CallRecord | undefined;
        if (!Array.isArray(r)) throw new SwitchboardError(ErrorCode.INTERNAL, 'Unreadable idempotency record');
        return r[0] === 'done' ? { state: 'done', fingerprint: r[1], outcome: r[2] } : { state: 'running', fingerprint: r[1] };
      }
    },
    async renewCall(key, fingerprint, leaseMs) {
      const running: CallRecord = ['running', fingerprint];
      await run('call', () => scripts.sbRenew(`${prefix}k:${key}`, encodeValue(running), Math.ceil(leaseMs)));
    },
    async finishCall(key, fingerprint, outcome: CallOutcome, ttlMs) {
      const done: CallRecord = ['done', fingerprint, outcome];
      await run('call', () => redis.set(`${prefix}k:${key}`, encodeValue(done), 'PX', Math.ceil(ttlMs)));
    },
    health() {
      if (redis.status === 'ready' && sub.status === 'ready') return { healthy: true };
      return { healthy: false, detail: `redis ${redis.status}, subscriber ${sub.status}` };
    },
    async close() {
      if (closed) return;
      closed = true;
      node = undefined;
      clearInterval(metaTimer);
      if (retry) clearTimeout(retry);
      // Leaving the registry needs Redis; a Redis that is down must not hold close() (the entries
      // then lapse with the node TTL, as for a node that died).
      const leave = presence.stop().catch((err: unknown) => onError(err, 'leaving the node registry'));
      await Promise.race([leave, new Promise((r) => setTimeout(r, 2_000).unref?.())]);
      sub.disconnect();
      redis.off('error', onRedisError);
      if (ownsClient) await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** Resolves once `client` is ready: connects a fresh one, or waits for one that is reconnecting. */
async function ready(client: Redis): Promise<void> {
  if (client.status === 'ready') return;
  if (client.status === 'wait' || client.status === 'end') return void (await client.connect());
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => (client.off('ready', onReady), reject(new Error(`redis is ${client.status}`))), 5_000);
    const onReady = () => (clearTimeout(timer), resolve());
    client.once('ready', onReady);
  });
}

function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

/** The READ reply with Buffers turned into strings (latin1 for payloads, which may be binary). */
function decodeReadReply(reply: unknown): [string, number, number, string, Entry[]] {
  const [epoch, offset, now, mode, entries] = reply as [Buffer, number, number, Buffer, [Buffer, Buffer[]][]];
  return [
    epoch.toString('utf8'),
    Number(offset),
    Number(now),
    mode.toString('utf8'),
    entries.map(([id, fields]) => [id.toString('utf8'), fields.map((f) => f.toString('latin1'))]),
  ];
}
