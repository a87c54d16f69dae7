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
 * - Redis frozen (it keeps its connections but answers nothing): every command has a deadline
 *   (liveness.ts). A publish past it rejects with `OUTCOME_UNKNOWN` (it is still queued and may be
 *   delivered when Redis resumes); until Redis answers again, operations fail at once with
 *   `UNAVAILABLE` without being sent, and `health()` reports it (docs/scaling.md).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { ErrorCode } from '../../protocol/error-codes.js';
import { SwitchboardError } from '../../protocol/errors.js';
import type { StreamPosition } from '../../protocol/frames.js';
import { consoleLogger, type Logger } from '../../shared/logger.js';
import { newEpoch, type CallClaim, type CallOutcome, type ControlMessage, type Engine, type EngineEvent, type EngineNode, type HistoryOptions, type HistoryQuery, type HistoryResult, type StoredMessage } from '../engine.js';
import { redisKeys } from './keys.js';
import { CLIENT_OPTIONS, resolveRedisOptions, type RedisEngineOptions } from './options.js';
import { DeadlinePassed, Liveness } from './liveness.js';
import { PresenceStore } from './presence.js';
import { defineScripts } from './scripts.js';
import { channelMessage, decodeEvent, decodeValue, encodeEvent, encodeValue, splitChannelMessage, type CallRecord } from './wire.js';

type Entry = [id: string, fields: Buffer[]];

/** The engine for a Switchboard server that shares its topics with other nodes through Redis. */
export interface RedisEngine extends Engine {
  /** This node's id in the registry. */
  readonly nodeId: string;
  /** Publishes a server-control command on the control channel every node listens on (docs/scaling.md). */
  control(message: ControlMessage): Promise<void>;
}

/** Creates a Redis engine: `createServer({ engine: redisEngine({ url }) })`. */
export function redisEngine(options?: RedisEngineOptions): RedisEngine {
  const { url, prefix, nodeTtlMs, historyMetaTtlMs: metaTtlMs, commandTimeoutMs, client, logger: given } = resolveRedisOptions(options);
  /** The given logger, else the server's (from `attach`). */
  let logger: Logger = given ?? consoleLogger;
  const onError = (err: unknown, what: string) => logger.error({ err, what }, `redis engine: ${what} failed`);
  const nodeId = randomUUID();
  const ownsClient = !client;
  const redis = client ?? new Redis(url, CLIENT_OPTIONS);
  const sub = redis.duplicate(CLIENT_OPTIONS);
  const scripts = defineScripts(redis);
  const keys = redisKeys(prefix);
  const { channel, channelPrefix } = keys;
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
  const liveness = new Liveness({
    clients: [redis, sub],
    timeoutMs: commandTimeoutMs,
    onStall: () => {
      if (closed) return;
      logger.warn({ timeoutMs: commandTimeoutMs }, 'redis engine: redis does not answer in time; operations fail with UNAVAILABLE until it does');
    },
    onAnswer: () => {
      if (closed) return;
      logger.info({}, 'redis engine: redis answers again');
      // What failed fast meanwhile: stale channels, presence removals; the pub/sub link never
      // dropped, so nothing was missed and no history needs re-reading.
      void dropStaleChannels()
        .then(() => presence.restore())
        .catch((err: unknown) => onError(err, 'restore after redis answered again'));
    },
  });
  const presence = new PresenceStore({
    keys,
    nodeId,
    nodeTtlMs,
    run,
    live: () => !liveness.stalled,
    redis,
    scripts,
    announce: (topic, event) => publish(topic, event).then(() => undefined),
    onError,
  });

  /**
   * Runs a Redis operation with the command deadline. A failure to reach Redis becomes
   * `UNAVAILABLE` (not sent, or refused); a deadline passed becomes `late` (the command is still
   * queued and may run when Redis resumes). While Redis is stalled nothing is sent.
   */
  async function run<T>(what: string, op: () => Promise<T>, late: 'UNAVAILABLE' | 'OUTCOME_UNKNOWN' = ErrorCode.UNAVAILABLE): Promise<T> {
    if (liveness.stalled) {
      throw new SwitchboardError(ErrorCode.UNAVAILABLE, `The message engine is unavailable (${what})`, {
        reason: `redis did not answer within ${commandTimeoutMs} ms`,
      });
    }
    try {
      return await liveness.within(op);
    } catch (err) {
      if (err instanceof SwitchboardError) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      if (err instanceof DeadlinePassed && late === ErrorCode.OUTCOME_UNKNOWN) {
        throw new SwitchboardError(ErrorCode.OUTCOME_UNKNOWN, `The message engine did not confirm in time (${what}); it may still be delivered`, { reason });
      }
      throw new SwitchboardError(ErrorCode.UNAVAILABLE, `The message engine is unavailable (${what})`, { reason });
    }
  }

  /** Unsubscribes channels left while they could not be unsubscribed (link down, Redis stalled). */
  async function dropStaleChannels(): Promise<void> {
    const stale = [...unsubscribed].filter((t) => !channels.has(t));
    unsubscribed.clear();
    if (!stale.length) return;
    try {
      await run('unsubscribe', () => sub.unsubscribe(...stale.map(channel)));
    } catch (err) {
      for (const t of stale) unsubscribed.add(t); // tried again at the next recovery
      throw err;
    }
  }

  sub.on('messageBuffer', (ch: Buffer, message: Buffer) => {
    const name = ch.toString('utf8');
    if (name === keys.control) {
      const m = decodeValue(message) as ControlMessage | undefined;
      // Shape-checked before it reaches the server: a malformed message (another version, a stray
      // publisher) is reported, never thrown inside the subscriber's handler.
      const t = m && typeof m === 'object' ? (m as { target?: unknown }).target : undefined;
      const targetOk = !!t && typeof t === 'object' && (typeof (t as { clientId?: unknown }).clientId === 'string' || typeof (t as { member?: unknown }).member === 'string');
      if (!m || typeof m !== 'object' || typeof m.op !== 'string' || !targetOk) return onError(new Error('undecodable server-control message'), 'control');
      return node?.control?.(m);
    }
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
  sub.on('ready', () => {
    liveness.connected();
    void recover();
  });
  redis.on('ready', () => liveness.connected());

  /** After the subscriber connection came back: resync, then presence; retried until it works. */
  async function recover(): Promise<void> {
    if (!lost || closed || recovering) return;
    recovering = true;
    try {
      // ioredis re-subscribed the channels it knew on reconnect; a PING answered after them proves
      // they are in effect, so the history read misses nothing published from here on.
      await run('resync', () => sub.ping());
      await dropStaleChannels();
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
    if (redis.status !== 'ready' || liveness.stalled || channels.size === 0) return;
    const p = redis.pipeline();
    for (const topic of channels) p.pexpire(keys.meta(topic), metaTtlMs);
    p.exec().catch((err: unknown) => onError(err, 'renewing topic meta'));
  }, Math.max(1_000, Math.floor(metaTtlMs / 4)));
  metaTimer.unref?.();

  async function publish(topic: string, event: EngineEvent, h?: HistoryOptions): Promise<StreamPosition | undefined> {
    const payload = encodeEvent(event);
    if (h && event.kind === 'msg') {
      const [epoch, offset] = (await run(
        'publish',
        () => scripts.sbPublish(keys.stream(topic), keys.meta(topic), channel(topic), payload, h.size, Math.ceil(h.ttlMs), metaTtlMs, newEpoch()),
        ErrorCode.OUTCOME_UNKNOWN,
      )) as [string, number];
      return { epoch, offset };
    }
    // A message past its deadline may still go out; a join or leave announcement is the engine's
    // own bookkeeping, whose callers only need to know it did not complete.
    const late = event.kind === 'msg' ? ErrorCode.OUTCOME_UNKNOWN : ErrorCode.UNAVAILABLE;
    await run('publish', () => redis.publish(channel(topic), channelMessage(payload)), late);
    return undefined;
  }

  /** A stream entry as a stored message; `undefined` when it expired by `now` (Redis's clock) or is not ours. */
  function toStored([id, fields]: Entry, epoch: string, now: number): StoredMessage | undefined {
    let expiresAt = 0;
    let payload: Buffer | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i]!.toString();
      if (name === 'x') expiresAt = Number(fields[i + 1]!.toString());
      else if (name === 'd') payload = fields[i + 1];
    }
    if (expiresAt <= now || !payload) return undefined;
    const event = decodeEvent(payload, epoch, Number(id.slice(2)));
    if (event?.kind !== 'msg') return undefined;
    return { data: event.data, meta: event.meta as StoredMessage['meta'], ...(event.skip ? { skip: event.skip } : {}) };
  }

  async function history(topic: string, q: HistoryQuery): Promise<HistoryResult> {
    const limit = q.limit ?? 0;
    // One script: with `since` it answers mode 'since' (the entries after it) when the epoch
    // matches and the offset is not ahead, else mode 'last' (the newest `limit`, newest first).
    const [epoch, offset, now, mode, entries] = await run('history', () =>
      scripts
        .sbReadBuffer(keys.stream(topic), keys.meta(topic), newEpoch(), q.since?.epoch ?? '', q.since?.offset ?? 0, limit, metaTtlMs)
        .then(decodeReadReply),
    );
    const top = { epoch, offset };
    const kept = (mode === 'last' ? entries.reverse() : entries)
      .map((e) => toStored(e, epoch, now))
      .filter((m): m is StoredMessage => m !== undefined);
    if (!q.since) return { top, messages: kept };
    if (mode === 'since' && kept.length === offset - q.since.offset && (kept.length === 0 || kept[0]!.meta.offset === q.since.offset + 1)) {
      return { top, messages: kept, recovered: true };
    }
    // Not recoverable. In mode 'since' (a window overrun) every kept message is after `since`, so
    // the newest `limit` of them are the topic's newest: no second read.
    const reason = q.since.epoch !== epoch ? 'epoch' : 'window';
    return { top, messages: limit > 0 ? kept.slice(-limit) : [], recovered: false, reason };
  }

  return {
    nodeId,
    async attach(n) {
      if (node) throw new Error('this redis engine is already attached to a server');
      if (n.logger && !given) logger = n.logger;
      // A failed attach may be retried (the server's listen() again) once Redis is up. Connecting
      // has its own deadline (ready()), longer than a command's.
      await connect(redis);
      await connect(sub);
      // Server control reaches every node on one channel (docs/scaling.md); ioredis re-subscribes
      // it after a reconnect. What is sent while a node's link is down never reaches it (at most once).
      await run('subscribe', () => sub.subscribe(keys.control));
      node = n;
      presence.start();
      liveness.start();
    },
    publish,
    history,
    async subscribe(topic) {
      channels.add(topic);
      try {
        await run('subscribe', () => sub.subscribe(channel(topic)));
      } catch (err) {
        channels.delete(topic);
        // A SUBSCRIBE past its deadline may still take effect: drop it once Redis answers again.
        unsubscribed.add(topic);
        throw err;
      }
    },
    async unsubscribe(topic) {
      channels.delete(topic);
      // While disconnected ioredis still lists the channel and re-subscribes it on reconnect; the
      // recovery then unsubscribes it (meanwhile the node drops events for topics nobody wants).
      if (sub.status === 'ready' && !liveness.stalled) await run('unsubscribe', () => sub.unsubscribe(channel(topic))).catch(() => unsubscribed.add(topic));
      else unsubscribed.add(topic);
    },
    async control(message) {
      await run('control', () => redis.publish(keys.control, encodeValue(message)));
    },
    async grantAdd(grant, topic, member, ttlMs) {
      const k = keys.grant(grant);
      const ttl = ttlMs === undefined ? '' : Math.ceil(ttlMs);
      const m = redis.multi().hset(k, topic, member);
      if (ttl === '') m.persist(k);
      else m.pexpire(k, ttl);
      // The index is a key of its own (on a Redis Cluster it may live on another node than the grant).
      await run('grant', () => m.exec());
      if (member !== '') await run('grant', () => scripts.sbGrantIndex(keys.grantsOfMember(topic, member), grant, ttl));
    },
    async grantHold(grant, topic, clientId, ttlMs) {
      await run('grant', () => scripts.sbGrantIndex(keys.grantsOfClient(topic, clientId), grant, Math.ceil(ttlMs)));
    },
    async grantFind(grant, topic) {
      return (await run('grant', () => redis.hget(keys.grant(grant), topic))) ?? undefined;
    },
    async grantRemove(grant, topic) {
      await run('grant', () => redis.hdel(keys.grant(grant), topic));
    },
    async grantRevoke(topic, target) {
      const index = 'member' in target ? keys.grantsOfMember(topic, target.member) : keys.grantsOfClient(topic, target.clientId);
      const found = await run('grant', () => redis.smembers(index));
      if (found.length === 0) return;
      // One command per key (each may live on another node of a Redis Cluster); only the grants
      // read are taken out of the index, so one added meanwhile stays revocable.
      await Promise.all(found.map((grant) => run('grant', () => redis.hdel(keys.grant(grant), topic))));
      await run('grant', () => redis.srem(index, ...found));
    },
    presenceAdd: (entry) => run('presence', () => presence.add(entry)),
    async presenceRemove(entry) {
      presence.leaving(entry);
      return (await run('presence', () => presence.remove(entry))) !== undefined;
    },
    presenceList: (topic) => run('presence', () => presence.list(topic)),
    async claimCall(key, fingerprint, leaseMs): Promise<CallClaim> {
      const k = keys.call(key);
      for (;;) {
        const set = await run('call', () => redis.set(k, runningRecord(fingerprint), 'PX', Math.ceil(leaseMs), 'NX'));
        if (set === 'OK') return { state: 'claimed' };
        const raw = await run('call', () => redis.getBuffer(k));
        if (!raw) continue; // expired between the two commands: claim again
        const r = decodeValue(raw) as CallRecord | undefined;
        if (!Array.isArray(r)) throw new SwitchboardError(ErrorCode.INTERNAL, 'Unreadable idempotency record');
        return r[0] === 'done' ? { state: 'done', fingerprint: r[1], outcome: r[2] } : { state: 'running', fingerprint: r[1] };
      }
    },
    async renewCall(key, fingerprint, leaseMs) {
      await run('call', () => scripts.sbRenew(keys.call(key), runningRecord(fingerprint), Math.ceil(leaseMs)));
    },
    async finishCall(key, fingerprint, outcome: CallOutcome, ttlMs) {
      const done: CallRecord = ['done', fingerprint, outcome];
      await run('call', () => redis.set(keys.call(key), encodeValue(done), 'PX', Math.ceil(ttlMs)));
    },
    health() {
      if (redis.status !== 'ready' || sub.status !== 'ready') return { healthy: false, detail: `redis ${redis.status}, subscriber ${sub.status}` };
      if (liveness.stalled) return { healthy: false, detail: `redis did not answer within ${commandTimeoutMs} ms` };
      return { healthy: true };
    },
    async close() {
      if (closed) return;
      closed = true;
      const attached = node !== undefined;
      node = undefined;
      clearInterval(metaTimer);
      liveness.stop();
      if (retry) clearTimeout(retry);
      // Leaving the registry needs Redis; a Redis that is down must not hold close() (the entries
      // then lapse with the node TTL, as for a node that died).
      // An engine never attached never joined it.
      const leave = attached ? presence.stop().catch((err: unknown) => onError(err, 'leaving the node registry')) : Promise.resolve();
      await Promise.race([leave, new Promise((r) => setTimeout(r, 2_000).unref?.())]);
      sub.disconnect();
      redis.off('error', onRedisError);
      if (ownsClient) await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/** {@link ready}, with a failure as `UNAVAILABLE`. */
async function connect(client: Redis): Promise<void> {
  try {
    await ready(client);
  } catch (err) {
    throw new SwitchboardError(ErrorCode.UNAVAILABLE, 'The message engine is unavailable (connect)', {
      reason: err instanceof Error ? err.message : String(err),
    });
  }
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

/**
 * A running call's record. Byte for byte the same for the claim and every renewal: the renewal
 * script extends the lease only while the stored record still equals it.
 */
function runningRecord(fingerprint: string): Buffer {
  const running: CallRecord = ['running', fingerprint];
  return encodeValue(running);
}

/** The READ reply, with the entries' fields left as Buffers (payloads may be binary envelopes). */
function decodeReadReply(reply: unknown): [string, number, number, string, Entry[]] {
  const [epoch, offset, now, mode, entries] = reply as [Buffer, number, number, Buffer, [Buffer, Buffer[]][]];
  return [epoch.toString('utf8'), Number(offset), Number(now), mode.toString('utf8'), entries.map(([id, fields]) => [id.toString('utf8'), fields])];
}
