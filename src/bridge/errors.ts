/**
 * The bridge's error codes, in one table (docs/bridge.md §4), and its error type. Every refusal
 * reaches the guest with one of these codes — in an `rp:response`, and for a refused or failed
 * connection also in an `rp:ws` `error` event — so nothing ever hangs silently.
 */
import { ErrorCode } from '../protocol/error-codes.js';
import { SwitchboardError } from '../protocol/errors.js';

/**
 * Every code the bridge sends or throws. Stable strings: branch on them, never on messages. The
 * codes that mean the same as in the Switchboard protocol are `ErrorCode`'s own values (one
 * spelling for both); the rest exist only in the bridge.
 */
export const BridgeErrorCode = {
  /** The resource's manifest does not declare the capability the request needs (`network:ws`). */
  CAPABILITY_DENIED: 'CAPABILITY_DENIED',
  /** The URL is malformed for a WebSocket, or the host's (or egress server's) policy does not allow it. */
  URL_NOT_ALLOWED: 'URL_NOT_ALLOWED',
  /** A cap was reached: connections per resource, buffered bytes per resource, egress capacity. */
  LIMIT_EXCEEDED: ErrorCode.LIMIT_EXCEEDED,
  /** One message is larger than `limits.maxMessageBytes` (in either direction). */
  PAYLOAD_TOO_LARGE: ErrorCode.PAYLOAD_TOO_LARGE,
  /** The request needs `headers` or a credential, and the host has no egress relay configured. */
  EGRESS_REQUIRED: 'EGRESS_REQUIRED',
  /** A credential that the host does not grant to this resource, or that the egress server refuses for this URL. */
  CREDENTIAL_DENIED: 'CREDENTIAL_DENIED',
  /** `ws.send` / `ws.close` for a connection that is unknown, not open yet, or already closed. */
  NOT_CONNECTED: 'NOT_CONNECTED',
  /** A malformed request: missing or invalid fields, a reused `connectionId`, an invalid header or close code. */
  BAD_REQUEST: ErrorCode.BAD_REQUEST,
  /** A `method` the bridge does not implement. */
  UNKNOWN_METHOD: 'UNKNOWN_METHOD',
  /** The host was disposed (or its iframe removed); nothing more is accepted. */
  DISPOSED: 'DISPOSED',
  /** The upstream WebSocket failed: unreachable, handshake refused, or an error on an open connection. */
  UPSTREAM_FAILED: 'UPSTREAM_FAILED',
  /** The egress relay could not be reached, refused the host, or broke its protocol. */
  EGRESS_FAILED: 'EGRESS_FAILED',
  /** The host failed to handle a request (a bug, or the browser refused an operation); details stay in the host page's console. */
  INTERNAL: ErrorCode.INTERNAL,
  /** Guest SDK: the host did not answer in time (no host on the page, or a host that is not a Switchboard bridge). */
  TIMEOUT: ErrorCode.TIMEOUT,
  /** Guest SDK: the application closed the connection before it opened (`opened` rejects with it; never an `error` event). */
  ABORTED: ErrorCode.ABORTED,
} as const;

/** One of the bridge's codes. */
export type BridgeErrorCodeName = (typeof BridgeErrorCode)[keyof typeof BridgeErrorCode];

/** Codes after which connecting again to the same URL cannot succeed; `connectWithRetry` stops on them. */
export const FINAL_CODES: ReadonlySet<string> = new Set<string>([
  BridgeErrorCode.CAPABILITY_DENIED,
  BridgeErrorCode.URL_NOT_ALLOWED,
  BridgeErrorCode.EGRESS_REQUIRED,
  BridgeErrorCode.CREDENTIAL_DENIED,
  BridgeErrorCode.BAD_REQUEST,
  BridgeErrorCode.UNKNOWN_METHOD,
  BridgeErrorCode.DISPOSED,
]);

/** The error of the bridge: a `SwitchboardError` whose `code` is one of {@link BridgeErrorCode}. */
export class BridgeError extends SwitchboardError {
  constructor(code: string, message: string, details?: unknown) {
    super(code, message, details);
    this.name = 'BridgeError';
  }
}
