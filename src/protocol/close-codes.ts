/**
 * Every WebSocket close code Switchboard sends or interprets, in one table.
 * RFC 6455 §7.4.1 codes for protocol faults; 4000–4499 ask the client to reconnect,
 * 4500–4999 ask it to stay away. The client's reconnect decision reads {@link shouldReconnect}.
 * See docs/protocol.md §5.
 */
export const CloseCode = {
  /** The client called `close()`. */
  NORMAL: 1000,
  /** The server is shutting down. */
  GOING_AWAY: 1001,
  /** A frame broke the protocol's structure (not an object, no `t`, no valid `id`). */
  PROTOCOL_ERROR: 1002,
  /** A binary message where the codec expects text. */
  UNSUPPORTED_DATA: 1003,
  /** No close frame was received (network loss, heartbeat timeout). Never sent on the wire. */
  ABNORMAL: 1006,
  /** A text message that is not valid JSON or not UTF-8. */
  INVALID_PAYLOAD: 1007,
  /** Reserved for sustained abuse such as rate-limit floods. */
  POLICY_VIOLATION: 1008,
  /** A message above `limits.maxPayload`. */
  MESSAGE_TOO_BIG: 1009,
  /** The server failed unexpectedly. */
  INTERNAL_ERROR: 1011,
  /** First code of the band after which the client reconnects. */
  RETRY_MIN: 4000,
  /** The peer stopped reading: its outbound buffer stayed over `limits.sendBufferBytes` for the grace period, or passed the hard cap. */
  SLOW_CONSUMER: 4001,
  /** No fresh token arrived within the refresh deadline; reconnect with a new one. */
  TOKEN_EXPIRED: 4401,
  /** First-message authentication: no `auth` frame in time, or another frame first. */
  AUTH_TIMEOUT: 4408,
  /** First code of the band after which the client does not reconnect. */
  FINAL_MIN: 4500,
  /** First-message authentication refused the token (final unless the provider yields another). */
  UNAUTHORIZED: 4501,
  /** Last application code. */
  FINAL_MAX: 4999,
} as const;

/**
 * Whether a client should reconnect after the connection closed with `code`.
 * Only a normal close (which the client itself initiated) and the final band stop it.
 */
export function shouldReconnect(code: number): boolean {
  if (code === CloseCode.NORMAL) return false;
  if (code >= CloseCode.FINAL_MIN && code <= CloseCode.FINAL_MAX) return false;
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
  REGISTERED_MIN: 3000,
} as const;

/**
 * Whether an application may pass `code` to `WebSocket.close` (RFC 6455 §7.4; WHATWG WebSockets):
 * 1000, or an integer in 3000–4999. Every place that takes a close code from a user checks it here.
 */
export function isSendableCloseCode(code: unknown): code is number {
  return (
    typeof code === 'number' &&
    Number.isInteger(code) &&
    (code === CloseCode.NORMAL || (code >= RfcCloseCode.REGISTERED_MIN && code <= CloseCode.FINAL_MAX))
  );
}

/** `WebSocket.readyState` values (WHATWG WebSockets, and the `ws` package), by name. */
export const ReadyState = {
  CONNECTING: 0,
  OPEN: 1,
  CLOSING: 2,
  CLOSED: 3,
} as const;
