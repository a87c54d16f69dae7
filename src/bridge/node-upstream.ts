/**
 * Node-side upstream sockets on `ws`, shared by the egress relay and the backend SDK: opening one
 * with headers and bounds, waiting for it to open, copying messages with backpressure, and passing
 * a close on with the same code. Node only.
 */
import WebSocket from 'ws';
import { CloseCode, ReadyState, RfcCloseCode } from '../protocol/close-codes.js';
import { isTlsErrorCode, type ClientTlsOptions } from '../shared/tls.js';
import { BridgeError, BridgeErrorCode } from './errors.js';

/** What an upstream connection is opened with (everything already checked). */
export interface UpstreamRequest {
  url: string;
  headers: Record<string, string>;
  protocols: string[];
  /** Largest message accepted from the upstream; a larger one closes it with 1009. */
  maxPayload: number;
  /** How long the upstream's handshake may take, in ms. */
  handshakeTimeoutMs: number;
  /** How a `wss://` upstream is verified; the system's CAs when absent. */
  tls?: ClientTlsOptions | undefined;
}

/**
 * Opens an upstream WebSocket. Redirects are not followed (a redirect could leave the allowlist),
 * and compression is off (memory per connection; a relay gains nothing from it).
 */
export function openUpstream(r: UpstreamRequest): WebSocket {
  return new WebSocket(r.url, r.protocols, {
    headers: r.headers,
    maxPayload: r.maxPayload,
    handshakeTimeout: r.handshakeTimeoutMs,
    followRedirects: false,
    perMessageDeflate: false,
    // Node takes any Uint8Array where its types say Buffer.
    ...(r.tls as WebSocket.ClientOptions | undefined),
  });
}

/**
 * Resolves once `ws` is open; rejects with `UPSTREAM_FAILED` saying why it is not (an HTTP status,
 * a timeout, an unreachable host). The message never contains header values.
 *
 * `onOpen` runs inside the `open` event itself: a message that arrived with the handshake is
 * emitted on a `process.nextTick`, before any promise continuation, so listeners attached after
 * `await` could miss it.
 */
export function upstreamOpened(ws: WebSocket, onOpen: () => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const fail = (message: string) => {
      cleanup();
      ws.terminate();
      reject(new BridgeError(BridgeErrorCode.UPSTREAM_FAILED, message));
    };
    const opened = () => {
      cleanup();
      try {
        onOpen();
      } catch (err) {
        ws.terminate();
        return reject(err);
      }
      resolve();
    };
    const onResponse = (_req: unknown, res: { statusCode?: number; resume(): void }) => {
      res.resume();
      fail(`the upstream answered the upgrade with HTTP ${res.statusCode ?? 0}`);
    };
    const onError = (err: Error & { code?: string }) =>
      fail(
        err.message === 'Opening handshake has timed out'
          ? 'the upstream handshake timed out'
          : isTlsErrorCode(err.code)
            ? `the upstream's TLS handshake failed (${err.code})`
            : `the upstream is unreachable${err.code ? ` (${err.code})` : ''}`,
      );
    const onClose = () => fail('the upstream closed during the handshake');
    const cleanup = () => {
      ws.off('open', opened);
      ws.off('unexpected-response', onResponse);
      ws.off('error', onError);
      ws.off('close', onClose);
      // Later errors are reported through 'close'; an 'error' without listener would crash.
      ws.on('error', () => {});
    };
    ws.on('open', opened);
    ws.on('unexpected-response', onResponse);
    ws.on('error', onError);
    ws.on('close', onClose);
  });
}

/**
 * Copies every message of `from` to `to`, text as text and binary as binary. When more than
 * `highWaterMark` bytes are written but not yet flushed, `from` is paused until half of them are:
 * a fast sender cannot make the relay buffer without bound for a slow receiver.
 */
export function pipe(from: WebSocket, to: WebSocket, highWaterMark: number): void {
  let inFlight = 0;
  let paused = false;
  from.on('message', (data: Buffer, isBinary: boolean) => {
    if (to.readyState !== ReadyState.OPEN) return;
    const size = data.length;
    inFlight += size;
    to.send(data, { binary: isBinary }, () => {
      inFlight -= size;
      if (paused && inFlight <= highWaterMark / 2) {
        paused = false;
        from.resume();
      }
    });
    if (!paused && inFlight > highWaterMark) {
      paused = true;
      from.pause();
    }
  });
}

/**
 * Whether `ws` may pass on `code` in a close frame (RFC 6455 §7.4, as `ws` checks it). Wider than
 * what an application may choose (`isSendableCloseCode`): a relay repeats the peer's RFC codes.
 */
function relayable(code: number): boolean {
  const rfc = code >= CloseCode.NORMAL && code <= RfcCloseCode.RFC_MAX && code !== RfcCloseCode.RESERVED && code !== RfcCloseCode.NO_STATUS && code !== CloseCode.ABNORMAL;
  return rfc || (code >= RfcCloseCode.REGISTERED_MIN && code <= CloseCode.FINAL_MAX);
}

/**
 * Closes `ws` the way its peer was closed: the same code and reason; no code for 1005 (none was
 * given); a dropped TCP connection for 1006 (none was received) — so the far end sees what the
 * near end saw.
 */
export function closeLike(ws: WebSocket, code: number, reason: Buffer | string): void {
  if (ws.readyState === ReadyState.CLOSED) return;
  if (code === CloseCode.ABNORMAL || (ws.readyState !== ReadyState.OPEN && ws.readyState !== ReadyState.CLOSING)) return ws.terminate();
  if (ws.readyState === ReadyState.CLOSING) return;
  if (code === RfcCloseCode.NO_STATUS) return ws.close();
  if (!relayable(code)) return ws.close(CloseCode.INTERNAL_ERROR);
  ws.close(code, reason);
}
