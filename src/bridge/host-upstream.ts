/**
 * The host's two ways to reach an upstream — a WebSocket of the page itself, or one through the
 * egress relay (for headers) — behind one small interface, so the host's request handling does not
 * care which one it holds. Browser-side; nothing here knows about guests or postMessage.
 */
import { CloseCode, ReadyState } from '../protocol/close-codes.js';
import { encodeTokenProtocol } from '../protocol/subprotocol.js';
import { BridgeErrorCode } from './errors.js';
import { EGRESS_SUBPROTOCOL, parseEgressReply, type EgressConnect } from './egress-protocol.js';
import type { BrowserWebSocketConstructor, EgressTarget } from './host-options.js';
import type { BridgeData } from './messages.js';

/**
 * What an upstream reports. Sequence: `open`? `message`* `error`? `close` — `close` exactly once,
 * and a connection that never opened reports an `error` before it.
 */
export interface UpstreamEvents {
  open(protocol: string): void;
  message(data: string | ArrayBuffer): void;
  error(code: string, message: string): void;
  close(code: number, reason: string): void;
}

/** One upstream connection as the host drives it. */
export interface Upstream {
  /** Whether it opened and has not started closing. */
  readonly isOpen: boolean;
  /** Bytes queued and not yet sent. */
  readonly bufferedAmount: number;
  send(data: BridgeData): void;
  /** Closes with `code` (1000 or 3000–4999) and `reason`; later events are still reported. */
  close(code?: number, reason?: string): void;
}

/**
 * Wires a WebSocket's events to `events` and wraps it. `opening` decides when the connection
 * counts as open — at the socket's `open` (direct) or at the relay's `open` reply (egress) — by
 * returning the upstream's subprotocol, or `false` while it is not open yet.
 */
function wrap(ws: WebSocket, events: UpstreamEvents, opening: (ws: WebSocket, e: MessageEvent | undefined) => string | false): Upstream {
  ws.binaryType = 'arraybuffer';
  let opened = false;
  let erred = false;
  const check = (e: MessageEvent | undefined) => {
    const protocol = opening(ws, e);
    if (protocol === false) return;
    opened = true;
    events.open(protocol);
  };
  ws.onopen = () => check(undefined);
  ws.onmessage = (e: MessageEvent) => {
    if (!opened) return check(e);
    events.message(e.data as string | ArrayBuffer);
  };
  ws.onerror = () => {
    if (erred) return;
    erred = true;
    // Browsers give no detail about a WebSocket error (WHATWG WebSockets: nothing that would let a
    // page probe the network), so neither can we.
    events.error(BridgeErrorCode.UPSTREAM_FAILED, opened ? 'the connection failed' : 'the connection could not be opened');
  };
  ws.onclose = (e: CloseEvent) => {
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    if (!opened && !erred) events.error(BridgeErrorCode.UPSTREAM_FAILED, 'the connection could not be opened');
    events.close(opened ? e.code : CloseCode.ABNORMAL, opened ? e.reason : '');
  };
  return {
    get isOpen() {
      return opened && ws.readyState === ReadyState.OPEN;
    },
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    send: (data) => ws.send(data as string | ArrayBuffer),
    close: (code = CloseCode.NORMAL, reason = '') => ws.close(code, reason),
  };
}

/** Opens `url` with the page's own WebSocket. */
export function openDirect(WS: BrowserWebSocketConstructor, url: string, protocols: string[], events: UpstreamEvents): Upstream {
  let ws: WebSocket;
  try {
    ws = new WS(url, protocols);
  } catch (err) {
    // The URL and protocols were checked before; a throw here is a browser-specific refusal
    // (e.g. a blocked port). It is reported like a failed connection, asynchronously as one.
    const message = err instanceof Error ? err.message : 'the WebSocket constructor threw';
    queueMicrotask(() => {
      events.error(BridgeErrorCode.UPSTREAM_FAILED, message);
      events.close(CloseCode.ABNORMAL, '');
    });
    return { isOpen: false, bufferedAmount: 0, send() {}, close() {} };
  }
  return wrap(ws, events, (sock, e) => (e === undefined ? sock.protocol : false));
}

/**
 * Opens the connection through the egress relay (egress-protocol.ts). The relay's first message
 * decides: `open` reports the upstream's protocol, `error` carries the relay's code.
 */
export function openViaEgress(
  WS: BrowserWebSocketConstructor,
  egress: EgressTarget,
  request: EgressConnect,
  events: UpstreamEvents,
): Upstream {
  let inner: Upstream | undefined;
  let closedEarly: { code: number; reason: string } | undefined;
  let relayError: { code: string; message: string } | undefined;
  // Errors are reported by the relay's reply when it sent one; otherwise the relay itself failed.
  const relayed: UpstreamEvents = {
    open: events.open,
    message: events.message,
    error: (_code, message) => {
      if (!relayError) relayError = { code: BridgeErrorCode.EGRESS_FAILED, message: `egress relay: ${message}` };
    },
    close: (code, reason) => {
      if (relayError) events.error(relayError.code, relayError.message);
      events.close(code, reason);
    },
  };
  const start = (token: string | undefined) => {
    if (closedEarly) {
      events.error(BridgeErrorCode.UPSTREAM_FAILED, 'closed before it opened');
      return events.close(CloseCode.ABNORMAL, '');
    }
    let ws: WebSocket;
    try {
      ws = new WS(egress.url, token === undefined ? [EGRESS_SUBPROTOCOL] : [EGRESS_SUBPROTOCOL, encodeTokenProtocol(token)]);
    } catch (err) {
      events.error(BridgeErrorCode.EGRESS_FAILED, err instanceof Error ? err.message : 'cannot open the egress relay');
      return events.close(CloseCode.ABNORMAL, '');
    }
    inner = wrap(ws, relayed, (sock, e) => {
      if (e === undefined) {
        if (sock.protocol !== EGRESS_SUBPROTOCOL) {
          relayError = { code: BridgeErrorCode.EGRESS_FAILED, message: 'the egress relay did not accept its subprotocol' };
          sock.close(CloseCode.NORMAL);
        } else {
          sock.send(JSON.stringify(request));
        }
        return false;
      }
      const reply = parseEgressReply(e.data);
      if (reply?.type === 'open') return reply.protocol;
      relayError = reply ? { code: reply.code, message: reply.message } : { code: BridgeErrorCode.EGRESS_FAILED, message: 'the egress relay broke its protocol' };
      sock.close(CloseCode.NORMAL);
      return false;
    });
  };
  const token = egress.token;
  if (typeof token === 'function') {
    Promise.resolve()
      .then(token)
      .then(
        (t) => start(t),
        () => {
          events.error(BridgeErrorCode.EGRESS_FAILED, 'the egress token provider failed');
          events.close(CloseCode.ABNORMAL, '');
        },
      );
  } else {
    start(token);
  }
  return {
    get isOpen() {
      return inner?.isOpen ?? false;
    },
    get bufferedAmount() {
      return inner?.bufferedAmount ?? 0;
    },
    send: (data) => inner?.send(data),
    close: (code, reason) => {
      if (inner) inner.close(code, reason);
      else closedEarly = { code: code ?? CloseCode.NORMAL, reason: reason ?? '' };
    },
  };
}
