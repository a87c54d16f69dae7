/**
 * Public types of the client API.
 */
import type { Member } from '../protocol/frames.js';
import type { SwitchboardError } from '../protocol/errors.js';
import type { CommandMap } from '../server/types.js';
import type { MessageHandler, Subscription } from './subscriptions.js';

/** Connection state. `closed` is final. */
export type ClientState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** Events a client emits. */
export interface ClientEvents {
  /** The connection is usable (the server's `welcome` arrived). */
  open: { clientId: string };
  /** The connection closed. `willReconnect` tells whether the client tries again. */
  close: { code: number; reason: string; willReconnect: boolean; httpStatus?: number };
  /** A reconnect attempt is scheduled after `delayMs`. `attempt` counts from 1. */
  reconnecting: { attempt: number; delayMs: number };
  /** Something failed that no promise reports (a refused handshake, a throwing handler, a bad frame). */
  error: SwitchboardError | Error;
}

export interface CallOptions {
  /** Deadline counted from the call (queued time included), in ms. @default the client's `timeoutMs` */
  timeoutMs?: number;
  /** Cancels the call while it is queued or awaited; rejects with `ABORTED`. */
  signal?: AbortSignal;
}

export interface PublishOptions extends CallOptions {
  /** Deliver to the publishing connection too, when it is subscribed. @default true */
  echo?: boolean;
}

/** The command map of a server type (`typeof server`) or a command map written by hand. */
export type CommandsOf<T> = T extends { readonly '~types'?: { commands: infer C } }
  ? '~types' extends keyof T
    ? C extends CommandMap
      ? C
      : CommandMap
    : T extends CommandMap
      ? T
      : CommandMap
  : T extends CommandMap
    ? T
    : CommandMap;

/** A Switchboard client. Create one with `connect`. */
export interface Client<Commands extends CommandMap = CommandMap> {
  /** The connection state now. */
  readonly state: ClientState;
  /** This connection's id as the server knows it; `undefined` until the first `open`. */
  readonly clientId: string | undefined;
  /** Listens to a client event; returns the function that removes the listener. */
  on<K extends keyof ClientEvents>(event: K, cb: (arg: ClientEvents[K]) => void): () => void;
  /** Calls a server command and resolves its result. */
  call<K extends keyof Commands & string>(name: K, input?: Commands[K]['input'], options?: CallOptions): Promise<Commands[K]['output']>;
  /** Subscribes to a topic; survives reconnects. */
  subscribe<T = unknown>(topic: string, handler: MessageHandler<T>): Subscription;
  /** Publishes on a topic; resolves once the server accepted it. */
  publish(topic: string, data: unknown, options?: PublishOptions): Promise<void>;
  /** Asks the server who is on a presence topic this client is subscribed to. */
  presence(topic: string, options?: CallOptions): Promise<Member[]>;
  /** Closes for good: no more reconnects, pending requests reject with `CLOSED`. */
  close(code?: number, reason?: string): void;
}
