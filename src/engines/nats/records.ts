/**
 * Idempotent-call records and grants on JetStream KV. KV keys have no TTL of their own before
 * NATS 2.11, so each record carries its TTL and counts it from the entry's JetStream timestamp
 * (the server's clock; compared with the node's, so keep clocks in sync); the call bucket's own
 * TTL (`callRecordMaxAgeMs`) removes records nobody reads again. Claims and renewals are
 * compare-and-set on the entry's revision, so one node wins a key.
 */
import type { KV, KvEntry } from '@nats-io/kv';
import { ErrorCode } from '../../protocol/error-codes.js';
import { SwitchboardError } from '../../protocol/errors.js';
import type { CallClaim, CallOutcome, ControlTarget } from '../engine.js';
import { decodeValue, encodeValue } from '../redis/wire.js';
import { casConflict, readDoc } from './kv-doc.js';
import type { NatsNames } from './names.js';

/** A call record: running (fingerprint, lease) or done (fingerprint, ttl, outcome). */
type Record_ = ['running', string, number] | ['done', string, number, CallOutcome];

/** Whether an entry is live and within its TTL (`ttl` ms from when JetStream stored it). */
function fresh(e: KvEntry | null, ttl: number | undefined): boolean {
  return !!e && e.operation === 'PUT' && (ttl === undefined || e.created.getTime() + ttl > Date.now());
}

function decodeRecord(e: KvEntry | null): Record_ | undefined {
  if (!e || e.operation !== 'PUT') return undefined;
  const r = decodeValue(Buffer.from(e.value)) as Record_ | undefined;
  if (!Array.isArray(r)) throw new SwitchboardError(ErrorCode.INTERNAL, 'Unreadable idempotency record');
  return r;
}

export class CallRecords {
  readonly #kv: KV;
  readonly #names: NatsNames;

  constructor(kv: KV, names: NatsNames) {
    this.#kv = kv;
    this.#names = names;
  }

  async claim(key: string, fingerprint: string, leaseMs: number): Promise<CallClaim> {
    const k = this.#names.call(key);
    const running = encodeValue(['running', fingerprint, Math.ceil(leaseMs)] satisfies Record_);
    for (;;) {
      const e = await this.#kv.get(k);
      const r = decodeRecord(e);
      try {
        if (r && fresh(e, r[2])) return r[0] === 'done' ? { state: 'done', fingerprint: r[1], outcome: r[3] } : { state: 'running', fingerprint: r[1] };
        if (e && e.operation === 'PUT') await this.#kv.update(k, running, e.revision);
        else await this.#kv.create(k, running);
        return { state: 'claimed' };
      } catch (err) {
        if (!casConflict(err)) throw err; // another node claimed it first: read again
      }
    }
  }

  async renew(key: string, fingerprint: string, leaseMs: number): Promise<void> {
    const k = this.#names.call(key);
    const e = await this.#kv.get(k);
    const r = decodeRecord(e);
    if (!r || r[0] !== 'running' || r[1] !== fingerprint || !fresh(e, r[2])) return;
    await this.#kv.update(k, encodeValue(['running', fingerprint, Math.ceil(leaseMs)] satisfies Record_), e!.revision).catch((err: unknown) => {
      if (!casConflict(err)) throw err;
    });
  }

  async finish(key: string, fingerprint: string, outcome: CallOutcome, ttlMs: number): Promise<void> {
    await this.#kv.put(this.#names.call(key), encodeValue(['done', fingerprint, Math.ceil(ttlMs), outcome] satisfies Record_));
  }
}

/** A grant index entry: the grant id, and how long the entry is kept (none: until revoked). */
interface IndexDoc {
  g: string;
  ttl?: number;
}

/** A grant's value: the member it is bound to, and its TTL (none: until removed). */
interface GrantDoc {
  m: string;
  ttl?: number;
}

export class Grants {
  readonly #kv: KV;
  readonly #names: NatsNames;

  constructor(kv: KV, names: NatsNames) {
    this.#kv = kv;
    this.#names = names;
  }

  async add(grant: string, topic: string, member: string, ttlMs?: number): Promise<void> {
    const doc: GrantDoc = ttlMs === undefined ? { m: member } : { m: member, ttl: Math.ceil(ttlMs) };
    await this.#kv.put(this.#names.grant(grant, topic), JSON.stringify(doc));
    // Indexed under topic + member for revocation (docs/protocol.md §2.9, "Revocation").
    if (member !== '') await this.#kv.put(this.#names.grantOfMember(topic, member, grant), JSON.stringify({ g: grant, ...(doc.ttl ? { ttl: doc.ttl } : {}) } satisfies IndexDoc));
  }

  /** Records that connection `clientId` holds `grant` for `topic`, for `ttlMs`. */
  async hold(grant: string, topic: string, clientId: string, ttlMs: number): Promise<void> {
    await this.#kv.put(this.#names.grantOfClient(topic, clientId, grant), JSON.stringify({ g: grant, ttl: Math.ceil(ttlMs) } satisfies IndexDoc));
  }

  /** Deletes every grant for `topic` that `target` could re-subscribe with. */
  async revoke(topic: string, target: ControlTarget): Promise<void> {
    const filter = 'member' in target ? this.#names.grantsOfMember(topic, target.member) : this.#names.grantsOfClient(topic, target.clientId);
    const keys: string[] = [];
    for await (const k of await this.#kv.keys(filter)) keys.push(k);
    await Promise.all(
      keys.map(async (key) => {
        const e = await this.#kv.get(key);
        const doc = readDoc<IndexDoc>(e);
        if (!doc) return;
        if (fresh(e, doc.ttl)) await this.#kv.delete(this.#names.grant(doc.g, topic));
        // Only the index entry that was read: one written again meanwhile stays revocable.
        await this.#kv.delete(key, { previousSeq: e!.revision }).catch((err: unknown) => {
          if (!casConflict(err)) throw err;
        });
      }),
    );
  }

  async find(grant: string, topic: string): Promise<string | undefined> {
    const e = await this.#kv.get(this.#names.grant(grant, topic));
    const doc = readDoc<GrantDoc>(e);
    return doc && fresh(e, doc.ttl) ? doc.m : undefined;
  }

  async remove(grant: string, topic: string): Promise<void> {
    await this.#kv.delete(this.#names.grant(grant, topic));
  }
}
