/**
 * Frame routing: each decoded server frame goes to the one table that owns its id or topic — the
 * request table (`ok`, `err`), the stream table (`item`, `end`, `credit`, a stream's `err`), the
 * topic table (`msg`, `join`, `leave`, a `sub`'s `ok`) — or to the connection (`welcome`, `refresh`).
 */
import { frameToError } from '../protocol/error-frame.js';
import type { ServerFrame } from '../protocol/frames.js';
import type { Connection } from './connection.js';
import type { RequestTable } from './requests.js';
import type { ClientStreams } from './streams.js';
import type { TopicTable } from './topics.js';

/** Returns the function that hands one server frame to the table it is for. */
export function createFrameRouter(requests: RequestTable, streams: ClientStreams, topics: TopicTable, connection: Connection): (f: ServerFrame) => void {
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
      // `pong` needs nothing more: any frame already told the heartbeat the server is alive.
    }
  };
}
