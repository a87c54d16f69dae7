/**
 * The engine is what a server shares with other servers: topic fan-out, presence, history
 * (docs/guarantees.md) and idempotent-call records. The in-memory engine serves one process; the
 * Redis engine many (docs/scaling.md). The server's connection code only talks to this interface,
 * and test/engine-contract.test.ts runs one suite against every engine.
 */
import { randomBytes } from 'node:crypto';
import type { GapReason, Member, MessageMeta, StreamPosition } from '../protocol/frames.js';
import type { Logger } from '../shared/logger.js';

/** A topic event, as it travels between server nodes. */
export type EngineEvent =
  | { kind: 'msg'; data: unknown; meta: MessageMeta; /** connection not to deliver to (echo: false) */ skip?: string }
  | { kind: 'join'; member: Member }
  | { kind: 'leave'; member: Member };

/** Who a server-control command is for: one connection, or every connection of one member (docs/server.md, "Server control"). */
export type ControlTarget = { clientId: string } | { member: string };

/**
 * A server-control command as it travels between nodes (docs/protocol.md §2.9): every node applies
 * it to its own connections that match `target`.
 */
export type ControlMessage =
  | { op: 'event'; target: ControlTarget; name: string; data?: unknown }
  | { op: 'kick'; target: ControlTarget; reason: string; reconnect: boolean }
  | { op: 'subscribe'; target: ControlTarget; topic: string; bypassRules: boolean }
  | { op: 'unsubscribe'; target: ControlTarget; topic: string; reason: string };

/** How much history a topic keeps (docs/protocol.md §2.7). */
export interface HistoryOptions {
  /** Messages kept per topic (the newest). */
  size: number;
  /** How long each message is kept after it was published, in ms. */
  ttlMs: number;
}

/** A message as history stores it: its position is in `meta`. */
export interface StoredMessage {
  data: unknown;
  meta: MessageMeta & StreamPosition;
  /** The connection the publisher asked not to echo to (`echo: false`). */
  skip?: string;
}

/** What a subscriber asks of a topic's history. */
export interface HistoryQuery {
  /** Every message after this position, or none (all or nothing). */
  since?: StreamPosition;
  /** The last `limit` messages (used when `since` is absent or cannot be honoured). */
  limit?: number;
}

/** The answer to a {@link HistoryQuery}. */
export interface HistoryResult {
  /** The topic's current epoch and last offset (0 before its first message). */
  top: StreamPosition;
  /** The messages asked for, oldest first. */
  messages: StoredMessage[];
  /** With `since`: whether every message after it is in `messages`. */
  recovered?: boolean;
  /** With `since` not honoured: why. */
  reason?: GapReason;
}

/** How an idempotent call ended, as remembered for its repeats. */
export type CallOutcome =
  | { ok: true; output: unknown }
  | { ok: false; code: string; message: string; details?: unknown };

/** What {@link Engine.claimCall} found for a key. */
export type CallClaim =
  | { state: 'claimed' }
  | { state: 'running'; fingerprint: string }
  | { state: 'done'; fingerprint: string; outcome: CallOutcome };

/** What a server node gives its engine: where to deliver events for topics it is interested in. */
export interface EngineNode {
  /** Delivers an event to this node's local subscribers of `topic`, in the order received. */
  deliver(topic: string, event: EngineEvent): void;
  /**
   * The engine's link to a shared backend dropped: events may be missed from now on. The node
   * holds what still arrives, and moves no position, until {@link resync}.
   */
  suspend(): void;
  /**
   * The link is back (and subscribed again): the node re-reads the history of its topics from the
   * last message it delivered, delivers what its subscribers missed, then what it held.
   */
  resync(): Promise<void>;
  /**
   * Applies a server-control command to this node's connections. Engines call it for every
   * {@link Engine.control} of any node (this one included), in the order each node sent them.
   */
  control?(message: ControlMessage): void;
  /**
   * Where the engine reports what it handles itself (a failed heartbeat, a lost link, a resync
   * that must be retried): the server passes its own logger.
   * @default consoleLogger (errors and warnings to stderr)
   */
  logger?: Logger;
}

/** What {@link Engine.health} reports. */
export interface EngineHealth {
  healthy: boolean;
  /** Why not, for logs and health endpoints. */
  detail?: string;
}

/** Presence bookkeeping for one connection entering or leaving a topic. */
export interface PresenceEntry {
  topic: string;
  member: Member;
  /** The connection; a member is present while it has at least one. */
  clientId: string;
}

/**
 * Engine contract. Methods may be sync or async; the server awaits them.
 * Every event published on a topic MUST be delivered to every interested node, each in publish order.
 */
export interface Engine {
  /** Called once by the server before it accepts connections. */
  attach(node: EngineNode): void | Promise<void>;
  /**
   * Fans an event out to every node interested in `topic` (this one included). With `history`, a
   * `msg` event gets the topic's next position in its `meta` (returned) and is kept for later
   * subscribers; positions must be assigned and delivered in the same order on every node.
   */
  publish(topic: string, event: EngineEvent, history?: HistoryOptions): void | StreamPosition | Promise<void | StreamPosition>;
  /** Reads a topic's history: the messages after `since` (all or none), or the last `limit`. */
  history(topic: string, query: HistoryQuery): HistoryResult | Promise<HistoryResult>;
  /**
   * Starts an idempotent call: `claimed` when nobody ran `key` within its window (the caller runs
   * it and must call {@link finishCall}); `running` or `done` otherwise. A claim lapses after
   * `leaseMs` so that a node that died while running does not block the key for the whole window.
   */
  claimCall(key: string, fingerprint: string, leaseMs: number): CallClaim | Promise<CallClaim>;
  /** Records a claimed call's outcome for `ttlMs`; its repeats are answered from it. */
  finishCall(key: string, fingerprint: string, outcome: CallOutcome, ttlMs: number): void | Promise<void>;
  /** Extends the lease of a call this node still runs, so a slow handler does not lose its key. */
  renewCall(key: string, fingerprint: string, leaseMs: number): void | Promise<void>;
  /** This node has its first local subscriber of `topic`. */
  subscribe(topic: string): void | Promise<void>;
  /** This node has no local subscriber of `topic` any more. */
  unsubscribe(topic: string): void | Promise<void>;
  /** Adds a connection to a topic's presence; resolves `true` when its member was not present before. */
  presenceAdd(entry: PresenceEntry): boolean | Promise<boolean>;
  /** Removes a connection; resolves `true` when it was its member's last connection on the topic. */
  presenceRemove(entry: PresenceEntry): boolean | Promise<boolean>;
  /** The members present on a topic now. */
  presenceList(topic: string): Member[] | Promise<Member[]>;
  /**
   * Hands a server-control command to every node (this one included), at most once, in order per
   * sender; nothing is kept for later. An engine without it serves one node: the server applies
   * its commands locally.
   */
  control?(message: ControlMessage): void | Promise<void>;
  /**
   * Stores a grant: `grant` lets a connection of `member` (any connection when `member` is `''`)
   * subscribe to `topic` whatever the rules say, for `ttlMs` (forever when absent). Adding it again
   * replaces its member and lifetime. A grant bound to a member is also indexed under `topic` and
   * that member, for {@link grantRevoke}. Engines without grants cannot carry rule-bypassing
   * server-side subscriptions across reconnects (docs/protocol.md §2.9).
   */
  grantAdd?(grant: string, topic: string, member: string, ttlMs?: number): void | Promise<void>;
  /**
   * Records that connection `clientId` holds `grant` for `topic` (it was made for it, or it
   * subscribed with it), for `ttlMs`: revoking that clientId's grants for the topic deletes it
   * ({@link grantRevoke}). Holding again extends the record. Required with `grantAdd`.
   */
  grantHold?(grant: string, topic: string, clientId: string, ttlMs: number): void | Promise<void>;
  /** The member a stored grant is bound to (`''`: none), or `undefined` when there is no such grant. */
  grantFind?(grant: string, topic: string): string | undefined | Promise<string | undefined>;
  /** Deletes a grant. */
  grantRemove?(grant: string, topic: string): void | Promise<void>;
  /**
   * Deletes every grant for `topic` that `target` could re-subscribe with: for `{ member }` every
   * grant bound to that member; for `{ clientId }` every grant that connection holds
   * ({@link grantHold}), whichever member it is bound to. Grants of other topics stay. Required
   * with `grantAdd` (docs/protocol.md §2.9, "Revocation").
   */
  grantRevoke?(topic: string, target: ControlTarget): void | Promise<void>;
  /** Whether the engine can serve now (a shared backend is reachable). @default always healthy */
  health?(): EngineHealth;
  /** Releases the engine's resources. */
  close(): void | Promise<void>;
}

/**
 * A fresh epoch for a topic whose history starts over: 48 random bits, so it never equals an
 * earlier one in practice (docs/protocol.md §2.7). Every engine names its epochs this way.
 */
export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}
