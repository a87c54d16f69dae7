/**
 * Public types of server control (docs/server.md, "Server control"): the connection hooks'
 * payloads and the options of `send`, `kick`, `subscribe` and `unsubscribe`.
 */
import type { ControlTarget } from '../engines/engine.js';

/**
 * Whom a server-control command addresses: one connection by its `clientId`, or every connection
 * of one member (the member id presence uses, `presence.key`), on whichever node they are.
 */
export type Target = ControlTarget;

/** What the `connect` hook receives: a connection this node accepted (its `welcome` was sent). */
export interface ConnectInfo<Identity = unknown> {
  /** The connection's id (as the client's `clientId`). */
  readonly clientId: string;
  /** What `authenticate` returned (at `disconnect`: the identity after any token refresh). */
  readonly identity: Identity;
  /** The member id presence uses for this identity (`presence.key`): the `member` of a {@link Target}. */
  readonly member: string;
  /** The peer's IP address as the socket saw it (a proxy's, behind one); `undefined` when unknown. */
  readonly remoteAddress: string | undefined;
  /** The negotiated codec. */
  readonly codec: 'json' | 'msgpack';
  /** How the client is connected. */
  readonly transport: 'websocket';
}

/** What the `disconnect` hook receives. */
export interface DisconnectInfo<Identity = unknown> extends ConnectInfo<Identity> {
  /** The close code (docs/protocol.md §5); 1006 when the socket dropped without a close frame. */
  readonly code: number;
  /** The close reason ('' when none). */
  readonly reason: string;
  /** Who closed first: the server (a kick, a protocol fault, a heartbeat timeout, shutdown) or the client (or its network). */
  readonly initiator: 'client' | 'server';
}

/** The events of `server.on`. */
export interface ServerEvents<Identity = unknown> {
  connect: ConnectInfo<Identity>;
  disconnect: DisconnectInfo<Identity>;
}

/**
 * A connection hook. It runs synchronously in the connection's lifecycle; a hook that throws (or
 * returns a promise that rejects) is logged and changes nothing for the connection.
 */
export type ServerHook<Info> = (info: Info) => void | Promise<void>;

export type { KickOptions, ServerSubscribeOptions, ServerUnsubscribeOptions } from '../engines/control-commands.js';
