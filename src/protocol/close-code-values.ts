/**
 * Each close code of {@link CloseCode} as its own constant (and the first code of the registered
 * band). Modules of the browser client import this file as a namespace
 * (`import * as CloseCode from './close-code-values.js'`), so a bundler inlines the numbers they use
 * instead of keeping the whole table (docs/performance.md, "Bundle size").
 */
/** The client called `close()`. */
export const NORMAL = 1000;
/** The server is shutting down. */
export const GOING_AWAY = 1001;
/** A frame broke the protocol's structure (not an object, no `t`, no valid `id`). */
export const PROTOCOL_ERROR = 1002;
/** A binary message where the codec expects text. */
export const UNSUPPORTED_DATA = 1003;
/** No close frame was received (network loss, heartbeat timeout). Never sent on the wire. */
export const ABNORMAL = 1006;
/** A text message that is not valid JSON or not UTF-8. */
export const INVALID_PAYLOAD = 1007;
/** Reserved for sustained abuse such as rate-limit floods. */
export const POLICY_VIOLATION = 1008;
/** A message above `limits.maxPayload`. */
export const MESSAGE_TOO_BIG = 1009;
/** The server failed unexpectedly. */
export const INTERNAL_ERROR = 1011;
/** First code of the band after which the client reconnects. */
export const RETRY_MIN = 4000;
/** The peer stopped reading: its outbound buffer stayed over `limits.sendBufferBytes` for the grace period, or passed the hard cap. */
export const SLOW_CONSUMER = 4001;
/** The application asked the client to reconnect, possibly to another node (`server.kick` with `reconnect: true`, draining). */
export const MOVED = 4002;
/** No fresh token arrived within the refresh deadline; reconnect with a new one. */
export const TOKEN_EXPIRED = 4401;
/** First-message authentication: no `auth` frame in time, or another frame first. */
export const AUTH_TIMEOUT = 4408;
/** First code of the band after which the client does not reconnect. */
export const FINAL_MIN = 4500;
/** First-message authentication refused the token (final unless the provider yields another). */
export const UNAUTHORIZED = 4501;
/** The application closed the connection (`server.kick`); the client does not reconnect. */
export const KICKED = 4502;
/** Last application code. */
export const FINAL_MAX = 4999;
/** First code of the band registered with IANA for libraries and frameworks (3000–3999). */
export const REGISTERED_MIN = 3000;
