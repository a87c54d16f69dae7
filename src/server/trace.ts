/**
 * The development trace (docs/server.md, "Diagnostics"): at `debug`, one line per connection
 * opened and closed, per subscription outcome and per frame — kinds and sizes, never payloads nor
 * tokens. Off unless the logger says `debug` is enabled (`isLevelEnabled('debug')`, read once):
 * then {@link createTrace} returns `undefined`, and a call site (`trace?.frame(…)`) costs one
 * property check and allocates nothing.
 *
 * Where the events come from: `opened` from auth-session.ts (when `welcome` is sent), `subscription`
 * `publication` and `invalid` from dispatch.ts; `closed` and `frame` from the transport, which knows close codes and sizes on
 * the wire — `closed` where the socket's close is handled (the server's close hook), `frame` after
 * an inbound message is decoded and validated (`direction: 'in'`, the message's byte length) and
 * after an outbound frame is encoded (`'out'`, the encoded length).
 */
import { debugEnabled, type Logger } from '../shared/logger.js';

/** Outcome of a `sub` request, as the trace reports it. */
export type SubscriptionOutcome = 'subscribed' | 'no-rule' | 'denied' | 'limit' | 'failed';

/** Outcome of a `pub` request, as the trace reports it (`invalid`: the topic's schema refused the message). */
export type PublicationOutcome = 'published' | 'no-rule' | 'denied' | 'invalid' | 'failed';

/** The trace's events; every argument is a primitive, so a call allocates nothing when tracing is off. */
export interface Trace {
  /** A connection was welcomed (its identity known). */
  opened(clientId: string, member: string, codec: string): void;
  /** A connection's socket closed, with the close code and reason it ended with. */
  closed(clientId: string, code: number, reason: string): void;
  /** A `sub` was answered. */
  subscription(clientId: string, topic: string, outcome: SubscriptionOutcome): void;
  /** A `pub` was answered. */
  publication(clientId: string, topic: string, outcome: PublicationOutcome): void;
  /**
   * A schema refused a value (`what`: `input` of command `name`, or `message` of topic `name`):
   * how many issues and the first one's path, never the value nor the validator's message (which
   * may quote it).
   */
  invalid(clientId: string, what: 'input' | 'message', name: string, issues: number, path: string): void;
  /**
   * A frame went in or out: its kind (`t`) and its size in bytes on the wire (0 when unknown).
   * Wired by the transport: after a frame is decoded (in) and after it is encoded (out).
   */
  frame(clientId: string, direction: 'in' | 'out', kind: string, bytes: number): void;
}

/** The trace on `logger`, or `undefined` when `logger` does not have `debug` enabled. */
export function createTrace(logger: Logger): Trace | undefined {
  if (!debugEnabled(logger)) return undefined;
  return {
    opened: (clientId, member, codec) => logger.debug({ clientId, member, codec }, 'connection opened'),
    closed: (clientId, code, reason) => logger.debug({ clientId, code, reason }, 'connection closed'),
    subscription: (clientId, topic, outcome) => logger.debug({ clientId, topic, outcome }, 'subscription'),
    publication: (clientId, topic, outcome) => logger.debug({ clientId, topic, outcome }, 'publication'),
    invalid: (clientId, what, name, issues, path) => logger.debug({ clientId, what, name, issues, path }, 'validation failed'),
    frame: (clientId, direction, kind, bytes) => logger.debug({ clientId, direction, kind, bytes }, 'frame'),
  };
}
