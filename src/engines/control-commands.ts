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
export function createControlCommands(engine: Pick<Engine, 'grantAdd' | 'grantRemove'>, dispatch: (m: ControlMessage) => Promise<void>): ControlCommands {
  return {
    async send(target, event, data) {
      const t = checkTarget(target);
      if (!isName(event)) throw new TypeError('event must be a string of 1-256 characters');
      // Refused before any delivery: a value every codec can carry or none (docs/protocol.md §2.6).
      assertDepth(data, 'data');
      await dispatch(data === undefined ? { op: 'event', target: t, name: event } : { op: 'event', target: t, name: event, data });
    },
    async kick(target, options) {
      const t = checkTarget(target);
      const o = checkOptions('kick', options);
      const reconnect = checkBoolean('reconnect', o.reconnect);
      await dispatch({ op: 'kick', target: t, reason: checkReason(o.reason, reconnect ? 'moved' : 'kicked'), reconnect });
    },
    async subscribe(target, topic, options) {
      const t = checkTarget(target);
      checkTopic(topic);
      const bypassRules = checkBoolean('bypassRules', checkOptions('subscribe', options).bypassRules);
      // A member's grant is stored once, by the sender, before any node applies the command.
      if (bypassRules && 'member' in t) await engine.grantAdd?.(memberGrant(t.member), topic, t.member);
      await dispatch({ op: 'subscribe', target: t, topic, bypassRules });
    },
    async unsubscribe(target, topic, options) {
      const t = checkTarget(target);
      checkTopic(topic);
      const reason = checkReason(checkOptions('unsubscribe', options).reason, 'Unsubscribed by the server');
      if ('member' in t) await engine.grantRemove?.(memberGrant(t.member), topic);
      await dispatch({ op: 'unsubscribe', target: t, topic, reason });
    },
  };
}
