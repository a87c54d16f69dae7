/**
 * The engine is what a server shares with other servers: topic fan-out, presence, and (issue #5)
 * history. The in-memory engine serves one process; the Redis engine (issue #7) many. The server's
 * connection code only talks to this interface.
 */
import type { Member, MessageMeta } from '../protocol/frames.js';

/** A topic event, as it travels between server nodes. */
export type EngineEvent =
  | { kind: 'msg'; data: unknown; meta: MessageMeta; /** connection not to deliver to (echo: false) */ skip?: string }
  | { kind: 'join'; member: Member }
  | { kind: 'leave'; member: Member };

/** What a server node gives its engine: where to deliver events for topics it is interested in. */
export interface EngineNode {
  /** Delivers an event to this node's local subscribers of `topic`, in the order received. */
  deliver(topic: string, event: EngineEvent): void;
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
  /** Fans an event out to every node interested in `topic` (this one included). */
  publish(topic: string, event: EngineEvent): void | Promise<void>;
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
  /** Releases the engine's resources. */
  close(): void | Promise<void>;
}
