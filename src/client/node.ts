/**
 * `switchboard/client` under Node (the `node` export condition): the same client over `ws`, which
 * Node 20 needs (no global WebSocket) and which, unlike browsers, reports the HTTP status of a
 * refused handshake so 401/403 can be final.
 */
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { describeAttempt } from './attempt-error.js';
import { createClient } from './client.js';
import type { ClientOptions, UrlProvider } from './options.js';
import type { SocketFactory, WebSocketLike } from './socket.js';
import type { CommandsOf, MemberInfoOf, StreamsOf, TopicsOf, UploadsOf } from '../protocol/api.js';
import type { Client } from './types.js';

/** A socket whose frames of this tick wait for one write at its end. */
type Corkable = { cork(): void; uncork(): void };

/** Sockets corked in this tick; one `nextTick` uncorks them all. */
const corked = new Set<Corkable>();
const wsSend: (this: WebSocket, data: string | ArrayBufferLike | Uint8Array) => void = WebSocket.prototype.send;

function uncorkAll(): void {
  const sockets = [...corked];
  corked.clear();
  for (const socket of sockets) socket.uncork();
}

/**
 * Frames sent in one tick (pipelined calls) leave in one writev at its end, not one syscall each,
 * as the server does (docs/performance.md). ws corks only around each frame. A module-level
 * function, as are the listeners below: thousands of clients share them (docs/performance.md,
 * "Idle connections").
 */
function corkedSend(this: WebSocket, data: string | ArrayBufferLike | Uint8Array): void {
  const socket = (this as unknown as { _socket?: Partial<Corkable> })._socket;
  if (typeof socket?.cork === 'function' && !corked.has(socket as Corkable)) {
    if (corked.size === 0) process.nextTick(uncorkAll);
    corked.add(socket as Corkable);
    socket.cork();
  }
  wsSend.call(this, data);
}

/** The system cause of a network failure (ECONNREFUSED), which browsers never expose. */
function onError(this: WebSocket, err: Error & { code?: string }): void {
  (this as unknown as WebSocketLike).errorCode ??= err.code;
}

/** The server's protocol Pings, which the heartbeat counts as signs of life (docs/client.md, "Heartbeat"). */
function onPing(this: WebSocket): void {
  const like = this as unknown as WebSocketLike;
  like.pings = (like.pings ?? 0) + 1;
}

function onUnexpectedResponse(this: WebSocket, _req: unknown, res: IncomingMessage): void {
  const like = this as unknown as WebSocketLike;
  like.httpStatus = res.statusCode;
  // The server names why it refused a token (docs/protocol.md §1.2); browsers never see this header.
  const m = /error_description="([^"]*)"/.exec(String(res.headers['www-authenticate'] ?? ''));
  if (m) like.httpReason = m[1];
  res.resume();
  this.terminate(); // emits 'close' (1006); the client reads httpStatus there
}

const wsFactory: SocketFactory = (url, protocols) => {
  const ws = new WebSocket(url, protocols, { perMessageDeflate: false });
  const like = ws as unknown as WebSocketLike;
  like.pings = 0;
  like.send = corkedSend;
  ws.on('error', onError);
  ws.on('ping', onPing);
  ws.on('unexpected-response', onUnexpectedResponse);
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
