/**
 * The client's public object, wired from its parts: the connection lifecycle (connection.ts), frame
 * routing (router.ts), requests (requests.ts), the topic table (topics.ts) and streams (streams.ts).
 * Runtime-free: each entry point injects a socket factory.
 */
import type { CommandMap, StreamMap, UploadMap } from '../protocol/api.js';
import * as CloseCode from '../protocol/close-code-values.js';
import { isSendableCloseCode } from '../protocol/close-codes.js';
import { utf8Encoder } from '../protocol/utf8.js';
import type { Member, ServerFrame } from '../protocol/frames.js';
import { MAX_KEY_LENGTH } from '../protocol/frames.js';
import { Emitter, type Listeners } from '../shared/emitter.js';
import { closedBeforeWelcome, type DescribeAttempt } from './attempt-error.js';
import { createConnection } from './connection.js';
import { resolveClientOptions, type ClientOptions, type UrlProvider } from './options.js';
import { createRequestTable, disconnected, type RequestBody } from './requests.js';
import { createFrameRouter } from './router.js';
import type { SocketFactory } from './socket.js';
import { createClientStreams } from './streams.js';
import { createTopicTable } from './topics.js';
import type { Client, ClientEvents } from './types.js';
import type { TopicMap } from '../protocol/api.js';

/**
 * Creates a client over the given socket factory. Entry points wrap this as `connect`; the Node
 * entry also passes the describer of refused upgrades (browsers never see their status).
 * @internal
 */
export function createClient<
  Commands extends CommandMap = CommandMap,
  Streams extends StreamMap = StreamMap,
  Uploads extends UploadMap = UploadMap,
  Topics extends TopicMap = TopicMap,
  MemberInfo = unknown,
>(urls: UrlProvider, options: ClientOptions, factory: SocketFactory, describe: DescribeAttempt = closedBeforeWelcome): Client<Commands, Streams, Uploads, Topics, MemberInfo> {
  const opts = resolveClientOptions(options);
  /**
   * The one error policy: whatever no promise reports (a throwing handler or listener, a refused
   * handshake, a malformed frame) goes to the `error` event, and delivery to the others goes on.
   */
  function reportError(err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    if (events.listenerCount('error') > 0) events.emit('error', e);
    // Without a listener a silent failure would hide bugs; a thrown one would crash the app.
    else console.error('[switchboard] unhandled client error:', e);
  }
  const events = new Emitter<Listeners<ClientEvents>>((err, event) => {
    // A throwing `error` listener cannot be reported on `error` again (it would recurse until the
    // stack overflows): thrown on, it reaches the shared fallback, rethrown once in a microtask.
    if (event === 'error') throw err;
    reportError(err);
  });
  const requests = createRequestTable(opts.maxQueue);
  let route: (f: ServerFrame) => void = () => {};
  const connection = createConnection(urls, opts, factory, events, requests, reportError, describe, {
    frame: (f) => route(f),
    opened() {
      topics.opened();
      requests.flush(connection.transmit);
    },
    lost() {
      requests.disconnected();
      topics.lost();
      // Streams are not resumed: their handlers were aborted with the connection (§2.3).
      streams.failAll(disconnected());
    },
    stopped(cause, sentCause) {
      requests.rejectAll(cause, sentCause);
      streams.failAll(cause);
      topics.stopped(cause);
    },
  });
  const streams = createClientStreams(requests, connection, opts.timeoutMs);
  const topics = createTopicTable(requests, connection, opts.timeoutMs, reportError);
  route = createFrameRouter(requests, streams, topics, connection, events);

  function request(body: RequestBody, o: { timeoutMs?: number; signal?: AbortSignal } | undefined): Promise<unknown> {
    if (connection.state === 'closed') return Promise.reject(connection.ended());
    return requests.request(body, { timeoutMs: o?.timeoutMs ?? opts.timeoutMs, signal: o?.signal }, connection.openTransmit());
  }

  const client: Client<Commands, Streams, Uploads> = {
    get state() {
      return connection.state;
    },
    get clientId() {
      return connection.clientId;
    },
    on: (event, cb) => events.on(event, cb as Listeners<ClientEvents>[typeof event]),
    call(name, input, o) {
      const body: RequestBody = input === undefined ? { t: 'call', name } : { t: 'call', name, input };
      const key = o?.idempotencyKey;
      if (key !== undefined) {
        if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
          return Promise.reject(new TypeError('idempotencyKey must be a string of 1-256 characters'));
        }
        body.key = key;
      }
      return request(body, o) as Promise<never>;
    },
    async publish(topic, data, o) {
      const body: RequestBody = o?.echo === false ? { t: 'pub', topic, data, echo: false } : { t: 'pub', topic, data };
      await request(body, o);
    },
    async presence(topic, o) {
      const out = (await request({ t: 'presence', topic }, o)) as { members?: Member[] } | undefined;
      return out?.members ?? [];
    },
    subscribe: (topic, handler, o) => topics.subscribe(topic, handler, o),
    stream: (name, input, o) => streams.stream(name, input, o) as never,
    // Once stopped it rejects with what the client stopped with: the connection's whenOpen does.
    upload: (name, items, o) => streams.upload(name, items as AsyncIterable<unknown>, o) as never,
    close(code = CloseCode.NORMAL, reason = 'client closed') {
      // The runtime's WebSocket would throw later, inside the connection, with a vaguer message.
      if (!isSendableCloseCode(code)) throw new TypeError(`close code must be 1000 or an integer in 3000-4999, got ${String(code)}`);
      if (typeof reason !== 'string' || utf8Encoder.encode(reason).length > 123) {
        throw new TypeError('close reason must be a string of at most 123 bytes in UTF-8');
      }
      connection.close(code, reason);
    },
  };

  connection.start();
  // Topic and member types are compile-time only: the loose methods built above serve them all.
  return client as Client<Commands, Streams, Uploads, Topics, MemberInfo>;
}
