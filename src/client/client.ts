/**
 * The client's public object, wired from its parts: the connection lifecycle (connection.ts), frame
 * routing (router.ts), requests (requests.ts), the topic table (topics.ts) and streams (streams.ts).
 * Classes, and the event emitter and the topic and stream tables made on first use, so that an idle
 * client of a load generator holds little more than its socket (docs/performance.md, "Idle
 * connections"). Runtime-free: each entry point injects a socket factory.
 */
import type { CommandMap, StreamMap, TopicMap, UploadMap } from '../protocol/api.js';
import * as CloseCode from '../protocol/close-code-values.js';
import { isSendableCloseCode } from '../protocol/close-codes.js';
import type { SwitchboardError } from '../protocol/errors.js';
import type { Member, ServerFrame } from '../protocol/frames.js';
import { MAX_KEY_LENGTH } from '../protocol/frames.js';
import { utf8Encoder } from '../protocol/utf8.js';
import { Emitter, type Listeners } from '../shared/emitter.js';
import { closedBeforeWelcome, type DescribeAttempt } from './attempt-error.js';
import { createConnection, type Connection, type ConnectionHooks } from './connection.js';
import { resolveClientOptions, type ClientOptions, type ResolvedClientOptions, type UrlProvider } from './options.js';
import { createRequestTable, disconnected, type RequestBody, type RequestTable } from './requests.js';
import { routeFrame, type FrameRoutes } from './router.js';
import type { SocketFactory } from './socket.js';
import { createClientStreams, type ClientStreams, type StreamOptions, type UploadOptions } from './streams.js';
import { createTopicTable, type TopicTable } from './topics.js';
import type { MessageHandler, SubscribeOptions, Subscription } from './subscriptions.js';
import type { CallOptions, CallRequestOptions, Client, ClientEvents, PublishOptions } from './types.js';

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
  const core = new ClientCore(resolveClientOptions(options));
  core.connection = createConnection(urls, core.opts, factory, describe, core);
  core.connection.start();
  // Topic and member types are compile-time only: the loose methods serve them all.
  return new SwitchboardClient(core) as unknown as Client<Commands, Streams, Uploads, Topics, MemberInfo>;
}

/** What the parts share: the tables, the events, the one error policy; the connection's hooks. */
class ClientCore implements ConnectionHooks, FrameRoutes {
  readonly requests: RequestTable;
  connection!: Connection;
  topicsIfAny: TopicTable | undefined;
  streamsIfAny: ClientStreams | undefined;
  #events: Emitter<Listeners<ClientEvents>> | undefined;

  constructor(readonly opts: ResolvedClientOptions) {
    this.requests = createRequestTable(opts.maxQueue, () => this.connection.offlineCause());
  }

  get topics(): TopicTable {
    return (this.topicsIfAny ??= createTopicTable(this.requests, this.connection, this.opts.timeoutMs, (err) => this.reportError(err)));
  }

  get streams(): ClientStreams {
    return (this.streamsIfAny ??= createClientStreams(this.requests, this.connection, this.opts.timeoutMs));
  }

  on<K extends keyof ClientEvents>(event: K, cb: (arg: ClientEvents[K]) => void): () => void {
    this.#events ??= new Emitter<Listeners<ClientEvents>>((err, event) => {
      // A throwing `error` listener cannot be reported on `error` again (it would recurse until the
      // stack overflows): thrown on, it reaches the shared fallback, rethrown once in a microtask.
      if (event === 'error') throw err;
      this.reportError(err);
    });
    return this.#events.on(event, cb as Listeners<ClientEvents>[K]);
  }

  emit<K extends keyof ClientEvents>(event: K, arg: ClientEvents[K]): void {
    (this.#events?.emit as ((event: K, arg: ClientEvents[K]) => void) | undefined)?.call(this.#events, event, arg);
  }

  /**
   * The one error policy: whatever no promise reports (a throwing handler or listener, a refused
   * handshake, a malformed frame) goes to the `error` event, and delivery to the others goes on.
   */
  reportError(err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    if (this.#events && this.#events.listenerCount('error') > 0) this.#events.emit('error', e);
    // Without a listener a silent failure would hide bugs; a thrown one would crash the app.
    else console.error('[switchboard] unhandled client error:', e);
  }

  frame(f: ServerFrame): void {
    routeFrame(this, f);
  }

  opened(): void {
    this.topicsIfAny?.opened();
    this.requests.flush(this.connection.transmit);
  }

  lost(): void {
    this.requests.disconnected();
    this.topicsIfAny?.lost();
    // Streams are not resumed: their handlers were aborted with the connection (§2.3).
    this.streamsIfAny?.failAll(disconnected());
  }

  stopped(cause: SwitchboardError, sentCause: SwitchboardError): void {
    this.requests.rejectAll(cause, sentCause);
    this.streamsIfAny?.failAll(cause);
    this.topicsIfAny?.stopped(cause);
  }

  request(body: RequestBody, o: { timeoutMs?: number; signal?: AbortSignal } | undefined): Promise<unknown> {
    const connection = this.connection;
    if (connection.state === 'closed') return Promise.reject(connection.ended());
    return this.requests.request(body, { timeoutMs: o?.timeoutMs ?? this.opts.timeoutMs, signal: o?.signal }, connection.openTransmit());
  }
}

/** The public client: methods on its prototype, its state in one {@link ClientCore}. */
class SwitchboardClient implements Client {
  readonly #core: ClientCore;

  constructor(core: ClientCore) {
    this.#core = core;
  }

  get state(): Client['state'] {
    return this.#core.connection.state;
  }

  get clientId(): string | undefined {
    return this.#core.connection.clientId;
  }

  on<K extends keyof ClientEvents>(event: K, cb: (arg: ClientEvents[K]) => void): () => void {
    return this.#core.on(event, cb);
  }

  call(name: string, input?: unknown, o?: CallRequestOptions): Promise<never> {
    const body: RequestBody = input === undefined ? { t: 'call', name } : { t: 'call', name, input };
    const key = o?.idempotencyKey;
    if (key !== undefined) {
      if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
        return Promise.reject(new TypeError('idempotencyKey must be a string of 1-256 characters'));
      }
      body.key = key;
    }
    return this.#core.request(body, o) as Promise<never>;
  }

  async publish(topic: string, data: unknown, o?: PublishOptions): Promise<void> {
    const body: RequestBody = o?.echo === false ? { t: 'pub', topic, data, echo: false } : { t: 'pub', topic, data };
    await this.#core.request(body, o);
  }

  async presence(topic: string, o?: CallOptions): Promise<Member[]> {
    const out = (await this.#core.request({ t: 'presence', topic }, o)) as { members?: Member[] } | undefined;
    return out?.members ?? [];
  }

  subscribe<T = unknown>(topic: string, handler: MessageHandler<T>, o?: SubscribeOptions): Subscription {
    return this.#core.topics.subscribe(topic, handler, o);
  }

  stream(name: string, input?: unknown, o?: StreamOptions): never {
    return this.#core.streams.stream(name, input, o) as never;
  }

  upload(name: string, items: AsyncIterable<unknown> | Iterable<unknown>, o?: UploadOptions<unknown>): never {
    // Once stopped it rejects with what the client stopped with: the connection's whenOpen does.
    return this.#core.streams.upload(name, items as AsyncIterable<unknown>, o) as never;
  }

  close(code: number = CloseCode.NORMAL, reason = 'client closed'): void {
    // The runtime's WebSocket would throw later, inside the connection, with a vaguer message.
    if (!isSendableCloseCode(code)) throw new TypeError(`close code must be 1000 or an integer in 3000-4999, got ${String(code)}`);
    if (typeof reason !== 'string' || utf8Encoder.encode(reason).length > 123) {
      throw new TypeError('close reason must be a string of at most 123 bytes in UTF-8');
    }
    this.#core.connection.close(code, reason);
  }
}
