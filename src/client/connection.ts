/**
 * One client's connection lifecycle: each attempt (the URL, the token and where it travels, the
 * codec, the connect deadline), the heartbeat, the reconnect policy after a drop, and the final stop
 * (docs/client.md, "Reconnection", "Token refresh", "Heartbeat"). It knows nothing of topics or
 * streams: it tells the client through {@link ConnectionHooks}, and the client wires those to its
 * tables. Runtime-free: the entry point injects the socket factory. A class, so that the thousands
 * of clients of a load generator share its methods instead of each holding closures of its own
 * (docs/performance.md, "Idle connections").
 */
import { jsonCodec } from '../protocol/codec.js';
import * as CloseCode from '../protocol/close-code-values.js';
import { ReadyState, shouldReconnect } from '../protocol/close-codes.js';
import * as ErrorCode from '../protocol/error-code-values.js';
import { SwitchboardError } from '../protocol/errors.js';
import type { Codec } from '../protocol/codec.js';
import type { ServerFrame, WelcomeFrame } from '../protocol/frames.js';
import { isServerFrame } from '../protocol/frames.js';
import { encodeTokenProtocol } from '../protocol/subprotocol.js';
import { utf8Encoder } from '../protocol/utf8.js';
import type { Emitter, Listeners } from '../shared/emitter.js';
import type { DescribeAttempt } from './attempt-error.js';
import { backoffDelay } from './backoff.js';
import { SILENT_BEATS, startBeating, stopBeating, type Beating } from './heartbeat.js';
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
  /** Reports what no promise reports (the client's `error` event). */
  reportError(err: unknown): void;
}

/** The client's events as the connection uses them. */
export type ConnectionEvents = Pick<Emitter<Listeners<ClientEvents>>, 'on' | 'emit'>;

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
  /** Why the client is not open now: the last failed attempt since it was last open, if any. */
  offlineCause(): SwitchboardError | undefined;
  /** `client.close()`: ends the client for good. */
  close(code: number, reason: string): void;
}


/**
 * Creates the connection of one client; nothing happens until {@link Connection.start}. It emits
 * the client's `open`, `close` and `reconnecting` on `client`, sends the token a `refresh` asks for
 * as an `auth` request through `client.requests`, and reports what no promise reports to
 * `client.reportError`; `describe` turns an attempt that closed before `welcome` into its coded error.
 */
export function createConnection(urls: UrlProvider, opts: ResolvedClientOptions, factory: SocketFactory, describe: DescribeAttempt, client: ConnectionClient): Connection {
  return new ClientConnection(urls, opts, factory, describe, client);
}

/** The client as its connection uses it: hooks, events, and the request table for `auth`. */
export type ConnectionClient = ConnectionHooks & ConnectionEvents & { readonly requests: Pick<RequestTable, 'request'> };

/** Token refusal categories a provider's next token does not heal (docs/security.md, "Refusal logs"). */
const UNHEALED = /^(malformed|bad-signature|wrong-audience|wrong-issuer|algorithm)$/;

class ClientConnection implements Connection, Beating {
  state: ClientState = 'connecting';
  clientId: string | undefined;
  /** Encodes and sends a frame on the current socket (one function per connection: tables keep it). */
  readonly transmit: Transmit = (frame) => this.#send(frame);
  readonly #codec: Codec;
  readonly #urls: UrlProvider;
  readonly #opts: ResolvedClientOptions;
  readonly #factory: SocketFactory;
  readonly #describe: DescribeAttempt;
  /** The client: its hooks, events and request table (one field for the three). */
  readonly #hooks: ConnectionClient;
  #socket: WebSocketLike | undefined;
  /** The server's limit on a frame's size, from `welcome`. */
  #maxPayload = Infinity;
  /** Consecutive failed attempts; reset once a connection stayed open for `stableAfterMs`. */
  #attempt = 0;
  /** When the current connection opened, for `stableAfterMs`. */
  #openedAt = 0;
  /** The token a 401/403/4501 refused, and that refusal; the next attempt needs a different token. */
  #refusedToken: string | undefined;
  #refusal: SwitchboardError | undefined;
  /** The category of the last token refusals in a row that a new token does not heal, and how many. */
  #unhealed: [category: string, times: number] | undefined;
  /** The last failed attempt's error: the cause `CONNECTION_FAILED` carries. */
  #lastFailure: SwitchboardError | undefined;
  /** What the client stopped with (docs/client.md, "When things go wrong"). */
  #final: SwitchboardError | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;
  #pongTimer: ReturnType<typeof setTimeout> | undefined;
  /** The heartbeat's interval and timeout on the open connection; 0 while it is not beating. */
  #beatMs = 0;
  #beatTimeoutMs = 0;
  /** A frame arrived since the previous beat. */
  #heard = false;
  /** The current attempt's token, and its URL without the token (for errors and refusals). */
  #attemptToken: string | undefined;
  #attemptUrl = '';
  /** Beats in a row without a sign of the server. */
  #silentBeats = 0;
  /** The socket's count of the server's protocol Pings at the previous beat (where the runtime counts them). */
  #pingsSeen = 0;

  constructor(urls: UrlProvider, opts: ResolvedClientOptions, factory: SocketFactory, describe: DescribeAttempt, client: ConnectionClient) {
    this.#urls = urls;
    this.#opts = opts;
    this.#factory = factory;
    this.#describe = describe;
    this.#hooks = client;
    // A codec other than JSON is a plug-in the app passed in (switchboard/msgpack): the client never
    // imports one itself, so a JSON app bundles no MessagePack code.
    this.#codec = opts.codec === 'json' ? jsonCodec : opts.codec;
  }

  #send(frame: Parameters<Transmit>[0]): SwitchboardError | undefined {
    let payload: string | Uint8Array;
    try {
      payload = this.#codec.encode(frame);
    } catch (err) {
      // A value the codec cannot encode (a BigInt, a cycle): this request fails, nothing else.
      // Thrown here it would escape the queue flush on open and lose the rest of the queue.
      return new SwitchboardError(ErrorCode.BAD_REQUEST, `Request could not be encoded: ${err instanceof Error ? err.message : String(err)}`);
    }
    const max = this.#maxPayload;
    if (tooLarge(payload, max)) {
      return new SwitchboardError(ErrorCode.PAYLOAD_TOO_LARGE, `Request exceeds the server's maxPayload of ${max} bytes`);
    }
    this.#socket?.send(payload);
    return undefined;
  }

  openTransmit(): Transmit | undefined {
    return this.state === 'open' ? this.transmit : undefined;
  }

  start(): void {
    void this.#open();
  }

  #getToken(): Promise<string | undefined> | string | undefined {
    const token = this.#opts.token;
    return typeof token === 'function' ? token() : token;
  }

  /** Clears every timer of the connection and leaves the shared heartbeat. */
  #clearTimers(): void {
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#pongTimer);
    clearTimeout(this.#retryTimer);
    this.#connectTimer = this.#pongTimer = this.#retryTimer = undefined;
    if (this.#beatMs) stopBeating(this, this.#beatMs);
    this.#beatMs = 0;
  }

  /** Detaches and closes the current socket; its late events are ignored from here on. */
  #dropSocket(code?: number, reason?: string): void {
    const s = this.#socket;
    this.#socket = undefined;
    if (!s) return;
    s.onopen = s.onmessage = s.onclose = null;
    s.owner = undefined;
    // Keep an error handler: closing a CONNECTING `ws` socket emits 'error' later, and an
    // EventEmitter 'error' without a listener would crash the process.
    s.onerror = ignore;
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
  #abandon(reason: string, failure?: SwitchboardError): void {
    this.#dropSocket();
    this.#onClosed(CloseCode.ABNORMAL, reason, undefined, undefined, failure);
  }

  async #open(): Promise<void> {
    const opts = this.#opts;
    this.#retryTimer = undefined;
    let token: string | undefined;
    let url: string;
    try {
      token = await this.#getToken();
      url = await pickUrl(this.#urls, this.#attempt);
    } catch (err) {
      this.#hooks.reportError(err);
      return this.#onClosed(CloseCode.ABNORMAL, 'token or URL provider failed');
    }
    if (this.state === 'closed') return;
    if (this.#refusal && token === this.#refusedToken) {
      const refusal = this.#refusal;
      return this.#stop(CloseCode.ABNORMAL, 'handshake refused', new SwitchboardError(refusal.code, 'The server refused the token and no new one is available', refusal.details), undefined, 'handshake refused');
    }
    const codec = this.#codec;
    const protocols = [codec.subprotocol];
    if (token && opts.tokenIn === 'protocol') protocols.push(encodeTokenProtocol(token));
    const urlWithoutToken = url;
    if (!token && opts.tokenIn === 'message') {
      // The server waits for an auth frame it would never get: 4408 and a reconnect loop.
      return this.#stop(CloseCode.ABNORMAL, 'no token', new SwitchboardError(ErrorCode.UNAUTHORIZED, "tokenIn: 'message' needs a token and the provider gave none"), undefined, 'no token');
    }
    if (token && opts.tokenIn === 'query') url = withTokenParam(url, opts.tokenQueryParam, token);
    let s: WebSocketLike;
    try {
      s = this.#factory(url, protocols);
    } catch (err) {
      // A malformed URL is a programming error: reconnecting cannot fix it. Runtimes quote the URL
      // in their error ("Invalid URL: …?token=…"); with tokenIn 'query' that would put the token in
      // an error message (docs/protocol.md §1.1), so report the URL as it was before the token.
      const e = err instanceof Error ? err : new Error(String(err));
      const safe = url === urlWithoutToken ? e : new SyntaxError(`Invalid URL: ${urlWithoutToken}`);
      return this.#stop(CloseCode.ABNORMAL, 'invalid URL', safe, undefined, 'invalid URL');
    }
    this.#socket = s;
    s.binaryType = 'arraybuffer';
    // Every attempt has a deadline, reconnecting or not: a server that accepts TCP and never
    // answers the upgrade must not leave the client 'connecting' forever.
    this.#connectTimer = setTimeout(
      () => this.#abandon('connect timeout', new SwitchboardError(ErrorCode.TIMEOUT, `No welcome from ${urlWithoutToken} within ${opts.connectTimeoutMs} ms`)),
      opts.connectTimeoutMs,
    );
    // First-message transport: the token is the first frame, before the server's welcome (§1.3).
    if (token && opts.tokenIn === 'message') s.onopen = () => s.send(codec.encode({ t: 'auth', token }));
    // Shared handlers that find this connection on the socket (a handler's `this` is its socket):
    // no closures per attempt (docs/performance.md, "Idle connections").
    this.#attemptToken = token;
    this.#attemptUrl = urlWithoutToken;
    s.owner = this;
    s.onmessage = onSocketMessage;
    s.onerror = ignore; // 'close' follows and carries what is known.
    s.onclose = onSocketClose;
  }

  /** The current socket closed (a late close of an abandoned one is ignored). */
  socketClosed(s: WebSocketLike, ev: { code: number; reason: string }): void {
    if (this.#socket !== s) return;
    this.#socket = undefined;
    // Closed before the server's welcome: the attempt failed, and the error says how.
    const failure = this.state === 'open' ? undefined : this.#describe(this.#attemptUrl, ev.code, ev.reason, s);
    this.#onClosed(ev.code, ev.reason, s.httpStatus, this.#attemptToken, failure);
  }

  receive(data: unknown): void {
    this.#heard = true;
    if (this.#pongTimer !== undefined) {
      clearTimeout(this.#pongTimer);
      this.#pongTimer = undefined;
    }
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : (data as string | Uint8Array);
    const decoded = this.#codec.decode(bytes, typeof data !== 'string');
    if (!decoded.ok || !isServerFrame(decoded.value)) {
      this.#hooks.reportError(new SwitchboardError(ErrorCode.BAD_REQUEST, 'The server sent a malformed frame'));
      return;
    }
    this.#hooks.frame(decoded.value);
  }

  async refresh(): Promise<void> {
    try {
      const token = await this.#getToken();
      if (!token) throw new SwitchboardError(ErrorCode.UNAUTHORIZED, 'The server asked for a fresh token and there is none');
      await this.#hooks.requests.request({ t: 'auth', token }, { timeoutMs: this.#opts.timeoutMs, direct: true }, this.openTransmit());
    } catch (err) {
      // The server closes with 4401 after its deadline; the reconnect then asks the provider again.
      this.#hooks.reportError(err);
    }
  }

  welcomed(f: WelcomeFrame): void {
    clearTimeout(this.#connectTimer);
    this.#connectTimer = undefined;
    this.#maxPayload = f.maxPayload;
    this.clientId = f.clientId;
    this.#refusedToken = undefined;
    this.#unhealed = undefined;
    this.#lastFailure = undefined; // a failure before this connection explains nothing after it
    this.state = 'open';
    this.#openedAt = Date.now();
    const hb = this.#opts.heartbeat;
    if (hb !== false) {
      this.#beatMs = hb.intervalMs ?? f.heartbeat.intervalMs;
      this.#beatTimeoutMs = hb.timeoutMs ?? f.heartbeat.timeoutMs;
      this.#heard = false;
      this.#silentBeats = 0;
      this.#pingsSeen = this.#socket?.pings ?? 0;
      startBeating(this, this.#beatMs);
    }
    this.#hooks.opened();
    this.#hooks.emit('open', { clientId: f.clientId });
  }

  /**
   * The heartbeat (docs/protocol.md §3), a few times per interval (heartbeat.ts): after
   * {@link SILENT_BEATS} beats without a frame, and without a protocol Ping where the runtime shows
   * those (Node's `ws`), it sends `ping` and expects any frame within the timeout. A server that
   * pings this connection is heard, so the client adds no pings of its own (docs/performance.md,
   * "Idle connections").
   */
  beat(): void {
    const s = this.#socket;
    if (!s || this.state !== 'open') return;
    const pings = s.pings ?? 0;
    if (this.#heard || pings !== this.#pingsSeen) {
      this.#heard = false;
      this.#pingsSeen = pings;
      this.#silentBeats = 0;
      return;
    }
    if (++this.#silentBeats < SILENT_BEATS || this.#pongTimer !== undefined) return;
    s.send(this.#codec.encode({ t: 'ping' }));
    // No frame in time: the server is gone without a close frame. Give up on this socket and reconnect.
    this.#pongTimer = setTimeout(() => this.#abandon('heartbeat timeout'), this.#beatTimeoutMs);
  }

  /**
   * The reconnect policy: whether, and after how long, another attempt follows this close. A failed
   * attempt (`failure`) is reported on `error` first, whatever follows.
   */
  #onClosed(code: number, reason: string, httpStatus?: number, token?: string, failure?: SwitchboardError): void {
    const opts = this.#opts;
    // A connection that stayed open for stableAfterMs starts the backoff over.
    if (opts.reconnect && this.state === 'open' && Date.now() - this.#openedAt >= opts.reconnect.stableAfterMs) this.#attempt = 0;
    this.#clearTimers();
    this.#maxPayload = Infinity;
    this.#hooks.lost();
    if (this.state === 'closed') return;
    // 4501 is first-message authentication's 401 (docs/protocol.md §5).
    const refused = httpStatus === 401 || httpStatus === 403 || code === CloseCode.UNAUTHORIZED;
    // A wrong path or request cannot heal; a refused token can, if the provider yields another.
    if (httpStatus === 400 || httpStatus === 404 || (refused && typeof opts.token !== 'function')) {
      return this.#stop(code, reason, failure, httpStatus, 'handshake refused');
    }
    // With a token provider, a refusal no new token of it heals (a wrong audience, issuer,
    // algorithm or signature, a malformed token), 3 times in a row, is final. The category comes
    // from the 401's WWW-Authenticate (Node) or the 4501 close reason (docs/client.md).
    const category = refused ? String((failure?.details as { reason?: unknown } | undefined)?.reason).replace('token refused: ', '') : '';
    const u = (this.#unhealed = UNHEALED.test(category) ? [category, this.#unhealed?.[0] === category ? this.#unhealed[1] + 1 : 1] : undefined);
    if (u && u[1] >= 3) return this.#stop(code, reason, new SwitchboardError(failure!.code, `3 tokens in a row refused as ${category}: fix what the token provider signs`, failure!.details), httpStatus, 'handshake refused');
    if (failure) this.#hooks.reportError((this.#lastFailure = failure));
    if (refused) {
      this.#refusedToken = token ?? '';
      this.#refusal = failure;
    }
    const retryable = shouldReconnect(code) || code === CloseCode.UNAUTHORIZED;
    const attempt = this.#attempt;
    if (!opts.reconnect || !retryable || attempt >= opts.reconnect.maxAttempts) {
      const why = !opts.reconnect ? 'reconnect is off' : !retryable ? 'the server asked not to reconnect' : `gave up after ${attempt} attempts`;
      return this.#stop(code, reason, undefined, httpStatus, why);
    }
    // MOVED on a welcomed connection (no failed attempt): a draining server asks for another node
    // now, so the first attempt's jitter only, which spreads its clients (docs/client.md, "Reconnection").
    const delayMs = backoffDelay(code === CloseCode.MOVED && !failure ? 0 : attempt, opts.reconnect.initialDelayMs, opts.reconnect.maxDelayMs);
    this.#attempt = attempt + 1;
    this.state = 'reconnecting';
    this.#emitClose(code, reason, true, httpStatus);
    if (this.state !== 'reconnecting') return; // a close listener called client.close()
    this.#hooks.emit('reconnecting', { attempt: this.#attempt, delayMs });
    if (this.state !== 'reconnecting') return;
    this.#retryTimer = setTimeout(() => void this.#open(), delayMs);
  }

  /**
   * Ends the client for good: by `close()` (`why` undefined: everything rejects with `CLOSED`), with
   * the final refusal `err`, or with `CONNECTION_FAILED` saying `why`, reported on `error`.
   */
  #stop(code: number, reason: string, err?: Error, httpStatus?: number, why?: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.#clearTimers();
    this.#dropSocket(code, reason);
    const details = { code, reason, cause: err ?? this.#lastFailure };
    const cause = (this.#final =
      why === undefined
        ? clientClosed()
        : err instanceof SwitchboardError
          ? err
          : new SwitchboardError(ErrorCode.CONNECTION_FAILED, `Connection failed for good (${why}; close code ${code}${reason ? ` "${reason}"` : ''})${details.cause ? `: ${details.cause.message}` : ''}`, details));
    // A keyed call re-queued after a drop may have run: DISCONNECTED says so (docs/guarantees.md),
    // unless close() was called, which everything pending hears as CLOSED.
    this.#hooks.stopped(cause, why === undefined ? cause : disconnected());
    if (why !== undefined) this.#hooks.reportError(err ?? cause);
    this.#emitClose(code, reason, false, httpStatus);
  }

  #emitClose(code: number, reason: string, willReconnect: boolean, httpStatus: number | undefined): void {
    this.#hooks.emit('close', { code, reason, willReconnect, ...(httpStatus ? { httpStatus } : {}) });
  }

  whenOpen(timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    if (this.state === 'open') return Promise.resolve();
    if (this.state === 'closed') return Promise.reject(this.#final);
    if (signal?.aborted) return Promise.reject(aborted());
    const events = this.#hooks;
    return new Promise((resolve, reject) => {
      const done = (err?: SwitchboardError) => {
        offOpen();
        offClose();
        disarm();
        if (err) reject(err);
        else resolve();
      };
      const offOpen = events.on('open', () => done());
      const offClose = events.on('close', (e) => void (e.willReconnect || done(this.#final)));
      const disarm = arm(timeoutMs, () => done(new SwitchboardError(ErrorCode.TIMEOUT, `Not connected within ${timeoutMs} ms`)), signal, () => done(aborted()));
    });
  }

  ended(): SwitchboardError {
    return this.#final ?? clientClosed();
  }

  offlineCause(): SwitchboardError | undefined {
    return this.state === 'open' ? undefined : this.#lastFailure;
  }

  close(code: number, reason: string): void {
    this.#stop(code, reason);
  }
}

/** The socket error handler: 'close' follows and carries what is known. */
function ignore(): void {}

function onSocketMessage(this: WebSocketLike, ev: { data: unknown }): void {
  (this.owner as ClientConnection | undefined)?.receive(ev.data);
}

function onSocketClose(this: WebSocketLike, ev: { code: number; reason: string }): void {
  (this.owner as ClientConnection | undefined)?.socketClosed(this, ev);
}
