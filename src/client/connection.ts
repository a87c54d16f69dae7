/**
 * One client's connection lifecycle: each attempt (the URL, the token and where it travels, the
 * codec, the connect deadline), the heartbeat, the reconnect policy after a drop, and the final stop
 * (docs/client.md, "Reconnection", "Token refresh", "Heartbeat"). It knows nothing of topics or
 * streams: it tells the client through {@link ConnectionHooks}, and the client wires those to its
 * tables. Runtime-free: the entry point injects the socket factory.
 */
import { jsonCodec } from '../protocol/codec.js';
import * as CloseCode from '../protocol/close-code-values.js';
import { ReadyState, shouldReconnect } from '../protocol/close-codes.js';
import * as ErrorCode from '../protocol/error-code-values.js';
import { SwitchboardError } from '../protocol/errors.js';
import type { ServerFrame, WelcomeFrame } from '../protocol/frames.js';
import { isServerFrame } from '../protocol/frames.js';
import { encodeTokenProtocol } from '../protocol/subprotocol.js';
import { utf8Encoder } from '../protocol/utf8.js';
import type { Emitter, Listeners } from '../shared/emitter.js';
import type { DescribeAttempt } from './attempt-error.js';
import { backoffDelay } from './backoff.js';
import type { ResolvedClientOptions, UrlProvider } from './options.js';
import { aborted, arm, clientClosed, disconnected, type RequestTable, type Transmit } from './requests.js';
import type { SocketFactory, WebSocketLike } from './socket.js';
import type { ClientEvents, ClientState } from './types.js';

/** Whether a payload exceeds `max` bytes; avoids encoding in the common small case. */
function tooLarge(payload: string | Uint8Array, max: number): boolean {
  if (typeof payload !== 'string') return payload.byteLength > max;
  // n UTF-16 units take between n and 3n UTF-8 bytes.
  if (payload.length * 3 <= max) return false;
  if (payload.length > max) return true;
  return utf8Encoder.encode(payload).length > max;
}

async function pickUrl(urls: UrlProvider, attempt: number): Promise<string> {
  if (typeof urls === 'string') return urls;
  if (typeof urls === 'function') return urls(attempt);
  if (urls.length === 0) throw new TypeError('no URL to connect to');
  return urls[attempt % urls.length] as string;
}

/** `url` with the token in its query string, before any #fragment (which is never sent). */
function withTokenParam(url: string, param: string, token: string): string {
  const hash = url.indexOf('#');
  const [base, frag] = hash < 0 ? [url, ''] : [url.slice(0, hash), url.slice(hash)];
  return `${base}${base.includes('?') ? '&' : '?'}${encodeURIComponent(param)}=${encodeURIComponent(token)}${frag}`;
}

/** What the connection tells the client, which wires it to its request, topic and stream tables. */
export interface ConnectionHooks {
  /** A decoded server frame arrived. */
  frame(f: ServerFrame): void;
  /** `welcome` arrived and the state is `open`; called before the `open` event. */
  opened(): void;
  /** The socket is gone (a reconnect may follow): what was in flight on it cannot be answered. */
  lost(): void;
  /** The client stopped for good: unsent work fails with `cause`, work sent before with `sentCause`. */
  stopped(cause: SwitchboardError, sentCause: SwitchboardError): void;
}

/** One client's connection, as the client and its frame router use it. */
export interface Connection {
  readonly state: ClientState;
  readonly clientId: string | undefined;
  /** Encodes and sends a frame on the current socket; an error when it cannot be sent. */
  readonly transmit: Transmit;
  /** {@link Connection.transmit} while open, else `undefined`. */
  openTransmit(): Transmit | undefined;
  /** Starts the first attempt. */
  start(): void;
  /** The server's `welcome`: the connection is usable. */
  welcomed(f: WelcomeFrame): void;
  /** The server's `refresh`: fetch a fresh token and send it on the open connection (§1.4). */
  refresh(): Promise<void>;
  /** Resolves once the client is open; rejects with TIMEOUT, ABORTED, or the error it stopped with. */
  whenOpen(timeoutMs: number, signal: AbortSignal | undefined): Promise<void>;
  /**
   * The error anything asked of a stopped client rejects with: `CLOSED` after `close()`, else what
   * it stopped with (`CONNECTION_FAILED`, or the final refusal such as `UNAUTHORIZED`).
   */
  ended(): SwitchboardError;
  /** `client.close()`: ends the client for good. */
  close(code: number, reason: string): void;
}

/**
 * Creates the connection of one client; nothing happens until {@link Connection.start}. It emits
 * the client's `open`, `close` and `reconnecting` on `events`, sends the token a `refresh` asks for
 * as an `auth` request through `requests`, and reports what no promise reports to `reportError`;
 * `describe` turns an attempt that closed before `welcome` into its coded error.
 */
export function createConnection(
  urls: UrlProvider,
  opts: ResolvedClientOptions,
  factory: SocketFactory,
  events: Emitter<Listeners<ClientEvents>>,
  requests: RequestTable,
  reportError: (err: unknown) => void,
  describe: DescribeAttempt,
  hooks: ConnectionHooks,
): Connection {
  // A codec other than JSON is a plug-in the app passed in (switchboard/msgpack): the client never
  // imports one itself, so a JSON app bundles no MessagePack code.
  const codec = opts.codec === 'json' ? jsonCodec : opts.codec;
  let state: ClientState = 'connecting';
  let clientId: string | undefined;
  let socket: WebSocketLike | undefined;
  let welcome: WelcomeFrame | undefined;
  /** Consecutive failed attempts; reset once a connection stayed open for `stableAfterMs`. */
  let attempt = 0;
  /** The token a 401/403/4501 refused, and that refusal; the next attempt needs a different token. */
  let refusedToken: string | undefined;
  let refusal: SwitchboardError | undefined;
  /** The last failed attempt's error: the cause `CONNECTION_FAILED` carries. */
  let lastFailure: SwitchboardError | undefined;
  /** What the client stopped with (docs/client.md, "When things go wrong"). */
  let final: SwitchboardError | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let connectTimer: ReturnType<typeof setTimeout> | undefined;
  let stableTimer: ReturnType<typeof setTimeout> | undefined;
  let heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  let pongTimer: ReturnType<typeof setTimeout> | undefined;
  let heard = false;
  const getToken = async () => (typeof opts.token === 'function' ? opts.token() : opts.token);

  const transmit: Transmit = (frame) => {
    let payload: string | Uint8Array;
    try {
      payload = codec.encode(frame);
    } catch (err) {
      // A value the codec cannot encode (a BigInt, a cycle): this request fails, nothing else.
      // Thrown here it would escape the queue flush on open and lose the rest of the queue.
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

  /** Clears every timer of the connection (`clearTimeout` clears an interval too: WHATWG timers, Node). */
  function clearTimers(): void {
    for (const t of [connectTimer, stableTimer, pongTimer, heartbeatTimer, retryTimer]) clearTimeout(t);
    connectTimer = stableTimer = pongTimer = heartbeatTimer = retryTimer = undefined;
  }

  /** Detaches and closes the current socket; its late events are ignored from here on. */
  function dropSocket(code?: number, reason?: string): void {
    const s = socket;
    socket = undefined;
    if (!s) return;
    s.onopen = s.onmessage = s.onclose = null;
    // Keep an error handler: closing a CONNECTING `ws` socket emits 'error' later, and an
    // EventEmitter 'error' without a listener would crash the process.
    s.onerror = () => {};
    try {
      if (s.readyState === ReadyState.CONNECTING || s.readyState === ReadyState.OPEN) s.close(code, reason);
    } catch {
      // Closing a CONNECTING socket may throw in some runtimes; it is abandoned either way.
    }
  }

  /**
   * Gives up on the current socket without a close frame from the server (1006), then follows the
   * reconnect policy; `failure` when it was an attempt that never opened.
   */
  function abandon(reason: string, failure?: SwitchboardError): void {
    dropSocket();
    onClosed(CloseCode.ABNORMAL, reason, undefined, undefined, failure);
  }

  async function open(): Promise<void> {
    retryTimer = undefined;
    let token: string | undefined;
    let url: string;
    try {
      token = await getToken();
      url = await pickUrl(urls, attempt);
    } catch (err) {
      reportError(err);
      return onClosed(CloseCode.ABNORMAL, 'token or URL provider failed');
    }
    if (state === 'closed') return;
    if (refusal && token === refusedToken) {
      return stop(CloseCode.ABNORMAL, 'handshake refused', new SwitchboardError(refusal.code, 'The server refused the token and no new one is available', refusal.details), undefined, 'handshake refused');
    }
    const protocols = [codec.subprotocol];
    if (token && opts.tokenIn === 'protocol') protocols.push(encodeTokenProtocol(token));
    const urlWithoutToken = url;
    if (!token && opts.tokenIn === 'message') {
      // The server waits for an auth frame it would never get: 4408 and a reconnect loop.
      return stop(CloseCode.ABNORMAL, 'no token', new SwitchboardError(ErrorCode.UNAUTHORIZED, "tokenIn: 'message' needs a token and the provider gave none"), undefined, 'no token');
    }
    if (token && opts.tokenIn === 'query') url = withTokenParam(url, opts.tokenQueryParam, token);
    let s: WebSocketLike;
    try {
      s = factory(url, protocols);
    } catch (err) {
      // A malformed URL is a programming error: reconnecting cannot fix it. Runtimes quote the URL
      // in their error ("Invalid URL: …?token=…"); with tokenIn 'query' that would put the token in
      // an error message (docs/protocol.md §1.1), so report the URL as it was before the token.
      const e = err instanceof Error ? err : new Error(String(err));
      const safe = url === urlWithoutToken ? e : new SyntaxError(`Invalid URL: ${urlWithoutToken}`);
      return stop(CloseCode.ABNORMAL, 'invalid URL', safe, undefined, 'invalid URL');
    }
    socket = s;
    s.binaryType = 'arraybuffer';
    // Every attempt has a deadline, reconnecting or not: a server that accepts TCP and never
    // answers the upgrade must not leave the client 'connecting' forever.
    connectTimer = setTimeout(
      () => abandon('connect timeout', new SwitchboardError(ErrorCode.TIMEOUT, `No welcome from ${urlWithoutToken} within ${opts.connectTimeoutMs} ms`)),
      opts.connectTimeoutMs,
    );
    // First-message transport: the token is the first frame, before the server's welcome (§1.3).
    if (token && opts.tokenIn === 'message') s.onopen = () => s.send(codec.encode({ t: 'auth', token }));
    s.onmessage = (ev) => receive(ev.data);
    s.onerror = () => {}; // 'close' follows and carries what is known.
    s.onclose = (ev) => {
      if (socket !== s) return;
      socket = undefined;
      // Closed before the server's welcome: the attempt failed, and the error says how.
      const failure = state === 'open' ? undefined : describe(urlWithoutToken, ev.code, ev.reason, s);
      onClosed(ev.code, ev.reason, s.httpStatus, token, failure);
    };
  }

  function receive(data: unknown): void {
    heard = true;
    clearTimeout(pongTimer);
    pongTimer = undefined;
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : (data as string | Uint8Array);
    const decoded = codec.decode(bytes, typeof data !== 'string');
    if (!decoded.ok || !isServerFrame(decoded.value)) {
      reportError(new SwitchboardError(ErrorCode.BAD_REQUEST, 'The server sent a malformed frame'));
      return;
    }
    hooks.frame(decoded.value);
  }

  async function refresh(): Promise<void> {
    try {
      const token = await getToken();
      if (!token) throw new SwitchboardError(ErrorCode.UNAUTHORIZED, 'The server asked for a fresh token and there is none');
      await requests.request({ t: 'auth', token }, { timeoutMs: opts.timeoutMs, direct: true }, openTransmit());
    } catch (err) {
      // The server closes with 4401 after its deadline; the reconnect then asks the provider again.
      reportError(err);
    }
  }

  function welcomed(f: WelcomeFrame): void {
    clearTimeout(connectTimer);
    welcome = f;
    clientId = f.clientId;
    refusedToken = undefined;
    state = 'open';
    if (opts.reconnect) stableTimer = setTimeout(() => (attempt = 0), opts.reconnect.stableAfterMs);
    startHeartbeat(f);
    hooks.opened();
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
      // No frame in time: the server is gone without a close frame. Give up on this socket and reconnect.
      pongTimer = setTimeout(() => abandon('heartbeat timeout'), timeoutMs);
    }, intervalMs);
  }

  /**
   * The reconnect policy: whether, and after how long, another attempt follows this close. A failed
   * attempt (`failure`) is reported on `error` first, whatever follows.
   */
  function onClosed(code: number, reason: string, httpStatus?: number, token?: string, failure?: SwitchboardError): void {
    clearTimers();
    welcome = undefined;
    hooks.lost();
    if (state === 'closed') return;
    // 4501 is first-message authentication's 401 (docs/protocol.md §5).
    const refused = httpStatus === 401 || httpStatus === 403 || code === CloseCode.UNAUTHORIZED;
    // A wrong path or request cannot heal; a refused token can, if the provider yields another.
    if (httpStatus === 400 || httpStatus === 404 || (refused && typeof opts.token !== 'function')) {
      return stop(code, reason, failure, httpStatus, 'handshake refused');
    }
    if (failure) reportError((lastFailure = failure));
    if (refused) {
      refusedToken = token ?? '';
      refusal = failure;
    }
    const retryable = shouldReconnect(code) || code === CloseCode.UNAUTHORIZED;
    if (!opts.reconnect || !retryable || attempt >= opts.reconnect.maxAttempts) {
      const why = !opts.reconnect ? 'reconnect is off' : !retryable ? 'the server asked not to reconnect' : `gave up after ${attempt} attempts`;
      return stop(code, reason, undefined, httpStatus, why);
    }
    const delayMs = backoffDelay(attempt, opts.reconnect.initialDelayMs, opts.reconnect.maxDelayMs);
    attempt++;
    state = 'reconnecting';
    emitClose(code, reason, true, httpStatus);
    if (state !== 'reconnecting') return; // a close listener called client.close()
    events.emit('reconnecting', { attempt, delayMs });
    if (state !== 'reconnecting') return;
    retryTimer = setTimeout(() => void open(), delayMs);
  }

  /**
   * Ends the client for good: by `close()` (`why` undefined: everything rejects with `CLOSED`), with
   * the final refusal `err`, or with `CONNECTION_FAILED` saying `why`, reported on `error`.
   */
  function stop(code: number, reason: string, err?: Error, httpStatus?: number, why?: string): void {
    if (state === 'closed') return;
    state = 'closed';
    clearTimers();
    dropSocket(code, reason);
    const details = { code, reason, cause: err ?? lastFailure };
    const cause = (final =
      why === undefined
        ? clientClosed()
        : err instanceof SwitchboardError
          ? err
          : new SwitchboardError(ErrorCode.CONNECTION_FAILED, `Connection failed for good (${why}; close code ${code}${reason ? ` "${reason}"` : ''})${details.cause ? `: ${details.cause.message}` : ''}`, details));
    // A keyed call re-queued after a drop may have run: DISCONNECTED says so (docs/guarantees.md),
    // unless close() was called, which everything pending hears as CLOSED.
    hooks.stopped(cause, why === undefined ? cause : disconnected());
    if (why !== undefined) reportError(err ?? cause);
    emitClose(code, reason, false, httpStatus);
  }

  function emitClose(code: number, reason: string, willReconnect: boolean, httpStatus: number | undefined): void {
    events.emit('close', { code, reason, willReconnect, ...(httpStatus ? { httpStatus } : {}) });
  }

  function whenOpen(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    if (state === 'open') return Promise.resolve();
    if (state === 'closed') return Promise.reject(final);
    if (signal?.aborted) return Promise.reject(aborted());
    return new Promise((resolve, reject) => {
      const done = (err?: SwitchboardError) => {
        offOpen();
        offClose();
        disarm();
        if (err) reject(err);
        else resolve();
      };
      const offOpen = events.on('open', () => done());
      const offClose = events.on('close', (e) => void (e.willReconnect || done(final)));
      const disarm = arm(timeoutMs, () => done(new SwitchboardError(ErrorCode.TIMEOUT, `Not connected within ${timeoutMs} ms`)), signal, () => done(aborted()));
    });
  }

  return {
    get state() {
      return state;
    },
    get clientId() {
      return clientId;
    },
    transmit,
    openTransmit,
    start: () => void open(),
    welcomed,
    refresh,
    whenOpen,
    ended: () => final ?? clientClosed(),
    close: (code, reason) => stop(code, reason),
  };
}
