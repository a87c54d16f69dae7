/**
 * The client core: connection lifecycle, reconnects with backoff, heartbeat, and routing of server
 * frames to requests and subscriptions. Runtime-free: each entry point injects a socket factory.
 */
import type { Codec } from '../protocol/codec.js';
import { jsonCodec, type CodecName } from '../protocol/codec.js';
import { CloseCode, shouldReconnect } from '../protocol/close-codes.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { SwitchboardError } from '../protocol/errors.js';
import type { Member, ServerFrame, SubOutput, WelcomeFrame } from '../protocol/frames.js';
import { MAX_HISTORY, MAX_KEY_LENGTH, isPosition, isServerFrame } from '../protocol/frames.js';
import { encodeTokenProtocol } from '../protocol/subprotocol.js';
import type { CommandMap, StreamMap, UploadMap } from '../protocol/api.js';
import { backoffDelay } from './backoff.js';
import { Emitter, type Listeners } from '../shared/emitter.js';
import { resolveClientOptions, type ClientOptions, type UrlProvider } from './options.js';
import { RequestTable, type RequestBody, type Transmit } from './requests.js';
import type { SocketFactory, WebSocketLike } from './socket.js';
import { createClientStreams } from './streams.js';
import { TopicState, type DeliveryMeta, type MessageHandler, type SubscribeOptions, type Subscription } from './subscriptions.js';
import type { Client, ClientEvents, ClientState } from './types.js';

/** HTTP statuses after which another attempt is pointless unless the token changes. */
const AUTH_REFUSALS = new Set([401, 403]);
/** Error codes after which a re-subscription is tried again on the same connection. */
const TRANSIENT = new Set<string>([ErrorCode.RATE_LIMITED, ErrorCode.UNAVAILABLE, ErrorCode.INTERNAL]);
/** HTTP statuses after which another attempt is pointless. */
const FINAL_STATUSES = new Set([400, 404]);

const utf8 = new TextEncoder();
/** Whether a payload exceeds `max` bytes; avoids encoding in the common small case. */
function tooLarge(payload: string | Uint8Array, max: number): boolean {
  if (typeof payload !== 'string') return payload.byteLength > max;
  // n UTF-16 units take between n and 3n UTF-8 bytes.
  if (payload.length * 3 <= max) return false;
  if (payload.length > max) return true;
  return utf8.encode(payload).length > max;
}

/**
 * The codec module, loaded on first use: MessagePack (@msgpack/msgpack) is imported only by clients that
 * choose it, so the JSON client needs no bundler and carries no MessagePack code.
 */
async function loadCodec(name: CodecName): Promise<Codec> {
  return name === 'msgpack' ? (await import('../protocol/msgpack.js')).msgpackCodec : jsonCodec;
}

async function pickUrl(urls: UrlProvider, attempt: number): Promise<string> {
  if (typeof urls === 'string') return urls;
  if (typeof urls === 'function') return urls(attempt);
  if (urls.length === 0) throw new TypeError('no URL to connect to');
  return urls[attempt % urls.length] as string;
}

/**
 * Creates a client over the given socket factory. Entry points wrap this as `connect`.
 * @internal
 */
export function createClient<Commands extends CommandMap = CommandMap, Streams extends StreamMap = StreamMap, Uploads extends UploadMap = UploadMap>(
  urls: UrlProvider,
  options: ClientOptions,
  factory: SocketFactory,
): Client<Commands, Streams, Uploads> {
  const opts = resolveClientOptions(options);
  /** JSON until the first attempt loads MessagePack, when chosen (see {@link loadCodec}). */
  let codec: Codec = jsonCodec;
  const requests = new RequestTable(opts.maxQueue);
  const topics = new Map<string, TopicState>();
  /** `sub` requests in flight → their topic, confirmed when the answer arrives (see handleFrame). */
  const pendingSubs = new Map<number, { t: TopicState; askedSince: boolean }>();
  /** Re-subscriptions waiting for the server's rate limit (see rateLimited). */
  const rateQueue: TopicState[] = [];
  let rateTimer: ReturnType<typeof setTimeout> | undefined;
  let rateDelayMs = 100;
  const events = new Emitter<Listeners<ClientEvents>>((err) => reportError(err));
  const streams = createClientStreams({
    requests,
    transmit: (frame) => transmit(frame),
    whenOpen,
    isOpen: () => state === 'open',
    defaultTimeoutMs: opts.timeoutMs,
  });

  let state: ClientState = 'connecting';
  let clientId: string | undefined;
  let socket: WebSocketLike | undefined;
  let welcome: WelcomeFrame | undefined;
  /** Consecutive failed attempts; reset once a connection stayed open for `stableAfterMs`. */
  let attempt = 0;
  /** The token a 401/403 refused; the next attempt needs a different one. */
  let refusedToken: string | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let connectTimer: ReturnType<typeof setTimeout> | undefined;
  let stableTimer: ReturnType<typeof setTimeout> | undefined;
  let heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  let pongTimer: ReturnType<typeof setTimeout> | undefined;
  let heard = false;

  function reportError(err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    if (events.listenerCount('error') > 0) events.emit('error', e);
    // Without a listener a silent failure would hide bugs; a thrown one would crash the app.
    else console.error('[switchboard] unhandled client error:', e);
  }

  const transmit: Transmit = (frame) => {
    let payload: string | Uint8Array;
    try {
      payload = codec.encode(frame);
    } catch (err) {
      // A value the codec cannot encode (a BigInt, a cycle): this request fails, nothing else.
      // Thrown here it would escape the queue flush in onWelcome and lose the rest of the queue.
      return new SwitchboardError(ErrorCode.BAD_REQUEST, `Request could not be encoded: ${err instanceof Error ? err.message : String(err)}`);
    }
    const max = welcome?.maxPayload ?? Infinity;
    if (tooLarge(payload, max)) {
      return new SwitchboardError(ErrorCode.PAYLOAD_TOO_LARGE, `Request exceeds the server's maxPayload of ${max} bytes`);
    }
    socket?.send(payload);
    return undefined;
  };
  const openTransmit = (): Transmit | undefined => (state === 'open' ? transmit : undefined);

  function clearTimers(): void {
    for (const t of [connectTimer, stableTimer, pongTimer]) if (t) clearTimeout(t);
    if (heartbeatTimer) clearInterval(heartbeatTimer);
    connectTimer = stableTimer = pongTimer = heartbeatTimer = undefined;
  }

  /** Detaches and closes the current socket; its late events are ignored from here on. */
  function dropSocket(code?: number, reason?: string): void {
    const s = socket;
    socket = undefined;
    if (!s) return;
    s.onopen = s.onmessage = null;
    s.onclose = null;
    // Keep an error handler: closing a CONNECTING `ws` socket emits 'error' later, and an
    // EventEmitter 'error' without a listener would crash the process.
    s.onerror = () => {};
    try {
      if (s.readyState <= 1) s.close(code, reason);
    } catch {
      // Closing a CONNECTING socket may throw in some runtimes; it is abandoned either way.
    }
  }

  async function open(): Promise<void> {
    retryTimer = undefined;
    let token: string | undefined;
    let url: string;
    try {
      if (codec.name !== opts.codec) codec = await loadCodec(opts.codec);
      token = typeof opts.token === 'function' ? await opts.token() : opts.token;
      url = await pickUrl(urls, attempt);
    } catch (err) {
      reportError(err);
      return onClosed(CloseCode.ABNORMAL, 'token or URL provider failed', undefined);
    }
    if (state === 'closed') return;
    if (refusedToken !== undefined && token === refusedToken) {
      return stop(CloseCode.ABNORMAL, 'handshake refused', new SwitchboardError(ErrorCode.UNAUTHORIZED, 'The server refused the token and no new one is available'));
    }
    const protocols = [codec.subprotocol];
    if (token && opts.tokenIn === 'protocol') protocols.push(encodeTokenProtocol(token));
    const urlWithoutToken = url;
    if (!token && opts.tokenIn === 'message') {
      // The server waits for an auth frame it would never get: 4408 and a reconnect loop.
      return stop(CloseCode.ABNORMAL, 'no token', new SwitchboardError(ErrorCode.UNAUTHORIZED, "tokenIn: 'message' needs a token and the provider gave none"));
    }
    if (token && opts.tokenIn === 'query') {
      // Before any #fragment, which is never sent to the server.
      const hash = url.indexOf('#');
      const [base, frag] = hash < 0 ? [url, ''] : [url.slice(0, hash), url.slice(hash)];
      url = `${base}${base.includes('?') ? '&' : '?'}${encodeURIComponent(opts.tokenQueryParam)}=${encodeURIComponent(token)}${frag}`;
    }
    let s: WebSocketLike;
    try {
      s = factory(url, protocols);
    } catch (err) {
      // A malformed URL is a programming error: reconnecting cannot fix it. Runtimes quote the URL
      // in their error ("Invalid URL: …?token=…"); with tokenIn 'query' that would put the token in
      // an error message (docs/protocol.md §1.1), so report the URL as it was before the token.
      const e = err instanceof Error ? err : new Error(String(err));
      const safe = url === urlWithoutToken ? e : new SyntaxError(`Invalid URL: ${urlWithoutToken}`);
      return stop(CloseCode.ABNORMAL, 'invalid URL', safe);
    }
    socket = s;
    s.binaryType = 'arraybuffer';
    // Every attempt has a deadline, reconnecting or not: a server that accepts TCP and never
    // answers the upgrade must not leave the client 'connecting' forever.
    connectTimer = setTimeout(() => {
      dropSocket();
      onClosed(CloseCode.ABNORMAL, 'connect timeout', undefined);
    }, opts.connectTimeoutMs);
    // First-message transport: the token is the first frame, before the server's welcome (§1.3).
    if (token && opts.tokenIn === 'message') s.onopen = () => s.send(codec.encode({ t: 'auth', token }));
    s.onmessage = (ev) => receive(ev.data);
    s.onerror = () => {}; // 'close' follows and carries what is known.
    s.onclose = (ev) => {
      if (socket !== s) return;
      socket = undefined;
      onClosed(ev.code, ev.reason, s.httpStatus, token);
    };
  }

  function receive(data: unknown): void {
    heard = true;
    if (pongTimer) {
      clearTimeout(pongTimer);
      pongTimer = undefined;
    }
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : (data as string | Uint8Array);
    const decoded = codec.decode(bytes, typeof data !== 'string');
    if (!decoded.ok || !isServerFrame(decoded.value)) {
      reportError(new SwitchboardError(ErrorCode.BAD_REQUEST, 'The server sent a malformed frame'));
      return;
    }
    handleFrame(decoded.value);
  }

  function handleFrame(f: ServerFrame): void {
    switch (f.t) {
      case 'msg': {
        // The decoded frame is this message's own: its meta becomes the handler's, no copy.
        const meta = (f.meta ?? {}) as DeliveryMeta;
        meta.topic = f.topic;
        return topics.get(f.topic)?.deliver(f.data, meta, reportError);
      }
      case 'ok': {
        const pending = pendingSubs.get(f.id);
        if (pending) {
          // Synchronously: the replayed `msg` frames right behind this answer are handled in the
          // same tick, before a promise callback could run, and must find the position set.
          pendingSubs.delete(f.id);
          const { t, askedSince } = pending;
          if (topics.get(t.topic) === t) {
            t.historyOnce = undefined;
            t.confirmed(f.output as SubOutput | undefined, askedSince, reportError);
          }
        }
        return requests.answer(f.id, true, f);
      }
      case 'err':
        if (streams.error(f)) return;
        return requests.answer(f.id, false, f);
      case 'item':
        return void streams.items(f.id, f.items);
      case 'end':
        return streams.end(f.id);
      case 'credit':
        return streams.credit(f.id, f.n);
      case 'join':
        return topics.get(f.topic)?.join(f.member, reportError);
      case 'leave':
        return topics.get(f.topic)?.leave(f.member, reportError);
      case 'welcome':
        return onWelcome(f);
      case 'refresh':
        return void refreshToken();
      case 'pong':
        return;
    }
  }

  /** The server says the token expired: fetch a fresh one and send it on the open connection (§1.4). */
  async function refreshToken(): Promise<void> {
    try {
      const token = typeof opts.token === 'function' ? await opts.token() : opts.token;
      if (!token) throw new SwitchboardError(ErrorCode.UNAUTHORIZED, 'The server asked for a fresh token and there is none');
      await requests.request({ t: 'auth', token }, { timeoutMs: opts.timeoutMs, direct: true }, openTransmit());
    } catch (err) {
      // The server closes with 4401 after its deadline; the reconnect then asks the provider again.
      reportError(err);
    }
  }

  function onWelcome(f: WelcomeFrame): void {
    if (connectTimer) clearTimeout(connectTimer);
    connectTimer = undefined;
    welcome = f;
    clientId = f.clientId;
    refusedToken = undefined;
    state = 'open';
    if (opts.reconnect) stableTimer = setTimeout(() => (attempt = 0), opts.reconnect.stableAfterMs);
    startHeartbeat(f);
    for (const t of topics.values()) {
      if (t.retryTimer) clearTimeout(t.retryTimer);
      t.retryTimer = undefined;
      resubscribe(t);
    }
    requests.flush(transmit);
    events.emit('open', { clientId: f.clientId });
  }

  function startHeartbeat(f: WelcomeFrame): void {
    if (opts.heartbeat === false) return;
    const intervalMs = opts.heartbeat.intervalMs ?? f.heartbeat.intervalMs;
    const timeoutMs = opts.heartbeat.timeoutMs ?? f.heartbeat.timeoutMs;
    heard = false;
    heartbeatTimer = setInterval(() => {
      if (heard) {
        heard = false;
        return;
      }
      if (pongTimer) return;
      socket?.send(codec.encode({ t: 'ping' }));
      pongTimer = setTimeout(() => {
        pongTimer = undefined;
        // The server is gone without a close frame: give up on this socket and reconnect.
        dropSocket();
        onClosed(CloseCode.ABNORMAL, 'heartbeat timeout', undefined);
      }, timeoutMs);
    }, intervalMs);
  }

  function onClosed(code: number, reason: string, httpStatus: number | undefined, token?: string): void {
    clearTimers();
    welcome = undefined;
    requests.disconnected();
    pendingSubs.clear();
    clearRateQueue(); // the next open re-subscribes every topic
    // Streams are not resumed: their handlers were aborted with the connection (§2.3).
    streams.failAll(new SwitchboardError(ErrorCode.DISCONNECTED, 'Connection lost during the stream'));
    for (const t of topics.values()) t.active = false;
    if (state === 'closed') return;
    if (httpStatus !== undefined && FINAL_STATUSES.has(httpStatus)) {
      return stop(code, reason, new SwitchboardError(ErrorCode.UNAUTHORIZED, `Handshake refused with HTTP ${httpStatus}`), httpStatus);
    }
    // 4501 is first-message authentication's 401 (docs/protocol.md §5).
    if ((httpStatus !== undefined && AUTH_REFUSALS.has(httpStatus)) || code === CloseCode.UNAUTHORIZED) {
      if (typeof opts.token !== 'function') {
        const why = httpStatus !== undefined ? `HTTP ${httpStatus}` : `close code ${code}`;
        return stop(code, reason, new SwitchboardError(ErrorCode.UNAUTHORIZED, `Handshake refused with ${why}`), httpStatus);
      }
      refusedToken = token ?? '';
    }
    const retryable = shouldReconnect(code) || code === CloseCode.UNAUTHORIZED;
    if (!opts.reconnect || !retryable || attempt >= opts.reconnect.maxAttempts) {
      return stop(code, reason, undefined, httpStatus);
    }
    const delayMs = backoffDelay(attempt, opts.reconnect.initialDelayMs, opts.reconnect.maxDelayMs);
    attempt++;
    state = 'reconnecting';
    events.emit('close', { code, reason, willReconnect: true, ...(httpStatus ? { httpStatus } : {}) });
    if (state !== 'reconnecting') return; // a close listener called client.close()
    events.emit('reconnecting', { attempt, delayMs });
    if (state !== 'reconnecting') return;
    retryTimer = setTimeout(() => void open(), delayMs);
  }

  /** Ends the client for good. */
  function stop(code: number, reason: string, err?: Error, httpStatus?: number, byUser = false): void {
    if (state === 'closed') return;
    state = 'closed';
    clearTimers();
    if (retryTimer) clearTimeout(retryTimer);
    retryTimer = undefined;
    for (const t of topics.values()) if (t.retryTimer) clearTimeout(t.retryTimer);
    clearRateQueue();
    dropSocket(code, reason);
    const cause = err instanceof SwitchboardError ? err : new SwitchboardError(ErrorCode.CLOSED, 'Client closed');
    // A keyed call sent before the client gave up may have run: DISCONNECTED says so; CLOSED is
    // kept for close() itself.
    const sentCause = byUser ? cause : new SwitchboardError(ErrorCode.DISCONNECTED, 'Connection lost before the answer arrived, and the client stopped reconnecting');
    requests.rejectAll(cause, sentCause);
    streams.failAll(cause);
    for (const t of topics.values()) t.failed(cause);
    if (err) reportError(err);
    events.emit('close', { code, reason, willReconnect: false, ...(httpStatus ? { httpStatus } : {}) });
  }

  function resubscribe(t: TopicState): void {
    // With a position (a topic with history, or `since`), ask for what was missed (§2.7); the first
    // subscription may instead ask for the last N messages.
    const since = t.position;
    const body: RequestBody = since ? { t: 'sub', topic: t.topic, since } : { t: 'sub', topic: t.topic };
    if (t.historyOnce) body.history = t.historyOnce;
    const id = requests.reserveId();
    pendingSubs.set(id, { t, askedSince: since !== undefined });
    requests
      .request(body, { timeoutMs: opts.timeoutMs, direct: true, id }, openTransmit())
      .then(
        // Confirmed in handleFrame, before the replay that follows the answer in the same chunk.
        () => {},
        (err: SwitchboardError) => {
          // A late answer to a timed-out `sub` still confirms it (with its replay); the entry goes
          // with the connection otherwise.
          if (err.code !== ErrorCode.TIMEOUT) pendingSubs.delete(id);
          // Transient refusals (over the rate limit after a reconnect burst, the server's engine
          // down or failing) are retried on this connection; only a real refusal ends it.
          if (TRANSIENT.has(err.code)) {
            if (topics.get(t.topic) !== t || state !== 'open') return; // the next open re-subscribes
            if (err.code === ErrorCode.RATE_LIMITED) return rateLimited(t, err.retryAfterMs ?? 100);
            const delayMs = backoffDelay(t.retries++, 100, 2_000);
            t.retryTimer = setTimeout(() => {
              t.retryTimer = undefined;
              if (state === 'open' && topics.get(t.topic) === t && !t.active) resubscribe(t);
            }, delayMs);
            return;
          }
          // Lost connection or timeout: the next open tries again. A refusal ends the subscription.
          if (err.code === ErrorCode.DISCONNECTED || err.code === ErrorCode.TIMEOUT || err.code === ErrorCode.CLOSED) {
            if (err.code === ErrorCode.TIMEOUT) {
              reportError(err);
              // Still open and still wanted: ask again rather than wait for a reconnect that a
              // healthy connection may never have.
              if (state === 'open' && topics.get(t.topic) === t) resubscribe(t);
            }
            return;
          }
          if (topics.get(t.topic) === t) topics.delete(t.topic);
          const wasActive = t.active;
          t.failed(err);
          if (wasActive || t.listeners.size > 0) t.emitError(err, reportError);
        },
      );
  }

  /**
   * Re-subscriptions the server rate-limited wait in one queue and go out one at a time, each
   * after the server's `retryAfterMs`: retrying them all at once would be refused again and
   * could get the connection closed for flooding (1008).
   */
  function rateLimited(t: TopicState, retryAfterMs: number): void {
    rateDelayMs = Math.max(10, retryAfterMs);
    if (!rateQueue.includes(t)) rateQueue.push(t);
    rateTimer ??= setTimeout(drainRateQueue, rateDelayMs);
  }

  function drainRateQueue(): void {
    rateTimer = undefined;
    const t = rateQueue.shift();
    if (t && state === 'open' && topics.get(t.topic) === t && !t.active) resubscribe(t);
    if (rateQueue.length > 0) rateTimer = setTimeout(drainRateQueue, rateDelayMs);
  }

  function clearRateQueue(): void {
    rateQueue.length = 0;
    if (rateTimer) clearTimeout(rateTimer);
    rateTimer = undefined;
  }

  /** Resolves once the client is open; rejects with TIMEOUT, ABORTED or CLOSED. */
  function whenOpen(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    if (state === 'open') return Promise.resolve();
    if (state === 'closed') return Promise.reject(new SwitchboardError(ErrorCode.CLOSED, 'Client closed'));
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        offOpen();
        offClose();
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const offOpen = events.on('open', () => (cleanup(), resolve()));
      const offClose = events.on('close', (e) => {
        if (!e.willReconnect) cleanup(), reject(new SwitchboardError(ErrorCode.CLOSED, 'Client closed'));
      });
      const timer = setTimeout(() => (cleanup(), reject(new SwitchboardError(ErrorCode.TIMEOUT, `Not connected within ${timeoutMs} ms`))), timeoutMs);
      const onAbort = () => (cleanup(), reject(new SwitchboardError(ErrorCode.ABORTED, 'Aborted')));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  function request(body: RequestBody, timeoutMs: number | undefined, signal: AbortSignal | undefined): Promise<unknown> {
    if (state === 'closed') return Promise.reject(new SwitchboardError(ErrorCode.CLOSED, 'Client closed'));
    return requests.request(body, { timeoutMs: timeoutMs ?? opts.timeoutMs, signal }, openTransmit());
  }

  const client: Client<Commands, Streams, Uploads> = {
    get state() {
      return state;
    },
    get clientId() {
      return clientId;
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
      return request(body, o?.timeoutMs, o?.signal) as Promise<never>;
    },
    async publish(topic, data, o) {
      const body: RequestBody = o?.echo === false ? { t: 'pub', topic, data, echo: false } : { t: 'pub', topic, data };
      await request(body, o?.timeoutMs, o?.signal);
    },
    async presence(topic, o) {
      const out = (await request({ t: 'presence', topic }, o?.timeoutMs, o?.signal)) as { members?: Member[] } | undefined;
      return out?.members ?? [];
    },
    subscribe<T>(topic: string, handler: MessageHandler<T>, o?: SubscribeOptions): Subscription {
      if (typeof topic !== 'string' || topic.length === 0) throw new TypeError('topic must be a non-empty string');
      if (typeof handler !== 'function') throw new TypeError('handler must be a function');
      if (o?.since !== undefined && !isPosition(o.since)) throw new TypeError('since must be { epoch: string of 1-64 characters, offset: non-negative integer }');
      if (o?.history !== undefined && !(Number.isSafeInteger(o.history) && o.history >= 1 && o.history <= MAX_HISTORY)) {
        throw new TypeError('history must be an integer from 1 to 2147483647');
      }
      const closed = state === 'closed';
      const existing = topics.get(topic);
      const replays = o?.since !== undefined || o?.history !== undefined;
      if (existing && replays) {
        // The topic's one server subscription is live already; a replay for one handler alone
        // would need a second one. Refused loudly rather than silently started live.
        const refused = Promise.reject(
          new SwitchboardError(ErrorCode.BAD_REQUEST, `"${topic}" is already subscribed on this client; since/history apply to its first subscription`),
        );
        refused.catch(() => {});
        return { topic, ready: refused, unsubscribe() {}, on: () => () => {}, members: () => [], position: () => undefined };
      }
      const state0 = existing ?? new TopicState(topic);
      if (!existing) {
        if (o?.since) state0.position = o.since;
        if (o?.history) state0.historyOnce = o.history;
      }
      if (!existing && !closed) topics.set(topic, state0);
      state0.handlers.add(handler as MessageHandler<never>);
      const isNew = !existing;
      const ready = closed ? Promise.reject(new SwitchboardError(ErrorCode.CLOSED, 'Client closed')) : state0.waitReady();
      // The caller may never await `ready`; a refusal must not become an unhandled rejection.
      ready.catch(() => {});
      if (isNew && state === 'open') resubscribe(state0);
      const own: (() => void)[] = [];
      return {
        topic,
        ready,
        unsubscribe() {
          if (!state0.handlers.delete(handler as MessageHandler<never>)) return;
          for (const off of own.splice(0)) off();
          if (state0.handlers.size > 0 || topics.get(topic) !== state0) return;
          topics.delete(topic);
          if (state0.retryTimer) clearTimeout(state0.retryTimer);
          // Unsubscribed before the server confirmed: `ready` must not hang.
          if (!state0.active) state0.failed(new SwitchboardError(ErrorCode.ABORTED, 'Unsubscribed before the subscription was confirmed'));
          if (state === 'open') {
            requests.request({ t: 'unsub', topic }, { timeoutMs: opts.timeoutMs, direct: true }, transmit).catch(() => {});
          }
        },
        on(event, cb) {
          const l = { event, cb } as never;
          state0.listeners.add(l);
          const off = () => void state0.listeners.delete(l);
          own.push(off);
          return off;
        },
        members: () => [...(state0.members?.values() ?? [])],
        position: () => state0.position,
      };
    },
    stream(name, input, o) {
      return streams.stream(name, input, o) as never;
    },
    upload(name, items, o) {
      if (state === 'closed') return Promise.reject(new SwitchboardError(ErrorCode.CLOSED, 'Client closed'));
      return streams.upload(name, items as AsyncIterable<unknown>, o) as never;
    },
    close(code = CloseCode.NORMAL, reason = 'client closed') {
      stop(code, reason, undefined, undefined, true);
    },
  };

  void open();
  return client;
}
