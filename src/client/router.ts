/**
 * Frame routing: each decoded server frame goes to the one table that owns its id or topic — the
 * request table (`ok`, `err`), the stream table (`item`, `end`, `credit`, a stream's `err`), the
 * topic table (`msg`, `join`, `leave`, a `sub`'s `ok`, `subscribed`, `unsubscribed`) — or to the connection (`welcome`,
 * `refresh`); a targeted `event` goes to the client's listeners.
 */
import { frameToError } from '../protocol/error-frame.js';
import type { ServerFrame } from '../protocol/frames.js';
import type { Emitter, Listeners } from '../shared/emitter.js';
import type { Connection } from './connection.js';
import type { RequestTable } from './requests.js';
import type { ClientStreams } from './streams.js';
import type { TopicTable } from './topics.js';
import type { ClientEvents } from './types.js';

/** Returns the function that hands one server frame to the table it is for. */
export function createFrameRouter(
  requests: RequestTable,
  streams: ClientStreams,
  topics: TopicTable,
  connection: Connection,
  events: Emitter<Listeners<ClientEvents>>,
): (f: ServerFrame) => void {
  return (f) => {
    switch (f.t) {
      case 'msg':
        return topics.message(f);
      case 'ok':
        // The topic first: a `sub`'s replay follows its answer in the same tick (see TopicTable.answered).
        topics.answered(f);
        return requests.settle(f.id, undefined, f.output);
      case 'err':
        if (streams.frame(f)) return;
        return requests.settle(f.id, frameToError(f));
      case 'item':
      case 'end':
      case 'credit':
        return void streams.frame(f);
      case 'join':
        return topics.join(f.topic, f.member);
      case 'leave':
        return topics.leave(f.topic, f.member);
      case 'welcome':
        return connection.welcomed(f);
      case 'refresh':
        return void connection.refresh();
      // Server control (docs/protocol.md §2.9): listeners get the documented fields only, never the
      // frame itself (a `subscribed` frame may carry a grant, a bearer capability).
      case 'event':
        return events.emit('event', { name: f.name, data: f.data });
      case 'subscribed':
        topics.granted(f);
        return events.emit('subscribed', { topic: f.topic });
      case 'unsubscribed':
        return topics.revoked(f);
      // `pong` needs nothing more: any frame already told the heartbeat the server is alive.
    }
  };
}
