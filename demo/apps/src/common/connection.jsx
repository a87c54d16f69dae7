/**
 * What every app shows about its connection: a status pill in the header and, while the
 * connection is down, a banner saying so (useConnectionState is tear-free: every component reads
 * the same state in one render).
 */
import { useConnectionState } from 'switchboard/react';
import { sse } from 'switchboard/sse';

const LABELS = {
  idle: 'not connected',
  connecting: 'connecting…',
  open: 'online',
  reconnecting: 'reconnecting…',
  closed: 'offline',
};

/**
 * Client options every app shares: reconnect attempts back off from 0.5 s up to 5 s (the client's
 * default ceiling is 30 s), so a demo whose server restarts comes back within seconds.
 */
export const CLIENT_OPTIONS = { reconnect: { maxDelayMs: 5_000 }, WebSocket: sse() };

/**
 * Which transport carries the page's connection: `'websocket'`, or `'sse'` when a proxy blocks
 * WebSockets and the client fell back to SSE + HTTP (docs/client.md, "SSE fallback"). One `sse()`
 * for the page, so the choice is remembered across reconnects and providers.
 */
export const transport = CLIENT_OPTIONS.WebSocket;

/**
 * A unique string (an idempotency key). `crypto.randomUUID` exists only in secure contexts
 * (https, localhost): a demo opened over the LAN at http://192.168.… falls back to random digits.
 */
export function newKey() {
  return typeof crypto.randomUUID === 'function' ? crypto.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
}

/** The WebSocket URL of the server that served the page. */
export function wsUrl() {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
}

/** The header's status pill: `#state[data-state]`. */
export function StatePill() {
  const { state, attempt } = useConnectionState();
  return (
    <span id="state" data-state={state} data-transport={state === 'open' ? transport.current : undefined} title={state === 'open' ? `connected over ${transport.current === 'sse' ? 'SSE + HTTP (WebSockets blocked)' : 'WebSocket'}` : undefined} role="status">
      {state === 'reconnecting' && attempt > 0 ? `${LABELS[state]} (attempt ${attempt})` : LABELS[state]}
    </span>
  );
}

/** The banner shown while the connection is down after having been up: `#banner[data-state]`. */
export function ConnectionBanner() {
  const { state, attempt, lastClose } = useConnectionState();
  if (state === 'reconnecting') {
    return (
      <div id="banner" data-state="reconnecting" role="alert">
        Connection lost — reconnecting{attempt > 0 ? ` (attempt ${attempt})` : ''}… Messages you send now are sent when it is back.
      </div>
    );
  }
  if (state === 'closed' && lastClose) {
    return (
      <div id="banner" data-state="closed" role="alert">
        Disconnected for good{lastClose.reason ? `: ${lastClose.reason}` : ''}. Reload the page to connect again.
      </div>
    );
  }
  return null;
}

/**
 * The header of every app: a link home, the title, the status pill and whatever `children` add.
 * `connected={false}` outside a provider (a sign-in form): the pill says "not connected", or
 * "offline" with `failed` (the last attempt to connect failed).
 */
export function Header({ title, connected = true, failed = false, children }) {
  return (
    <header className="bar">
      <a className="home" href="/" aria-label="All apps">
        ☰
      </a>
      <h1>{title}</h1>
      {connected ? (
        <StatePill />
      ) : (
        <span id="state" data-state={failed ? 'closed' : 'idle'} role="status">
          {LABELS[failed ? 'closed' : 'idle']}
        </span>
      )}
      {children}
    </header>
  );
}
