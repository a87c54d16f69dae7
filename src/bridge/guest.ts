/**
 * `createResourceClient`: the guest SDK, running inside the resource's iframe. It speaks the raw
 * protocol of messages.ts with the host in the parent window and offers the RightPlace SDK's API —
 * `rp.ready()`, `rp.ws.connect(url, { headers, protocols })`, `rp.credentials.get(name)` (docs/bridge.md §4).
 */
import { nonNegativeMs, positiveMs, withDefaults } from '../shared/options.js';
import { BridgeError, BridgeErrorCode } from './errors.js';
import { GuestConnection, type WsConnection } from './guest-connection.js';
import { BridgeMethod, checkTargetOrigin, isRequestId, type ReadyResult, type RequestId, type WsEventMessage } from './messages.js';

/** Options of `rp.ws.connect`, as in the RightPlace SDK. */
export interface ConnectOptions {
  /** Upgrade headers; need the host's egress relay (else the connection fails with `EGRESS_REQUIRED`). @default {} */
  headers?: Record<string, string>;
  /** Subprotocols to offer. @default [] */
  protocols?: string[];
}

/** Options of {@link createResourceClient}. */
export interface ResourceClientOptions {
  /** The window of the host. @default window.parent */
  target?: Window;
  /**
   * `targetOrigin` of requests. Requests carry no secret (credentials are references), so `'*'`
   * is fine; pass the host page's origin when it is known, to be sure only it receives them.
   * @default '*'
   */
  targetOrigin?: string;
  /** How long a request waits for the host's answer before it fails with `TIMEOUT`, in ms; 0 waits forever. @default 10000 */
  requestTimeoutMs?: number;
  /** How long `ready()` waits for a host before it fails with `TIMEOUT`, in ms. @default 10000 */
  readyTimeoutMs?: number;
  /** How often `ready()` asks again while no host answered (the host may start after the iframe), in ms. @default 100 */
  readyIntervalMs?: number;
}

/** The guest SDK. */
export interface ResourceClient {
  /** Resolves once the host answered (its capabilities and limits); rejects with `TIMEOUT` when there is none. */
  ready(): Promise<ReadyResult>;
  readonly ws: {
    /** Asks the host to open `url`. Returns at once; listen to `open` / `error` / `close`. */
    connect(url: string, options?: ConnectOptions): WsConnection;
  };
  readonly credentials: {
    /**
     * A reference to credential `name`, to put in a header value (`Bearer ${token}`). It is not the
     * secret: the egress server substitutes it, so the secret never reaches the iframe.
     */
    get(name: string): Promise<string>;
  };
  /** Sends any request of the raw protocol and resolves its result (rejects with a `BridgeError`). */
  request(method: string, params?: Record<string, unknown>): Promise<unknown>;
  /** Asks the host to close every connection, stops listening; pending requests fail with `DISPOSED`, connections close with 1006. */
  dispose(): void;
}

type Tunables = Required<Omit<ResourceClientOptions, 'target'>>;

/** The defaults, in one object. */
export const CLIENT_BRIDGE_DEFAULTS = {
  targetOrigin: '*',
  requestTimeoutMs: 10_000,
  readyTimeoutMs: 10_000,
  readyIntervalMs: 100,
} as const satisfies Tunables;

/** Merges options with {@link CLIENT_BRIDGE_DEFAULTS} (`undefined` keeps a default) and checks them. */
function resolveTunables(options: ResourceClientOptions): Tunables {
  const { target: _target, ...given } = options;
  const o = withDefaults<Tunables>(CLIENT_BRIDGE_DEFAULTS, given);
  return {
    targetOrigin: checkTargetOrigin(o.targetOrigin),
    requestTimeoutMs: nonNegativeMs('requestTimeoutMs', o.requestTimeoutMs),
    readyTimeoutMs: positiveMs('readyTimeoutMs', o.readyTimeoutMs),
    readyIntervalMs: positiveMs('readyIntervalMs', o.readyIntervalMs),
  };
}

interface Pending {
  method: string;
  resolve(v: unknown): void;
  reject(e: BridgeError): void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

function randomTag(): string {
  return Math.random().toString(36).slice(2, 10);
}

/**
 * Creates the guest SDK. One per iframe is usual; several coexist (ids are prefixed per client).
 *
 * @example
 * import { createResourceClient } from 'switchboard/bridge';
 * const rp = createResourceClient();
 * await rp.ready();
 * const ws = rp.ws.connect('wss://feed.example.com/prices');
 * ws.on('open', () => ws.send('subscribe'));
 * ws.on('message', (data) => render(data));
 * ws.on('error', (message, err) => console.warn(err.code, message));
 */
export function createResourceClient(options: ResourceClientOptions = {}): ResourceClient {
  const o = resolveTunables(options ?? {});
  const self = globalThis as unknown as Window;
  const target = options.target ?? self.parent;
  if (!target || typeof target.postMessage !== 'function') throw new TypeError('no host window: pass options.target');
  const tag = randomTag();
  const pending = new Map<RequestId, Pending>();
  const connections = new Map<string, GuestConnection>();
  let seq = 0;
  let readyPromise: Promise<ReadyResult> | undefined;
  let disposed = false;

  function post(id: string, method: string, params?: Record<string, unknown>): void {
    target.postMessage({ type: 'rp:request', id, method, ...(params ? { params } : {}) }, o.targetOrigin);
  }

  /** Sends one request now; the answer settles it, or `timeoutMs` (0 = never). */
  function send(method: string, params: Record<string, unknown> | undefined, timeoutMs: number): Promise<unknown> {
    if (disposed) return Promise.reject(new BridgeError(BridgeErrorCode.DISPOSED, 'the client was disposed'));
    const id = `${tag}-${++seq}`;
    return new Promise<unknown>((resolve, reject) => {
      const timer =
        timeoutMs > 0
          ? setTimeout(() => {
              pending.delete(id);
              reject(new BridgeError(BridgeErrorCode.TIMEOUT, `the host did not answer ${method} within ${timeoutMs} ms`));
            }, timeoutMs)
          : undefined;
      pending.set(id, { method, resolve, reject, timer });
      try {
        post(id, method, params);
      } catch (err) {
        // DataCloneError: something in params cannot cross postMessage (a function, a DOM node…).
        clearTimeout(timer);
        pending.delete(id);
        reject(new BridgeError(BridgeErrorCode.BAD_REQUEST, err instanceof Error ? err.message : 'cannot post the request'));
      }
    });
  }

  function ready(): Promise<ReadyResult> {
    readyPromise ??= new Promise<ReadyResult>((resolve, reject) => {
      // The host may not listen yet (it can be created after the iframe loads): ask again until
      // one answer comes. Every attempt shares the one outcome.
      let done = false;
      const finish = (f: () => void) => {
        if (done) return;
        done = true;
        clearInterval(again);
        clearTimeout(giveUp);
        // The other attempts are moot: drop them (a late answer to one is then ignored).
        for (const [id, p] of pending) {
          if (p.method !== BridgeMethod.READY) continue;
          clearTimeout(p.timer);
          pending.delete(id);
        }
        f();
      };
      const ask = () => {
        send(BridgeMethod.READY, undefined, o.readyTimeoutMs).then(
          (r) => finish(() => resolve(r as ReadyResult)),
          (err: BridgeError) => {
            if (err.code !== BridgeErrorCode.TIMEOUT) finish(() => reject(err));
          },
        );
      };
      const again = setInterval(ask, o.readyIntervalMs);
      const giveUp = setTimeout(
        () =>
          finish(() => {
            // A later ready() asks again: the host may still come.
            readyPromise = undefined;
            reject(new BridgeError(BridgeErrorCode.TIMEOUT, `no bridge host answered within ${o.readyTimeoutMs} ms`));
          }),
        o.readyTimeoutMs,
      );
      ask();
    });
    return readyPromise;
  }

  /** A request after `ready()`: the host surely listens by then. */
  const request = (method: string, params?: Record<string, unknown>) => ready().then(() => send(method, params, o.requestTimeoutMs));

  function onMessage(event: MessageEvent): void {
    // Only the host's window may speak for the host; another frame could forge events otherwise.
    if (event.source !== target) return;
    const d = event.data as { type?: unknown; id?: unknown; connectionId?: unknown } | null;
    if (typeof d !== 'object' || d === null) return;
    if (d.type === 'rp:response' && isRequestId(d.id)) {
      const p = pending.get(d.id);
      if (!p) return;
      pending.delete(d.id);
      clearTimeout(p.timer);
      const r = d as { ok?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown } };
      if (r.ok === true) p.resolve(r.result);
      else p.reject(new BridgeError(String(r.error?.code ?? BridgeErrorCode.INTERNAL), String(r.error?.message ?? 'request failed')));
    } else if (d.type === 'rp:ws' && typeof d.connectionId === 'string') {
      connections.get(d.connectionId)?.receive(d as WsEventMessage);
    }
  }
  self.addEventListener('message', onMessage);

  const transport = { request, forget: (id: string) => void connections.delete(id) };

  return {
    ready,
    ws: {
      connect(url, options = {}) {
        const conn = new GuestConnection(`${tag}-ws-${++seq}`, url, transport);
        connections.set(conn.id, conn);
        const params: Record<string, unknown> = { connectionId: conn.id, url };
        if (options.headers !== undefined) params.headers = options.headers;
        if (options.protocols !== undefined) params.protocols = options.protocols;
        // A refusal arrives twice — as the answer and as error + close events — and the answer
        // alone is enough: `fail` ends the connection once and ignores the events.
        request(BridgeMethod.WS_CONNECT, params).catch((err: BridgeError) => conn.fail(err));
        return conn;
      },
    },
    credentials: {
      get: async (name) => {
        const r = (await request(BridgeMethod.CREDENTIALS_GET, { name })) as { value?: unknown } | null;
        if (typeof r?.value !== 'string') throw new BridgeError(BridgeErrorCode.INTERNAL, 'the host answered without a value');
        return r.value;
      },
    },
    request,
    dispose() {
      if (disposed) return;
      disposed = true;
      self.removeEventListener('message', onMessage);
      // Fire and forget: nobody is left to hear the answers.
      for (const c of connections.values()) post(`${tag}-${++seq}`, BridgeMethod.WS_CLOSE, { connectionId: c.id });
      const gone = new BridgeError(BridgeErrorCode.DISPOSED, 'the client was disposed');
      for (const p of pending.values()) {
        clearTimeout(p.timer);
        p.reject(gone);
      }
      pending.clear();
      for (const c of [...connections.values()]) c.fail(gone);
    },
  };
}
