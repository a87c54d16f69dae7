/**
 * Frame routing: each decoded server frame goes to the one table that owns its id or topic — the
 * request table (`ok`, `err`), the stream table (`item`, `end`, `credit`, a stream's `err`), the
 * topic table (`msg`, `join`, `leave`, a `sub`'s `ok`, `subscribed`, `unsubscribed`) — or to the connection (`welcome`,
 * `refresh`); a targeted `event` goes to the client's listeners. The topic and stream tables exist
 * once the client used them: a frame for a table that does not exist yet has nobody to reach.
 */
import { frameToError } from '../protocol/error-frame.js';
import type { ServerFrame } from '../protocol/frames.js';
import type { Connection } from './connection.js';
import type { RequestTable } from './requests.js';
import type { ClientStreams } from './streams.js';
import type { TopicTable } from './topics.js';
import type { ClientEvents } from './types.js';

/** The tables a frame can go to, as the client holds them. */
export interface FrameRoutes {
  readonly requests: RequestTable;
  readonly connection: Connection;
  /** The topic table if the client made one. */
  readonly topicsIfAny: TopicTable | undefined;
  /** The topic table, made now if need be (the server subscribed this client itself, §2.9). */
  readonly topics: TopicTable;
  /** The stream table if the client made one. */
  readonly streamsIfAny: ClientStreams | undefined;
  emit<K extends keyof ClientEvents>(event: K, arg: ClientEvents[K]): void;
}

/** Hands one server frame to the table it is for. */
export function routeFrame(to: FrameRoutes, f: ServerFrame): void {
  switch (f.t) {
    case 'msg':
      return to.topicsIfAny?.message(f);
    case 'ok':
      // The topic first: a `sub`'s replay follows its answer in the same tick (see TopicTable.answered).
      to.topicsIfAny?.answered(f);
      return to.requests.settle(f.id, undefined, f.output);
    case 'err':
      if (to.streamsIfAny?.frame(f)) return;
      return to.requests.settle(f.id, frameToError(f));
    case 'item':
    case 'end':
    case 'credit':
      return void to.streamsIfAny?.frame(f);
    case 'join':
      return to.topicsIfAny?.join(f.topic, f.member);
    case 'leave':
      return to.topicsIfAny?.leave(f.topic, f.member);
    case 'welcome':
      return to.connection.welcomed(f);
    case 'refresh':
      return void to.connection.refresh();
    // Server control (docs/protocol.md §2.9): listeners get the documented fields only, never the
    // frame itself (a `subscribed` frame may carry a grant, a bearer capability).
    case 'event':
      return to.emit('event', { name: f.name, data: f.data });
    case 'subscribed':
      to.topics.granted(f);
      return to.emit('subscribed', { topic: f.topic });
    case 'unsubscribed':
      return to.topicsIfAny?.revoked(f);
    // `pong` needs nothing more: any frame already told the heartbeat the server is alive.
  }
}
