/**
 * WebSocket first, the SSE fallback when it is blocked (docs/client.md, "When WebSockets are
 * blocked"): a {@link WebSocketConstructor} the client takes as its `WebSocket` option, so the
 * core client (and its bundle) does not change. Each socket it makes tries a WebSocket; when the
 * upgrade fails or does not open within `upgradeTimeoutMs`, the same socket carries on over SSE,
 * and once SSE opened the choice is remembered for `retryWebSocketMs`, after which a new
 * connection tries WebSocket again.
 */
import type { WebSocketConstructor, WebSocketLike } from '../client/socket.js';
import { knownKeys } from '../shared/options.js';
import { SseClientSocket, type FetchLike } from './sse-socket.js';

/** Options of {@link sse}. */
export interface SseTransportOptions {
  /**
   * The WebSocket to try first; `null` uses SSE alone.
   * @default `globalThis.WebSocket` (under Node 20, which has none, pass `ws`'s)
   */
  WebSocket?: WebSocketConstructor | null;
  /** How long a WebSocket may take to open before SSE is tried instead, in ms. @default 3000 */
  upgradeTimeoutMs?: number;
  /** How long falling back is remembered: connections within it go straight to SSE, in ms. @default 300000 */
  retryWebSocketMs?: number;
  /** The `fetch` the fallback uses. @default `globalThis.fetch` */
  fetch?: FetchLike;
}

/** Which transport a connection uses. */
export type TransportName = 'websocket' | 'sse';

/** What {@link sse} returns: pass it as the client's `WebSocket` option. */
export interface SseTransport extends WebSocketConstructor {
  /** The transport of the socket that opened last; `undefined` before the first opened. */
  readonly current: TransportName | undefined;
}

const DEFAULTS = { upgradeTimeoutMs: 3_000, retryWebSocketMs: 300_000 };

/** A positive number of ms, else a `TypeError` naming the option. */
function ms(name: string, v: number | undefined, d: number): number {
  if (v === undefined) return d;
  if (typeof v !== 'number' || !(v > 0)) throw new TypeError(`sse(): ${name} must be a positive number of ms, got ${String(v)}`);
  return v;
}

/**
 * The WebSocket-then-SSE transport for `connect`.
 *
 * @example
 * import { connect } from 'switchboard/client';
 * import { sse } from 'switchboard/sse';
 * const transport = sse();
 * const client = connect('wss://example.com/ws', { WebSocket: transport });
 * client.on('open', () => console.log('connected over', transport.current));
 */
export function sse(options: SseTransportOptions = {}): SseTransport {
  knownKeys('', options, ['WebSocket', 'upgradeTimeoutMs', 'retryWebSocketMs', 'fetch']);
  const WS = options.WebSocket === undefined ? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket : options.WebSocket;
  const upgradeTimeoutMs = ms('upgradeTimeoutMs', options.upgradeTimeoutMs, DEFAULTS.upgradeTimeoutMs);
  const retryWebSocketMs = ms('retryWebSocketMs', options.retryWebSocketMs, DEFAULTS.retryWebSocketMs);
  const fetchImpl = options.fetch ?? (globalThis as { fetch?: FetchLike }).fetch?.bind(globalThis);
  if (!fetchImpl) throw new TypeError('sse(): no fetch in this runtime: pass options.fetch');
  /** Until when connections skip the WebSocket attempt (epoch ms). */
  let sseUntil = 0;
  let current: TransportName | undefined;

  class FallbackSocket implements WebSocketLike {
    readyState = 0;
    protocol = '';
    onopen: WebSocketLike['onopen'] = null;
    onmessage: WebSocketLike['onmessage'] = null;
    onclose: WebSocketLike['onclose'] = null;
    onerror: WebSocketLike['onerror'] = null;
    owner: unknown = undefined;
    declare httpStatus?: number;
    declare httpReason?: string;
    declare errorCode?: string;
    /** The transport this socket uses now. */
    transport: TransportName = 'websocket';
    #inner!: WebSocketLike;
    #binaryType = 'arraybuffer';
    #timer: ReturnType<typeof setTimeout> | undefined;
    #opened = false;
    #heard = false;
    /** The WebSocket attempt failed and this socket carries on over SSE. */
    #fellBack = false;
    readonly #url: string;
    readonly #protocols: string[];

    constructor(url: string, protocols: string[] = []) {
      this.#url = url;
      this.#protocols = protocols;
      if (!WS || Date.now() < sseUntil) {
        this.#sse();
      } else {
        // A malformed URL throws here, as a WebSocket's constructor does.
        this.#attach(new WS(url, protocols));
        this.#timer = setTimeout(() => this.#fallBack(), upgradeTimeoutMs);
      }
    }

    get binaryType(): string {
      return this.#binaryType;
    }

    set binaryType(v: string) {
      this.#binaryType = v;
      this.#inner.binaryType = v;
    }

    get pings(): number | undefined {
      return this.#inner.pings;
    }

    #sse(): void {
      this.transport = 'sse';
      this.#attach(new SseClientSocket(this.#url, this.#protocols, fetchImpl!));
    }

    /** The WebSocket did not open (refused, stripped upgrade, or too slow): carry on over SSE. */
    #fallBack(): void {
      // Closed meanwhile (the client gave up on this attempt): nothing more to open.
      if (this.#opened || this.readyState >= 2) return;
      clearTimeout(this.#timer);
      // Remembered only once SSE opens (in #attach): a WebSocket that failed because the server is
      // down, restarting or refusing (a deploy, a 503, a 401) is not a blocked one.
      this.#fellBack = true;
      const ws = this.#inner;
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.onerror = () => {};
      try {
        ws.close();
      } catch {
        // A CONNECTING socket may refuse close() in some runtimes; it is abandoned either way.
      }
      this.#sse();
    }

    #attach(s: WebSocketLike): void {
      this.#inner = s;
      s.binaryType = this.#binaryType;
      s.onopen = (ev) => {
        clearTimeout(this.#timer);
        this.#opened = true;
        this.readyState = 1;
        this.protocol = s.protocol;
        current = this.transport;
        if (this.#fellBack) sseUntil = Date.now() + retryWebSocketMs;
        this.onopen?.(ev);
      };
      s.onmessage = (ev) => {
        this.#heard = true;
        this.onmessage?.(ev);
      };
      s.onerror = (ev) => this.onerror?.(ev);
      s.onclose = (ev) => {
        if (!this.#opened && this.transport === 'websocket' && this.readyState < 2) return this.#fallBack();
        // Opened, yet closed before a single frame: a proxy that passes the upgrade and then cuts
        // it. The next connection goes straight to SSE.
        if (this.transport === 'websocket' && !this.#heard) sseUntil = Date.now() + retryWebSocketMs;
        clearTimeout(this.#timer);
        this.readyState = 3;
        if (s.httpStatus !== undefined) this.httpStatus = s.httpStatus;
        if (s.httpReason !== undefined) this.httpReason = s.httpReason;
        if (s.errorCode !== undefined) this.errorCode = s.errorCode;
        this.onclose?.(ev);
      };
    }

    send(data: string | ArrayBufferLike | Uint8Array): void {
      this.#inner.send(data);
    }

    close(code?: number, reason?: string): void {
      clearTimeout(this.#timer);
      if (this.readyState === 3) return;
      this.readyState = 2;
      this.#inner.close(code, reason);
    }
  }

  return Object.defineProperty(FallbackSocket, 'current', { get: () => current }) as unknown as SseTransport;
}
