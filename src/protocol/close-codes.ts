/**
 * Every WebSocket close code Switchboard sends or interprets, in one table.
 * RFC 6455 §7.4.1 codes for protocol faults; 4000–4499 ask the client to reconnect,
 * 4500–4999 ask it to stay away. The client's reconnect decision reads {@link shouldReconnect}.
 * See docs/protocol.md §5.
 */
import * as codes from './close-code-values.js';

export const CloseCode = {
  NORMAL: codes.NORMAL,
  GOING_AWAY: codes.GOING_AWAY,
  PROTOCOL_ERROR: codes.PROTOCOL_ERROR,
  UNSUPPORTED_DATA: codes.UNSUPPORTED_DATA,
  ABNORMAL: codes.ABNORMAL,
  INVALID_PAYLOAD: codes.INVALID_PAYLOAD,
  POLICY_VIOLATION: codes.POLICY_VIOLATION,
  MESSAGE_TOO_BIG: codes.MESSAGE_TOO_BIG,
  INTERNAL_ERROR: codes.INTERNAL_ERROR,
  RETRY_MIN: codes.RETRY_MIN,
  SLOW_CONSUMER: codes.SLOW_CONSUMER,
  MOVED: codes.MOVED,
  TOKEN_EXPIRED: codes.TOKEN_EXPIRED,
  AUTH_TIMEOUT: codes.AUTH_TIMEOUT,
  FINAL_MIN: codes.FINAL_MIN,
  UNAUTHORIZED: codes.UNAUTHORIZED,
  KICKED: codes.KICKED,
  FINAL_MAX: codes.FINAL_MAX,
} as const;

/**
 * Whether a client should reconnect after the connection closed with `code`.
 * Only a normal close (which the client itself initiated) and the final band stop it.
 */
export function shouldReconnect(code: number): boolean {
  // The constants, not the table: the browser client bundles this function without the table.
  if (code === codes.NORMAL) return false;
  if (code >= codes.FINAL_MIN && code <= codes.FINAL_MAX) return false;
  return true;
}

/**
 * Close codes the bridge and the relays name besides those of {@link CloseCode}: the RFC 6455
 * §7.4.1 codes that are never sent in a close frame, and the bounds of the ranges below.
 */
export const RfcCloseCode = {
  /** Reserved by RFC 6455; never sent. */
  RESERVED: 1004,
  /** The close frame carried no code. Never sent on the wire. */
  NO_STATUS: 1005,
  /** The TLS handshake failed. Never sent on the wire. */
  TLS_HANDSHAKE: 1015,
  /** Last code of the RFC 6455 band a peer may send (`ws` accepts 1000–1014 but 1004–1006). */
  RFC_MAX: 1014,
  /** First code of the band registered with IANA for libraries and frameworks (3000–3999). */
  REGISTERED_MIN: codes.REGISTERED_MIN,
} as const;

/**
 * Whether an application may pass `code` to `WebSocket.close` (RFC 6455 §7.4; WHATWG WebSockets):
 * 1000, or an integer in 3000–4999. Every place that takes a close code from a user checks it here.
 */
export function isSendableCloseCode(code: unknown): code is number {
  return (
    typeof code === 'number' &&
    Number.isInteger(code) &&
    (code === codes.NORMAL || (code >= codes.REGISTERED_MIN && code <= codes.FINAL_MAX))
  );
}

/** `WebSocket.readyState` values (WHATWG WebSockets, and the `ws` package), by name. */
export const ReadyState = {
  CONNECTING: 0,
  OPEN: 1,
  CLOSING: 2,
  CLOSED: 3,
} as const;
