/**
 * `createResourceServer`: the RightPlace SDK's backend SDK. Method handlers get `rp.ws.connect(connectionId,
 * url, { headers })`, `rp.ws.send(connectionId, data)` and `rp.ws.close(connectionId)` as async
 * methods, on `ws`, bounded by a URL policy and caps; the connections' events go to `onEvent`
 * listeners in the shape of the guest's `rp:ws` messages (docs/bridge.md §8). Node only.
 */
import type WebSocket from 'ws';
import { CloseCode, ReadyState } from '../protocol/close-codes.js';
import { Emitter } from '../shared/emitter.js';
import { consoleLogger, type Logger } from '../shared/logger.js';
import { closeWithin } from '../net/close-peers.js';
import { func, nonNegativeMs, positiveInt, positiveMs, withDefaults } from '../shared/options.js';
import { BridgeError, BridgeErrorCode } from './errors.js';
import { checkHeaders } from './headers.js';
import { checkClose, checkProtocols, dataSize, isConnectionId, type BridgeData, type WsEventMessage } from './messages.js';
import { openUpstream, upstreamOpened } from './node-upstream.js';
import { createUrlPolicy } from './policy.js';

/** `rp` as a backend method handler receives it. */
export interface BackendRp {
  readonly ws: {
    /** Opens `url` under `connectionId`; resolves once open. Rejects with `URL_NOT_ALLOWED`, `LIMIT_EXCEEDED`, `BAD_REQUEST` or `UPSTREAM_FAILED`. */
    connect(connectionId: string, url: string, options?: { headers?: Record<string, string>; protocols?: string[] }): Promise<void>;
    /** Sends text or bytes; resolves once written to the socket. */
    send(connectionId: string, data: BridgeData): Promise<void>;
    /** Closes the connection; resolves once it is closed. */
    close(connectionId: string, code?: number, reason?: string): Promise<void>;
  };
}

/** The second argument of a method handler. */
export interface MethodContext {
  readonly rp: BackendRp;
  /** Aborts when the resource server closes. */
  readonly signal: AbortSignal;
}

/**
 * A method handler. Declared with a method signature so that a handler may annotate its params
 * with any type (`(params: { url: string }, { rp }) => …`): parameters of methods are bivariant.
 */
export type ResourceMethod = { bivarianceHack(params: unknown, ctx: MethodContext): unknown }['bivarianceHack'];

/** The params type a handler declares. */
export type ParamsOf<F> = F extends (params: infer P, ctx: MethodContext) => unknown ? P : never;

/** Caps of the backend's connections. */
export interface BackendLimits {
  /** Connections open or opening at once; one more is refused with `LIMIT_EXCEEDED`. @default 64 */
  maxConnections: number;
  /** Largest message in either direction; a larger send is refused with `PAYLOAD_TOO_LARGE`, a larger incoming one closes with 1009. @default 1048576 (1 MiB) */
  maxPayload: number;
  /** Bytes one connection may hold unsent; a send past it is refused with `LIMIT_EXCEEDED`. @default 4194304 (4 MiB) */
  maxBufferedBytes: number;
  /** How long `connect` may take, in ms. @default 10000 */
  handshakeTimeoutMs: number;
}

/** Options of {@link createResourceServer}. */
export interface ResourceServerOptions<Methods extends Record<string, ResourceMethod>> {
  /** The methods, by name, as in the RightPlace SDK. */
  methods: Methods;
  /** URLs `rp.ws.connect` may open (policy.ts syntax). Required: nothing is allowed by default. */
  policy: { allow: readonly string[] };
  /** Caps; each field has its own default (see {@link BackendLimits}). */
  limits?: Partial<BackendLimits>;
  /** Receives every connection event. More listeners: `server.onEvent`. @default none */
  onEvent?: (event: WsEventMessage) => void;
  /** Where throwing listeners are reported. @default errors/warnings to stderr */
  logger?: Logger;
  /**
   * How long `close()` waits for each upstream to finish the close handshake before dropping it,
   * in ms (as the server's and the relay's `shutdownTimeoutMs`). @default 5000
   */
  shutdownTimeoutMs?: number;
}

/** A resource's backend. */
export interface ResourceServer<Methods extends Record<string, ResourceMethod>> {
  /** Runs a method; rejects with `UNKNOWN_METHOD` for a name that is not one, `DISPOSED` after `close()`. */
  call<K extends keyof Methods & string>(method: K, params: ParamsOf<Methods[K]>): Promise<Awaited<ReturnType<Methods[K]>>>;
  /** Adds an event listener; returns the function that removes it. */
  onEvent(listener: (event: WsEventMessage) => void): () => void;
  /** Connections open or opening. */
  readonly connections: number;
  /** Closes every connection (1001) and refuses later calls. */
  close(): Promise<void>;
}

/** The defaults, in one object. */
export const BACKEND_DEFAULTS = {
  limits: { maxConnections: 64, maxPayload: 1_048_576, maxBufferedBytes: 4 * 1_048_576, handshakeTimeoutMs: 10_000 },
  shutdownTimeoutMs: 5_000,
} as const;

/** Merges `limits` with {@link BACKEND_DEFAULTS} (`undefined` keeps a default) and checks them. */
function resolveBackendLimits(given: Partial<BackendLimits> | undefined): BackendLimits {
  const l = withDefaults<BackendLimits>(BACKEND_DEFAULTS.limits, given);
  return {
    maxConnections: positiveInt('limits.maxConnections', l.maxConnections),
    maxPayload: positiveInt('limits.maxPayload', l.maxPayload),
    maxBufferedBytes: positiveInt('limits.maxBufferedBytes', l.maxBufferedBytes),
    handshakeTimeoutMs: positiveMs('limits.handshakeTimeoutMs', l.handshakeTimeoutMs),
  };
}

interface Entry {
  ws: WebSocket;
  open: boolean;
}

/**
 * Creates a resource backend.
 *
 * @example
 * import { createResourceServer } from 'switchboard/bridge/server';
 * const server = createResourceServer({
 *   policy: { allow: ['wss://stream.example.com'] },
 *   methods: {
 *     startStream: async (params: { url: string; token: string }, { rp }) => {
 *       const connectionId = `stream-${Date.now()}`;
 *       await rp.ws.connect(connectionId, params.url, { headers: { Authorization: `Bearer ${params.token}` } });
 *       await rp.ws.send(connectionId, JSON.stringify({ subscribe: 'prices' }));
 *       return { connectionId };
 *     },
 *     stopStream: async (params: { connectionId: string }, { rp }) => rp.ws.close(params.connectionId),
 *   },
 *   onEvent: (e) => forwardToFrontend(e),
 * });
 * const { connectionId } = await server.call('startStream', { url, token });
 */
export function createResourceServer<Methods extends Record<string, ResourceMethod>>(options: ResourceServerOptions<Methods>): ResourceServer<Methods> {
  if (!options || typeof options.methods !== 'object' || options.methods === null) throw new TypeError('methods must be an object of functions');
  for (const [name, fn] of Object.entries(options.methods)) if (typeof fn !== 'function') throw new TypeError(`method ${name} must be a function`);
  if (!options.policy || !Array.isArray(options.policy.allow)) throw new TypeError('policy.allow must be an array of URL patterns');
  const policy = createUrlPolicy(options.policy.allow);
  const limits = resolveBackendLimits(options.limits);
  const logger = options.logger ?? consoleLogger;
  const shutdownTimeoutMs = nonNegativeMs('shutdownTimeoutMs', options.shutdownTimeoutMs ?? BACKEND_DEFAULTS.shutdownTimeoutMs);
  // The owner has a logger: a throwing listener is logged with the connection it was told about.
  let emitting = '';
  const events = new Emitter<{ event: (event: WsEventMessage) => void }>((err) =>
    logger.error({ err, connectionId: emitting }, 'bridge backend event listener threw'),
  );
  if (options.onEvent !== undefined) events.on('event', func('onEvent', options.onEvent));
  const connections = new Map<string, Entry>();
  const lifetime = new AbortController();

  function emit(event: WsEventMessage): void {
    emitting = event.connectionId;
    events.emit('event', event);
  }

  function entryOf(connectionId: string): Entry {
    const entry = connections.get(connectionId);
    if (!entry) throw new BridgeError(BridgeErrorCode.NOT_CONNECTED, `no connection ${connectionId}`);
    return entry;
  }

  const rp: BackendRp = {
    ws: {
      async connect(connectionId, url, o = {}) {
        if (lifetime.signal.aborted) throw new BridgeError(BridgeErrorCode.DISPOSED, 'the resource server is closed');
        if (!isConnectionId(connectionId)) throw new BridgeError(BridgeErrorCode.BAD_REQUEST, 'connectionId must be a string of 1-128 characters');
        if (connections.has(connectionId)) throw new BridgeError(BridgeErrorCode.BAD_REQUEST, `connection ${connectionId} is already in use`);
        const checked = policy.check(url);
        if (!checked.ok) throw new BridgeError(checked.code, checked.message);
        const headers = checkHeaders(o.headers ?? {});
        if (!headers.ok) throw new BridgeError(BridgeErrorCode.BAD_REQUEST, headers.message);
        const protocols = checkProtocols(o.protocols);
        if (typeof protocols === 'string') throw new BridgeError(BridgeErrorCode.BAD_REQUEST, protocols);
        if (connections.size >= limits.maxConnections) throw new BridgeError(BridgeErrorCode.LIMIT_EXCEEDED, `at most ${limits.maxConnections} connections`);
        const ws = openUpstream({ url: checked.url.href, headers: headers.headers, protocols, maxPayload: limits.maxPayload, handshakeTimeoutMs: limits.handshakeTimeoutMs });
        const entry: Entry = { ws, open: false };
        connections.set(connectionId, entry);
        ws.on('message', (data: Buffer, isBinary: boolean) => {
          // The same shape as the guest's rp:ws messages: text as a string, binary as an ArrayBuffer.
          const payload = isBinary ? data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) : data.toString('utf8');
          emit({ type: 'rp:ws', connectionId, event: 'message', data: payload as string | ArrayBuffer });
        });
        ws.on('close', (code, reason) => {
          if (connections.get(connectionId) === entry) connections.delete(connectionId);
          // Before `open` the failure is reported by connect() below, error first.
          if (entry.open) emit({ type: 'rp:ws', connectionId, event: 'close', code, reason: reason.toString('utf8') });
        });
        try {
          await upstreamOpened(ws, () => {
            entry.open = true;
            ws.on('error', (err) => {
              emit({ type: 'rp:ws', connectionId, event: 'error', error: err.message, errorCode: BridgeErrorCode.UPSTREAM_FAILED });
            });
            emit({ type: 'rp:ws', connectionId, event: 'open', protocol: ws.protocol });
          });
        } catch (err) {
          connections.delete(connectionId);
          const e = err as BridgeError;
          emit({ type: 'rp:ws', connectionId, event: 'error', error: e.message, errorCode: e.code });
          emit({ type: 'rp:ws', connectionId, event: 'close', code: CloseCode.ABNORMAL, reason: '' });
          throw err;
        }
      },
      send(connectionId, data) {
        return new Promise<void>((resolve, reject) => {
          const entry = entryOf(connectionId);
          if (!entry.open || entry.ws.readyState !== ReadyState.OPEN) throw new BridgeError(BridgeErrorCode.NOT_CONNECTED, `connection ${connectionId} is not open`);
          const size = dataSize(data, limits.maxPayload);
          if (typeof size === 'string') throw new BridgeError(BridgeErrorCode.BAD_REQUEST, size);
          if (size > limits.maxPayload) throw new BridgeError(BridgeErrorCode.PAYLOAD_TOO_LARGE, `message of ${size} bytes; at most ${limits.maxPayload}`);
          if (entry.ws.bufferedAmount + size > limits.maxBufferedBytes) {
            throw new BridgeError(BridgeErrorCode.LIMIT_EXCEEDED, `${entry.ws.bufferedAmount} bytes are waiting to be sent; at most ${limits.maxBufferedBytes}`);
          }
          entry.ws.send(data, { binary: typeof data !== 'string' }, (err) =>
            err ? reject(new BridgeError(BridgeErrorCode.UPSTREAM_FAILED, `the message could not be sent: ${err.message}`)) : resolve(),
          );
        });
      },
      close(connectionId, code, reason) {
        return new Promise<void>((resolve) => {
          const entry = entryOf(connectionId);
          const invalid = checkClose(code, reason);
          if (invalid) throw new BridgeError(BridgeErrorCode.BAD_REQUEST, invalid);
          entry.ws.once('close', () => resolve());
          entry.ws.close(code ?? CloseCode.NORMAL, reason ?? '');
        });
      },
    },
  };

  return {
    call: (async (method: string, params: unknown) => {
      if (lifetime.signal.aborted) throw new BridgeError(BridgeErrorCode.DISPOSED, 'the resource server is closed');
      if (!Object.hasOwn(options.methods, method)) throw new BridgeError(BridgeErrorCode.UNKNOWN_METHOD, `unknown method ${JSON.stringify(method)}`);
      const handler = options.methods[method] as ResourceMethod;
      return handler(params, { rp, signal: lifetime.signal });
    }) as ResourceServer<Methods>['call'],
    onEvent: (listener) => events.on('event', listener),
    get connections() {
      return connections.size;
    },
    async close() {
      lifetime.abort();
      await closeWithin(
        [...connections.values()].map(({ ws }) => ({
          close: () => (ws.readyState === ReadyState.OPEN ? ws.close(CloseCode.GOING_AWAY, 'resource server closing') : ws.terminate()),
          terminate: () => ws.terminate(),
          onClosed: (cb: () => void) => (ws.readyState === ReadyState.CLOSED ? cb() : void ws.once('close', cb)),
        })),
        shutdownTimeoutMs,
      );
    },
  };
}
