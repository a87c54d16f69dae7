/**
 * `createResourceHost`: the embedding page's side of the bridge. It listens to one iframe's
 * window, checks every request (capability, URL policy, headers, caps), opens and drives the
 * WebSockets the resource asked for, and relays their events in order — nothing more
 * (docs/bridge.md §2, §6).
 */
import { CloseCode } from '../protocol/close-codes.js';
import { BridgeError, BridgeErrorCode } from './errors.js';
import { credentialReference, checkHeaders, CREDENTIAL_NAME, referencedCredentials } from './headers.js';
import { resolveHostOptions, type ResolvedHostOptions, type ResourceHostOptions } from './host-options.js';
import { openDirect, openViaEgress, type Upstream, type UpstreamEvents } from './host-upstream.js';
import {
  BRIDGE_PROTOCOL_VERSION,
  BridgeMethod,
  WS_CAPABILITY,
  checkClose,
  checkProtocols,
  dataSize,
  isConnectionId,
  parseRequest,
  type BridgeData,
  type BridgeResponse,
  type ReadyResult,
  type RequestId,
  type WsEventMessage,
} from './messages.js';

/** The host of one resource. */
export interface ResourceHost {
  /** Connections of the resource that are opening or open. */
  readonly connections: number;
  /** Whether {@link dispose} ran (also when the iframe left the document). */
  readonly disposed: boolean;
  /**
   * Closes every connection (the guest gets `close` 1001 for each) and refuses later requests
   * with `DISPOSED`. Runs by itself when the iframe is removed from the document. Idempotent.
   */
  dispose(): void;
}

type Params = Record<string, unknown>;

/** How often the host checks, while it has connections, that its iframe is still in the document. */
const REMOVAL_POLL_MS = 1_000;

/**
 * One connection of the resource. Its requests take effect in the order they came: sends made
 * before the upstream opened wait in `queue`, and a close asked for before then waits behind them
 * (docs/bridge.md §3.3).
 */
interface Connection {
  upstream: Upstream | undefined;
  /** Whether the upstream opened (the queue is flushed then). */
  opened: boolean;
  /** Sends accepted before the upstream opened, in order. */
  queue: BridgeData[];
  /** Bytes in {@link queue}; they count against `limits.maxBufferedBytes` like unsent bytes. */
  queuedBytes: number;
  /** The close the guest asked for. Once set, the guest hears nothing of this connection but its `close`. */
  closing: { code: number; reason: string } | undefined;
  /** Set once the guest got its `close`: later upstream events are dropped. */
  done: boolean;
}

/** Thrown inside a handler to answer the request with an error. */
class Refusal extends BridgeError {}

/**
 * Starts bridging one resource iframe. The iframe should be `sandbox="allow-scripts"` (no
 * `allow-same-origin`): its window then cannot reach the host page except through `postMessage`.
 *
 * @example
 * import { createResourceHost } from 'switchboard/bridge';
 * const host = createResourceHost({
 *   iframe: document.querySelector('iframe#widget'),
 *   manifest: { id: 'com.example.dashboard', capabilities: ['network:ws'] },
 *   policy: { allow: ['wss://*.example.com'] },
 * });
 * // later: host.dispose(), or just remove the iframe
 */
export function createResourceHost(options: ResourceHostOptions): ResourceHost {
  const opts: ResolvedHostOptions = resolveHostOptions(options);
  const { iframe, limits } = opts;
  const view = iframe.ownerDocument.defaultView!;
  const connections = new Map<string, Connection>();
  const mayUseWs = opts.capabilities.includes(WS_CAPABILITY);
  let disposed = false;

  function post(msg: BridgeResponse | WsEventMessage, transfer: Transferable[] = []): void {
    // A sandboxed iframe's origin is opaque ("null"), which no targetOrigin other than '*' can
    // name. '*' is safe here because the message goes to this iframe's own window only, and the
    // iframe holds nothing but this resource's connections (connection ids are per host).
    iframe.contentWindow?.postMessage(msg, opts.targetOrigin, transfer);
  }

  const respond = (id: RequestId | null, result: unknown = null) => post({ type: 'rp:response', id, ok: true, result });
  const fail = (id: RequestId | null, code: string, message: string) => post({ type: 'rp:response', id, ok: false, error: { code, message } });

  /** Sends a connection's last events and forgets it: every connection ends with one `close`. */
  function finish(connectionId: string, code: number, reason: string, error?: { code: string; message: string }): void {
    const conn = connections.get(connectionId);
    if (conn?.done) return;
    if (conn) conn.done = true;
    connections.delete(connectionId);
    if (error) post({ type: 'rp:ws', connectionId, event: 'error', error: error.message, errorCode: error.code });
    post({ type: 'rp:ws', connectionId, event: 'close', code, reason });
  }

  function totalBuffered(): number {
    let n = 0;
    for (const c of connections.values()) n += (c.upstream?.bufferedAmount ?? 0) + c.queuedBytes;
    return n;
  }

  function eventsOf(connectionId: string, conn: Connection): UpstreamEvents {
    const live = () => connections.get(connectionId) === conn && !conn.done;
    // After the guest asked to close, only its `close` is told: no `open`, message or error.
    const heard = () => live() && conn.closing === undefined;
    return {
      open: (protocol) => {
        if (!live()) return;
        conn.opened = true;
        const upstream = conn.upstream!;
        // The guest's requests in the order it made them: queued sends, then its close.
        for (const data of conn.queue.splice(0)) upstream.send(data);
        conn.queuedBytes = 0;
        if (conn.closing) return upstream.close(conn.closing.code, conn.closing.reason);
        post({ type: 'rp:ws', connectionId, event: 'open', protocol });
      },
      message: (data) => {
        if (!heard()) return;
        const size = typeof data === 'string' ? dataSize(data, limits.maxMessageBytes) : data.byteLength;
        if (typeof size === 'number' && size > limits.maxMessageBytes) {
          // The upstream gets a normal close: a browser may only send 1000 or 3000-4999.
          conn.upstream?.close(CloseCode.NORMAL, 'message too big');
          return finish(connectionId, CloseCode.MESSAGE_TOO_BIG, 'message too big', {
            code: BridgeErrorCode.PAYLOAD_TOO_LARGE,
            message: `a message above ${limits.maxMessageBytes} bytes arrived; the connection was closed`,
          });
        }
        if (typeof data === 'string') post({ type: 'rp:ws', connectionId, event: 'message', data });
        // The buffer is ours alone (the socket made it): hand it over instead of copying it.
        else post({ type: 'rp:ws', connectionId, event: 'message', data }, [data]);
      },
      error: (code, message) => {
        if (!heard()) return;
        const dropped = conn.opened ? 0 : conn.queue.length;
        conn.queue = [];
        conn.queuedBytes = 0;
        // A connection that never opened reports its one error; the sends it held are dropped with it.
        if (dropped > 0) message += `; ${dropped} queued message${dropped === 1 ? ' was' : 's were'} dropped`;
        post({ type: 'rp:ws', connectionId, event: 'error', error: message, errorCode: code });
      },
      close: (code, reason) => {
        if (live()) finish(connectionId, code, reason);
      },
    };
  }

  function connect(id: RequestId, p: Params): void {
    const { connectionId } = p;
    if (!isConnectionId(connectionId)) throw new Refusal(BridgeErrorCode.BAD_REQUEST, 'connectionId must be a string of 1-128 characters');
    if (connections.has(connectionId)) throw new Refusal(BridgeErrorCode.BAD_REQUEST, `connection ${connectionId} is already in use`);
    // From here on the connection id is the guest's: a refusal also ends it with error + close,
    // so a guest that listens to rp:ws events only (the RightPlace SDK's raw protocol) is told too.
    const refuse = (code: string, message: string) => {
      fail(id, code, message);
      finish(connectionId, CloseCode.ABNORMAL, '', { code, message });
    };
    if (disposed) return refuse(BridgeErrorCode.DISPOSED, 'the host was disposed');
    if (!mayUseWs) return refuse(BridgeErrorCode.CAPABILITY_DENIED, `the manifest does not declare ${WS_CAPABILITY}`);
    const checked = opts.policy.check(p.url);
    if (!checked.ok) return refuse(checked.code, checked.message);
    const protocols = checkProtocols(p.protocols);
    if (typeof protocols === 'string') return refuse(BridgeErrorCode.BAD_REQUEST, protocols);
    let headers: Record<string, string> | undefined;
    if (p.headers !== undefined) {
      const h = checkHeaders(p.headers);
      if (!h.ok) return refuse(BridgeErrorCode.BAD_REQUEST, h.message);
      if (Object.keys(h.headers).length > 0) headers = h.headers;
    }
    if (headers) {
      if (!opts.egress) return refuse(BridgeErrorCode.EGRESS_REQUIRED, 'a browser cannot set WebSocket headers, and this host has no egress relay');
      const denied = referencedCredentials(headers).find((n) => !opts.credentials.has(n));
      if (denied !== undefined) return refuse(BridgeErrorCode.CREDENTIAL_DENIED, `credential ${denied} is not granted to this resource`);
    }
    if (connections.size >= limits.maxConnections) {
      return refuse(BridgeErrorCode.LIMIT_EXCEEDED, `at most ${limits.maxConnections} connections per resource`);
    }
    const conn: Connection = { upstream: undefined, opened: false, queue: [], queuedBytes: 0, closing: undefined, done: false };
    connections.set(connectionId, conn);
    const url = checked.url.href;
    const events = eventsOf(connectionId, conn);
    // Answer first: the guest learns the request was accepted before any event of the connection.
    respond(id, { connectionId, via: headers ? 'egress' : 'direct' });
    conn.upstream =
      headers && opts.egress
        ? openViaEgress(opts.WebSocket, opts.egress, {
            type: 'connect',
            url,
            headers,
            protocols,
            ...(opts.resourceId !== undefined ? { resource: opts.resourceId } : {}),
          }, events)
        : openDirect(opts.WebSocket, url, protocols, events);
  }

  function live(p: Params): { connectionId: string; conn: Connection } {
    const { connectionId } = p;
    if (!isConnectionId(connectionId)) throw new Refusal(BridgeErrorCode.BAD_REQUEST, 'connectionId must be a string of 1-128 characters');
    const conn = connections.get(connectionId);
    if (!conn?.upstream) throw new Refusal(BridgeErrorCode.NOT_CONNECTED, `no connection ${connectionId}`);
    return { connectionId, conn };
  }

  function send(p: Params): unknown {
    if (!mayUseWs) throw new Refusal(BridgeErrorCode.CAPABILITY_DENIED, `the manifest does not declare ${WS_CAPABILITY}`);
    const { connectionId, conn } = live(p);
    const size = dataSize(p.data, limits.maxMessageBytes);
    if (typeof size === 'string') throw new Refusal(BridgeErrorCode.BAD_REQUEST, size);
    const upstream = conn.upstream!;
    if (conn.closing || (conn.opened && !upstream.isOpen)) throw new Refusal(BridgeErrorCode.NOT_CONNECTED, `connection ${connectionId} is closing`);
    if (size > limits.maxMessageBytes) throw new Refusal(BridgeErrorCode.PAYLOAD_TOO_LARGE, `message of ${size} bytes; at most ${limits.maxMessageBytes}`);
    const buffered = totalBuffered();
    if (buffered + size > limits.maxBufferedBytes) {
      throw new Refusal(BridgeErrorCode.LIMIT_EXCEEDED, `${buffered} bytes are waiting to be sent; at most ${limits.maxBufferedBytes} per resource`);
    }
    if (conn.opened) {
      upstream.send(p.data as BridgeData);
      return { bufferedAmount: upstream.bufferedAmount };
    }
    // Not open yet: it goes out when the upstream opens, after the sends before it.
    conn.queue.push(p.data as BridgeData);
    conn.queuedBytes += size;
    return { bufferedAmount: conn.queuedBytes };
  }

  function close(p: Params): null {
    const { conn } = live(p);
    const invalid = checkClose(p.code, p.reason);
    if (invalid) throw new Refusal(BridgeErrorCode.BAD_REQUEST, invalid);
    if (conn.closing) return null;
    conn.closing = { code: (p.code as number | undefined) ?? CloseCode.NORMAL, reason: (p.reason as string | undefined) ?? '' };
    // Before open, the close waits for the upstream to open and the queued sends to go out. The
    // guest's `close` event follows when the upstream confirms (or fails).
    if (conn.opened) conn.upstream!.close(conn.closing.code, conn.closing.reason);
    return null;
  }

  function credential(p: Params): unknown {
    const { name } = p;
    if (typeof name !== 'string' || !CREDENTIAL_NAME.test(name)) throw new Refusal(BridgeErrorCode.BAD_REQUEST, 'name must be 1-64 characters of A-Z a-z 0-9 . _ -');
    if (!opts.egress) throw new Refusal(BridgeErrorCode.EGRESS_REQUIRED, 'credentials need an egress relay, and this host has none');
    if (!opts.credentials.has(name)) throw new Refusal(BridgeErrorCode.CREDENTIAL_DENIED, `credential ${name} is not granted to this resource`);
    // A reference, not the secret: only the egress server replaces it (headers.ts).
    return { value: credentialReference(name) };
  }

  function ready(): ReadyResult {
    return {
      version: BRIDGE_PROTOCOL_VERSION,
      capabilities: [...opts.capabilities],
      egress: opts.egress !== undefined,
      limits: { ...limits },
    };
  }

  function onMessage(event: MessageEvent): void {
    // The only check that holds for a sandboxed iframe: its origin is "null", which any other
    // sandboxed frame shares. The window object cannot be forged.
    if (event.source === null || event.source !== iframe.contentWindow) return;
    const parsed = parseRequest(event.data);
    if (parsed.kind === 'ignore') return;
    if (parsed.kind === 'bad') return fail(parsed.id, BridgeErrorCode.BAD_REQUEST, parsed.message);
    const { id, method, params = {} } = parsed.request;
    try {
      if (method === BridgeMethod.WS_CONNECT) return connect(id, params);
      if (disposed) throw new Refusal(BridgeErrorCode.DISPOSED, 'the host was disposed');
      if (method === BridgeMethod.READY) return respond(id, ready());
      if (method === BridgeMethod.WS_SEND) return respond(id, send(params));
      if (method === BridgeMethod.WS_CLOSE) return respond(id, close(params));
      if (method === BridgeMethod.CREDENTIALS_GET) return respond(id, credential(params));
      throw new Refusal(BridgeErrorCode.UNKNOWN_METHOD, `unknown method ${JSON.stringify(method)}`);
    } catch (err) {
      if (err instanceof Refusal) return fail(id, err.code, err.message);
      // A bug or a browser refusal (e.g. send on a socket that just closed): still an answer.
      console.error('[switchboard bridge] request failed', err);
      return fail(id, BridgeErrorCode.INTERNAL, 'the host failed to handle the request');
    }
  }

  function dispose(): void {
    if (disposed) return;
    disposed = true;
    for (const [connectionId, conn] of [...connections]) {
      conn.upstream?.close(CloseCode.NORMAL, 'host disposed');
      finish(connectionId, CloseCode.GOING_AWAY, 'host disposed');
    }
  }

  // Removing the iframe must close its sockets: they belong to the host page and would outlive it.
  // The observer sees removals in the document; an iframe inside a shadow root is removed without a
  // mutation there, so while sockets are open a slow poll of `isConnected` backs it up.
  const removed = () => {
    if (iframe.isConnected) return;
    dispose();
    observer.disconnect();
    view.clearInterval(poll);
    view.removeEventListener('message', onMessage);
  };
  const observer = new view.MutationObserver(removed);
  observer.observe(iframe.ownerDocument, { childList: true, subtree: true });
  const poll = view.setInterval(() => {
    if (connections.size > 0) removed();
  }, REMOVAL_POLL_MS);
  view.addEventListener('message', onMessage);

  return {
    get connections() {
      return connections.size;
    },
    get disposed() {
      return disposed;
    },
    dispose,
  };
}
