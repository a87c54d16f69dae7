/**
 * One guest-side connection: the RightPlace SDK's `WsConnection` (`on`, `send`, `close`) fed by the host's
 * `rp:ws` events and by the answers to its own requests. It emits `close` exactly once, after at
 * most one `error` for a connection that never opened, and nothing after `close`. Once the
 * application called `close()`, the only event left is that `close` (docs/bridge.md §2).
 */
import { CloseCode } from '../protocol/close-codes.js';
import { Emitter } from '../shared/emitter.js';
import { BridgeError, BridgeErrorCode } from './errors.js';
import { checkClose, type BridgeData, type WsEventMessage } from './messages.js';

/** The RightPlace SDK's connection events, with binary data and an error object added. */
export interface WsConnectionEvents {
  /** The connection is open. */
  open: () => void;
  /** A message: a string for text, an `ArrayBuffer` for binary. */
  message: (data: string | ArrayBuffer) => void;
  /** The connection is closed; the last event. A connection that never opened closes with 1006. */
  close: (code: number, reason: string) => void;
  /** Something failed: the RightPlace SDK's message string, then the error with its `code` (docs/bridge.md §4). */
  error: (message: string, error: BridgeError) => void;
}

/** Where the connection is in its life. */
export type WsConnectionState = 'connecting' | 'open' | 'closing' | 'closed';

/** A WebSocket the host opened for this resource. */
export interface WsConnection {
  /** The `connectionId` of the raw protocol. */
  readonly id: string;
  readonly url: string;
  readonly state: WsConnectionState;
  /** The subprotocol the upstream chose, once open. */
  readonly protocol: string;
  /** Bytes the host had not sent yet, as of its answer to the last `send`. */
  readonly bufferedAmount: number;
  /** Resolves when the connection opens; rejects with a `BridgeError` if it closes first. */
  readonly opened: Promise<void>;
  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof WsConnectionEvents>(event: K, listener: WsConnectionEvents[K]): () => void;
  /**
   * Sends text or bytes. Before `open` the host holds it and sends it once the connection opens,
   * in order. A refusal by the host (`LIMIT_EXCEEDED`, `PAYLOAD_TOO_LARGE`…) is reported as an
   * `error` event; the connection stays as it is. After `close()` it does nothing.
   */
  send(data: BridgeData): void;
  /**
   * Closes the connection (`code` 1000 or 3000–4999; throws `BAD_REQUEST` otherwise). Called
   * before `open`, it takes effect after the sends made before it; either way the only event
   * that follows is `close`.
   */
  close(code?: number, reason?: string): void;
}

/** What a connection needs from its client. */
export interface ConnectionTransport {
  request(method: string, params: Record<string, unknown>): Promise<unknown>;
  forget(id: string): void;
}

/** The implementation behind {@link WsConnection}; the client feeds it. */
export class GuestConnection implements WsConnection {
  readonly id: string;
  readonly url: string;
  readonly opened: Promise<void>;
  #state: WsConnectionState = 'connecting';
  #protocol = '';
  #buffered = 0;
  #lastError: BridgeError | undefined;
  readonly #transport: ConnectionTransport;
  // A throwing listener is rethrown in a microtask, as one in an `EventTarget` handler would be.
  readonly #events = new Emitter<WsConnectionEvents>();
  #settle: { resolve(): void; reject(e: BridgeError): void } | undefined;

  constructor(id: string, url: string, transport: ConnectionTransport) {
    this.id = id;
    this.url = url;
    this.#transport = transport;
    this.opened = new Promise<void>((resolve, reject) => (this.#settle = { resolve, reject }));
    // Awaiting `opened` is optional; a refusal must not become an unhandled rejection.
    this.opened.catch(() => {});
  }

  get state(): WsConnectionState {
    return this.#state;
  }

  get protocol(): string {
    return this.#protocol;
  }

  get bufferedAmount(): number {
    return this.#buffered;
  }

  on<K extends keyof WsConnectionEvents>(event: K, listener: WsConnectionEvents[K]): () => void {
    return this.#events.on(event, listener);
  }

  send(data: BridgeData): void {
    // After close() nothing but the close is told, so the host's NOT_CONNECTED would go unheard.
    if (this.#state === 'closing' || this.#state === 'closed') return;
    this.#transport.request('ws.send', { connectionId: this.id, data }).then(
      (result) => {
        const b = (result as { bufferedAmount?: unknown } | null)?.bufferedAmount;
        if (typeof b === 'number') this.#buffered = b;
      },
      (err: BridgeError) => {
        if (this.#state === 'connecting' || this.#state === 'open') this.#error(err);
      },
    );
  }

  close(code?: number, reason?: string): void {
    const invalid = checkClose(code, reason);
    if (invalid) throw new BridgeError(BridgeErrorCode.BAD_REQUEST, invalid);
    if (this.#state === 'closed' || this.#state === 'closing') return;
    this.#state = 'closing';
    const params: Record<string, unknown> = { connectionId: this.id };
    if (code !== undefined) params.code = code;
    if (reason !== undefined) params.reason = reason;
    this.#transport.request('ws.close', params).catch((err: BridgeError) => {
      // NOT_CONNECTED: the host already ended it, and its `close` event is on the way or came.
      if (err.code !== BridgeErrorCode.NOT_CONNECTED) this.fail(err);
    });
  }

  /** Feeds one `rp:ws` event of this connection. */
  receive(msg: WsEventMessage): void {
    if (this.#state === 'closed') return;
    // After close() only the close is told (a host may still relay what was on its way).
    if (this.#state === 'closing' && msg.event !== 'close') return;
    switch (msg.event) {
      case 'open':
        if (this.#state !== 'connecting') return;
        this.#state = 'open';
        this.#protocol = typeof msg.protocol === 'string' ? msg.protocol : '';
        this.#settle?.resolve();
        this.#settle = undefined;
        return this.#emit('open');
      case 'message':
        return this.#emit('message', msg.data);
      case 'error':
        return this.#error(new BridgeError(typeof msg.errorCode === 'string' ? msg.errorCode : BridgeErrorCode.UPSTREAM_FAILED, String(msg.error)));
      case 'close':
        return this.#closed(typeof msg.code === 'number' ? msg.code : CloseCode.ABNORMAL, typeof msg.reason === 'string' ? msg.reason : '');
    }
  }

  /**
   * Ends the connection from the guest's side: the host refused it, or never answered. The host's
   * own `error`/`close` events for it, if any follow, are ignored. After `close()` the error is
   * not told: the application only hears its `close`.
   */
  fail(err: BridgeError): void {
    if (this.#state === 'closed') return;
    if (this.#state !== 'closing') this.#error(err);
    this.#closed(CloseCode.ABNORMAL, '');
  }

  #error(err: BridgeError): void {
    this.#lastError = err;
    this.#emit('error', err.message, err);
  }

  #closed(code: number, reason: string): void {
    const byApp = this.#state === 'closing';
    this.#state = 'closed';
    this.#transport.forget(this.id);
    // Still unsettled: it never opened.
    this.#settle?.reject(
      byApp
        ? new BridgeError(BridgeErrorCode.ABORTED, 'the application closed the connection before it opened')
        : (this.#lastError ?? new BridgeError(BridgeErrorCode.UPSTREAM_FAILED, `closed with ${code} before it opened`)),
    );
    this.#settle = undefined;
    this.#emit('close', code, reason);
  }

  #emit<K extends keyof WsConnectionEvents>(event: K, ...args: Parameters<WsConnectionEvents[K]>): void {
    this.#events.emit(event, ...args);
  }
}
