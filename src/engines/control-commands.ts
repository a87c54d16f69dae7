/**
 * The server-control commands as every sender makes them — a server (`server.send`, `kick`,
 * `subscribe`, `unsubscribe`) or a process without clients (`redisEmitter`): arguments checked
 * (a `TypeError` naming what is wrong), grants of members stored before the command leaves, and the
 * command handed to `dispatch` (docs/protocol.md §2.9, docs/server.md "Server control").
 */
import { createHash } from 'node:crypto';
import { assertDepth } from '../protocol/depth.js';
import { isName } from '../protocol/frames.js';
import type { ControlMessage, ControlTarget, Engine } from './engine.js';

/** Options of `kick`. */
export interface KickOptions {
  /**
   * The close reason the client sees, at most 123 UTF-8 bytes.
   * @default 'kicked' (or 'moved' with `reconnect`)
   */
  reason?: string;
  /**
   * Close with MOVED (4002, the client reconnects, possibly to another node) instead of KICKED
   * (4502, the client stays away).
   * @default false
   */
  reconnect?: boolean;
}

/** Options of `subscribe`. */
export interface ServerSubscribeOptions {
  /**
   * Subscribe even where the topic's rules would refuse, and let the client re-subscribe after a
   * reconnect with the grant the engine keeps (docs/protocol.md §2.9). Without it the topic's
   * `subscribe` rule decides, now and at every re-subscription.
   * @default false
   */
  bypassRules?: boolean;
}

/** Options of `unsubscribe`. */
export interface ServerUnsubscribeOptions {
  /**
   * The message of the `REVOKED` error the client's subscription ends with, at most 123 UTF-8 bytes.
   * @default 'Unsubscribed by the server'
   */
  reason?: string;
}

/** The four commands, as a server and an emitter expose them. */
export interface ControlCommands {
  send(target: ControlTarget, event: string, data?: unknown): Promise<void>;
  kick(target: ControlTarget, options?: KickOptions): Promise<void>;
  subscribe(target: ControlTarget, topic: string, options?: ServerSubscribeOptions): Promise<void>;
  unsubscribe(target: ControlTarget, topic: string, options?: ServerUnsubscribeOptions): Promise<void>;
}

/** Longest app-supplied reason: what a WebSocket close frame can carry (RFC 6455 §5.5). */
const MAX_REASON_BYTES = 123;

/** The grant id of a member: the same on every node, and never longer than a `sub`'s `grant` may be. */
export function memberGrant(member: string): string {
  return `m:${createHash('sha256').update(member).digest('base64url')}`;
}

/** A copy of `target` with nothing else in it, or a TypeError. */
function checkTarget(target: unknown): ControlTarget {
  const t = target as { clientId?: unknown; member?: unknown } | null;
  if (typeof t === 'object' && t !== null) {
    if (typeof t.clientId === 'string' && t.clientId && t.member === undefined) return { clientId: t.clientId };
    if (typeof t.member === 'string' && t.member && t.clientId === undefined) return { member: t.member };
  }
  throw new TypeError('target must be { clientId: string } or { member: string }');
}

function checkReason(reason: unknown, fallback: string): string {
  if (reason === undefined) return fallback;
  if (typeof reason !== 'string' || new TextEncoder().encode(reason).length > MAX_REASON_BYTES) {
    throw new TypeError(`reason must be a string of at most ${MAX_REASON_BYTES} bytes in UTF-8`);
  }
  return reason;
}

/** The options object of a command (`undefined` for none), or a TypeError. */
function checkOptions<T extends object>(method: string, o: T | undefined): Partial<T> {
  if (o === undefined) return {};
  if (typeof o !== 'object' || o === null) throw new TypeError(`options of ${method} must be an object`);
  return o;
}

function checkBoolean(name: string, v: unknown): boolean {
  if (v !== undefined && typeof v !== 'boolean') throw new TypeError(`${name} must be a boolean`);
  return v === true;
}

function checkTopic(topic: unknown): string {
  if (!isName(topic)) throw new TypeError('topic must be a string of 1-256 characters');
  return topic;
}

/** The commands for one sender: `dispatch` hands a checked command to every node. */
export function createControlCommands(engine: Pick<Engine, 'grantAdd' | 'grantRemove' | 'grantRevoke'>, dispatch: (m: ControlMessage) => Promise<void>): ControlCommands {
  /** Resolves once the last command so far was handed to `dispatch`. */
  let last: Promise<void> = Promise.resolve();

  /**
   * Hands `m` to `dispatch` after `prepare` (grants written or revoked) and after every command
   * called before it: commands leave in the order they were called even when the caller does not
   * await each one, and the engine keeps that order (docs/protocol.md §2.9). Only the handing over
   * is ordered; deliveries are not awaited one by one.
   */
  async function ordered(m: ControlMessage, prepare?: () => Promise<void>): Promise<void> {
    const previous = last;
    let handed!: () => void;
    last = new Promise<void>((resolve) => (handed = resolve));
    try {
      const prepared = prepare?.();
      prepared?.catch(() => {}); // awaited below, after the commands before it
      await previous;
      await prepared;
      const sent = dispatch(m);
      handed();
      await sent;
    } finally {
      handed();
    }
  }

  return {
    async send(target, event, data) {
      const t = checkTarget(target);
      if (!isName(event)) throw new TypeError('event must be a string of 1-256 characters');
      // Refused before any delivery: a value every codec can carry or none (docs/protocol.md §2.6).
      assertDepth(data, 'data');
      await ordered(data === undefined ? { op: 'event', target: t, name: event } : { op: 'event', target: t, name: event, data });
    },
    async kick(target, options) {
      const t = checkTarget(target);
      const o = checkOptions('kick', options);
      const reconnect = checkBoolean('reconnect', o.reconnect);
      await ordered({ op: 'kick', target: t, reason: checkReason(o.reason, reconnect ? 'moved' : 'kicked'), reconnect });
    },
    async subscribe(target, topic, options) {
      const t = checkTarget(target);
      checkTopic(topic);
      const bypassRules = checkBoolean('bypassRules', checkOptions('subscribe', options).bypassRules);
      // A member's grant is stored once, by the sender, before any node applies the command.
      const prepare = bypassRules && 'member' in t && engine.grantAdd ? async () => void (await engine.grantAdd!(memberGrant(t.member), topic, t.member)) : undefined;
      await ordered({ op: 'subscribe', target: t, topic, bypassRules }, prepare);
    },
    async unsubscribe(target, topic, options) {
      const t = checkTarget(target);
      checkTopic(topic);
      const reason = checkReason(checkOptions('unsubscribe', options).reason, 'Unsubscribed by the server');
      // Every grant the target could re-subscribe with goes before the command leaves: a client
      // that is offline now is refused when it comes back (docs/protocol.md §2.9, "Revocation").
      await ordered({ op: 'unsubscribe', target: t, topic, reason }, async () => {
        if (engine.grantRevoke) {
          await engine.grantRevoke(topic, t);
          // An anonymous connection's member id is its clientId: `{ member }` addresses it too.
          if ('member' in t) await engine.grantRevoke(topic, { clientId: t.member });
        } else if ('member' in t) await engine.grantRemove?.(memberGrant(t.member), topic);
      });
    },
  };
}
