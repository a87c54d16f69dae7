/**
 * `switchboard/client` under Node (the `node` export condition): the same client over `ws`, which
 * Node 20 needs (no global WebSocket) and which, unlike browsers, reports the HTTP status of a
 * refused handshake so 401/403 can be final.
 */
import WebSocket from 'ws';
import { describeAttempt } from './attempt-error.js';
import { createClient } from './client.js';
import type { ClientOptions, UrlProvider } from './options.js';
import type { SocketFactory, WebSocketLike } from './socket.js';
import type { CommandsOf, MemberInfoOf, StreamsOf, TopicsOf, UploadsOf } from '../protocol/api.js';
import type { Client } from './types.js';

const wsFactory: SocketFactory = (url, protocols) => {
  const ws = new WebSocket(url, protocols, { perMessageDeflate: false });
  const like = ws as unknown as WebSocketLike;
  // Frames sent in one tick (pipelined calls) leave in one writev at its end, not one syscall
  // each, as the server does (docs/performance.md). ws corks only around each frame.
  const send = ws.send.bind(ws);
  let corked = false;
  like.send = (data) => {
    const socket = (ws as unknown as { _socket?: { cork?: () => void; uncork(): void } })._socket;
    if (!corked && typeof socket?.cork === 'function') {
      corked = true;
      socket.cork();
      process.nextTick(() => {
        corked = false;
        socket.uncork();
      });
    }
    send(data);
  };
  // The system cause of a network failure (ECONNREFUSED), which browsers never expose.
  ws.on('error', (err: Error & { code?: string }) => void (like.errorCode ??= err.code));
  ws.on('unexpected-response', (_req, res) => {
    like.httpStatus = res.statusCode;
    // The server names why it refused a token (docs/protocol.md §1.2); browsers never see this header.
    const m = /error_description="([^"]*)"/.exec(String(res.headers['www-authenticate'] ?? ''));
    if (m) like.httpReason = m[1];
    res.resume();
    ws.terminate(); // emits 'close' (1006); the client reads httpStatus there
  });
  return like;
};

/**
 * Connects to a Switchboard server. Returns at once; the client opens in the background, queues
 * requests until then, and reconnects by itself.
 *
 * @example
 * import { connect } from 'switchboard/client';
 * const client = connect('ws://127.0.0.1:8080/ws', { token: 'secret' });
 * console.log(await client.call('add', { a: 2, b: 3 }));
 */
export function connect<Api = unknown>(
  url: UrlProvider,
  options: ClientOptions = {},
): Client<CommandsOf<Api>, StreamsOf<Api>, UploadsOf<Api>, TopicsOf<Api>, MemberInfoOf<Api>> {
  const factory: SocketFactory = options.WebSocket
    ? (u, protocols) => new options.WebSocket!(u, protocols)
    : wsFactory;
  return createClient(url, options, factory, describeAttempt);
}

export * from './exports.js';
