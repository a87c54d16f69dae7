/**
 * The embedded in-memory engine: one process, no external service. Delivery is synchronous, so
 * publish order is delivery order, and offsets are assigned in that same order.
 */
import type { Member } from '../protocol/frames.js';
import type { CallClaim, CallOutcome, ControlMessage, ControlTarget, Engine, EngineEvent, EngineNode, HistoryOptions, HistoryQuery, PresenceEntry } from './engine.js';
import { positiveInt, positiveMs, positiveNumber, withDefaults } from '../shared/options.js';
import { MemoryHistory } from './memory-history.js';

/** Options of {@link createMemoryEngine}. */
export interface MemoryEngineOptions {
  /**
   * How long a topic without messages in its history and without subscribers keeps its epoch and
   * offset, in ms. After that a client coming back with an old position is told `epoch` (a gap).
   * @default 3600000 (1 hour)
   */
  historyIdleTtlMs?: number;
  /** Most idempotent-call records kept; the oldest finished ones go first. @default 100000 */
  maxCallRecords?: number;
  /** How often expired history and call records are swept, in ms. @default 60000 */
  sweepIntervalMs?: number;
}

/** The defaults of {@link MemoryEngineOptions}. */
const MEMORY_DEFAULTS: Readonly<Required<MemoryEngineOptions>> = {
  historyIdleTtlMs: 3_600_000,
  maxCallRecords: 100_000,
  sweepIntervalMs: 60_000,
};

/** Merges `options` with {@link MEMORY_DEFAULTS} (`undefined` keeps the default) and checks them. */
function resolveMemoryOptions(options: MemoryEngineOptions | undefined): Required<MemoryEngineOptions> {
  const o = withDefaults(MEMORY_DEFAULTS, options);
  return {
    historyIdleTtlMs: positiveNumber('historyIdleTtlMs', o.historyIdleTtlMs),
    maxCallRecords: positiveInt('maxCallRecords', o.maxCallRecords),
    // setInterval runs a delay it cannot use (undefined, NaN, 0) every millisecond.
    sweepIntervalMs: positiveMs('sweepIntervalMs', o.sweepIntervalMs),
  };
}

type CallRecord =
  | { state: 'running'; fingerprint: string; until: number }
  | { state: 'done'; fingerprint: string; outcome: CallOutcome; until: number };

/** The key of one grant for one topic (a grant id holds no NUL: it is one the server made). */
function grantKey(grant: string, topic: string): string {
  return `${grant}\u0000${topic}`;
}

/** Creates the default engine: fan-out, presence, history and call records for one server process. */
export function createMemoryEngine(options?: MemoryEngineOptions): Engine {
  const opts = resolveMemoryOptions(options);
  let node: EngineNode | undefined;
  /** topic → member id → { member, connections } */
  const presence = new Map<string, Map<string, { member: Member; clients: Set<string> }>>();
  const history = new MemoryHistory(opts.historyIdleTtlMs);
  const subscribed = new Set<string>();
  const calls = new Map<string, CallRecord>();
  /** grant + NUL + topic → the member it is bound to, and when it lapses. */
  const grants = new Map<string, { member: string; until: number }>();
  /** topic → member → the grants bound to it (docs/protocol.md §2.9, "Revocation"). */
  const byMember = new Map<string, Map<string, Set<string>>>();
  /** topic → clientId → the grants that connection holds → until when the record is kept. */
  const byClient = new Map<string, Map<string, Map<string, number>>>();
  let sweeper: ReturnType<typeof setInterval> | undefined;

  function sweep(): void {
    const now = Date.now();
    history.sweep(now, (topic) => subscribed.has(topic));
    for (const [key, r] of calls) if (r.until <= now) calls.delete(key);
    for (const [key, g] of grants) if (g.until <= now) grants.delete(key);
    for (const [topic, members] of byMember) {
      for (const [member, set] of members) {
        for (const grant of set) if (!grants.has(grantKey(grant, topic))) set.delete(grant);
        if (set.size === 0) members.delete(member);
      }
      if (members.size === 0) byMember.delete(topic);
    }
    for (const [topic, clients] of byClient) {
      for (const [clientId, held] of clients) {
        for (const [grant, until] of held) if (until <= now) held.delete(grant);
        if (held.size === 0) clients.delete(clientId);
      }
      if (clients.size === 0) byClient.delete(topic);
    }
  }

  /** The entry of `key` in a two-level index, created when missing. */
  function indexed<V>(index: Map<string, Map<string, V>>, topic: string, key: string, create: () => V): V {
    let level = index.get(topic);
    if (!level) index.set(topic, (level = new Map()));
    let v = level.get(key);
    if (!v) level.set(key, (v = create()));
    return v;
  }

  return {
    attach(n) {
      if (node) throw new Error('this memory engine is already attached to a server');
      node = n;
      sweeper = setInterval(sweep, opts.sweepIntervalMs);
      sweeper.unref?.();
    },
    publish(topic: string, event: EngineEvent, h?: HistoryOptions) {
      if (h && event.kind === 'msg') {
        const stored = history.append(topic, event.data, event.meta, h, Date.now(), event.skip);
        node?.deliver(topic, { ...event, meta: stored.meta });
        return { epoch: stored.meta.epoch, offset: stored.meta.offset };
      }
      node?.deliver(topic, event);
      return undefined;
    },
    control(message: ControlMessage) {
      node?.control?.(message);
    },
    grantAdd(grant: string, topic: string, member: string, ttlMs?: number) {
      grants.set(grantKey(grant, topic), { member, until: ttlMs === undefined ? Infinity : Date.now() + ttlMs });
      if (member !== '') indexed(byMember, topic, member, () => new Set<string>()).add(grant);
    },
    grantHold(grant: string, topic: string, clientId: string, ttlMs: number) {
      const held = indexed(byClient, topic, clientId, () => new Map<string, number>());
      held.set(grant, Math.max(held.get(grant) ?? 0, Date.now() + ttlMs));
    },
    grantFind(grant: string, topic: string) {
      const g = grants.get(grantKey(grant, topic));
      return g && g.until > Date.now() ? g.member : undefined;
    },
    grantRemove(grant: string, topic: string) {
      grants.delete(grantKey(grant, topic));
    },
    grantRevoke(topic: string, target: ControlTarget) {
      const found =
        'member' in target ? byMember.get(topic)?.get(target.member) : byClient.get(topic)?.get(target.clientId)?.keys();
      for (const grant of found ?? []) grants.delete(grantKey(grant, topic));
      if ('member' in target) byMember.get(topic)?.delete(target.member);
      else byClient.get(topic)?.delete(target.clientId);
    },
    history(topic: string, query: HistoryQuery) {
      return history.read(topic, query, Date.now());
    },
    subscribe(topic) {
      subscribed.add(topic);
    },
    unsubscribe(topic) {
      subscribed.delete(topic);
    },
    presenceAdd({ topic, member, clientId }: PresenceEntry) {
      let members = presence.get(topic);
      if (!members) presence.set(topic, (members = new Map()));
      const found = members.get(member.id);
      if (found) {
        found.clients.add(clientId);
        return false;
      }
      members.set(member.id, { member, clients: new Set([clientId]) });
      return true;
    },
    presenceRemove({ topic, member, clientId }: PresenceEntry) {
      const members = presence.get(topic);
      const found = members?.get(member.id);
      if (!members || !found || !found.clients.delete(clientId)) return false;
      if (found.clients.size > 0) return false;
      members.delete(member.id);
      if (members.size === 0) presence.delete(topic);
      return true;
    },
    presenceList(topic: string) {
      return [...(presence.get(topic)?.values() ?? [])].map((m) => m.member);
    },
    claimCall(key: string, fingerprint: string, leaseMs: number): CallClaim {
      const now = Date.now();
      const r = calls.get(key);
      if (r && r.until > now) {
        return r.state === 'done' ? { state: 'done', fingerprint: r.fingerprint, outcome: r.outcome } : { state: 'running', fingerprint: r.fingerprint };
      }
      if (calls.size >= opts.maxCallRecords) {
        // Evict the oldest record; a running one is kept (its caller still waits on it).
        for (const [k, old] of calls) {
          if (old.state === 'done' || old.until <= now) {
            calls.delete(k);
            break;
          }
        }
      }
      calls.delete(key); // re-insert at the end: Map order is the eviction order
      calls.set(key, { state: 'running', fingerprint, until: now + leaseMs });
      return { state: 'claimed' };
    },
    renewCall(key: string, fingerprint: string, leaseMs: number) {
      const r = calls.get(key);
      if (r?.state === 'running' && r.fingerprint === fingerprint) r.until = Date.now() + leaseMs;
    },
    finishCall(key: string, fingerprint: string, outcome: CallOutcome, ttlMs: number) {
      calls.delete(key);
      calls.set(key, { state: 'done', fingerprint, outcome, until: Date.now() + ttlMs });
    },
    close() {
      if (sweeper) clearInterval(sweeper);
      node = undefined;
      presence.clear();
      history.clear();
      calls.clear();
      grants.clear();
      byMember.clear();
      byClient.clear();
    },
  };
}
