/**
 * `switchboard/bridge`: WebSockets for sandboxed iframes, opened and managed by the embedding page
 * (docs/bridge.md). Browser-safe: the guest SDK, the host, the message types and codes.
 * The Node side (backend SDK, egress relay) is `switchboard/bridge/server`.
 *
 * @example
 * // In the host page
 * import { createResourceHost } from 'switchboard/bridge';
 * createResourceHost({ iframe, manifest, policy: { allow: ['wss://*.example.com'] } });
 *
 * // In the iframe
 * import { createResourceClient } from 'switchboard/bridge';
 * const rp = createResourceClient();
 * await rp.ready();
 * const ws = rp.ws.connect('wss://echo.example.com');
 */
export { createResourceClient, CLIENT_BRIDGE_DEFAULTS, type ResourceClient, type ResourceClientOptions, type ConnectOptions } from './guest.js';
export type { WsConnection, WsConnectionEvents, WsConnectionState } from './guest-connection.js';
export { connectWithRetry, retryDelay, RETRY_DEFAULTS, type RetryOptions, type RetryingConnection, type RetryingConnectionEvents } from './retry.js';
export { createResourceHost, type ResourceHost } from './host.js';
export {
  HOST_DEFAULTS,
  type ResourceHostOptions,
  type ResourceManifest,
  type HostPolicy,
  type HostLimits,
  type EgressTarget,
  type BrowserWebSocketConstructor,
} from './host-options.js';
export { createUrlPolicy, MAX_URL_LENGTH, type UrlPolicy, type UrlCheck } from './policy.js';
export { credentialReference, MAX_HEADERS, MAX_HEADER_BYTES } from './headers.js';
export {
  BRIDGE_PROTOCOL_VERSION,
  BridgeMethod,
  WS_CAPABILITY,
  type BridgeRequest,
  type BridgeResponse,
  type BridgeData,
  type WsEventMessage,
  type ConnectParams,
  type SendParams,
  type CloseParams,
  type ReadyResult,
  type RequestId,
  type WireError,
} from './messages.js';
export { EGRESS_SUBPROTOCOL, type EgressConnect, type EgressReply } from './egress-protocol.js';
export { BridgeError, BridgeErrorCode, FINAL_CODES, type BridgeErrorCodeName } from './errors.js';
