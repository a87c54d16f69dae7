/**
 * `switchboard/bridge/server`: the Node side of the bridge — the backend SDK
 * (`createResourceServer`) and the egress relay for headers and credentials (`createEgressRelay`).
 * Uses `ws`; never import it in a browser (the browser side is `switchboard/bridge`).
 *
 * @example
 * import { createEgressRelay, createResourceServer } from 'switchboard/bridge/server';
 */
export {
  createResourceServer,
  BACKEND_DEFAULTS,
  type ResourceServer,
  type ResourceServerOptions,
  type ResourceMethod,
  type MethodContext,
  type BackendRp,
  type BackendLimits,
  type ParamsOf,
} from './backend.js';
export { createEgressRelay, type EgressRelay } from './egress.js';
export {
  EGRESS_DEFAULTS,
  type EgressOptions,
  type EgressLimits,
  type CredentialSource,
  type CredentialContext,
} from './egress-options.js';
export { EGRESS_SUBPROTOCOL, type EgressConnect, type EgressReply } from './egress-protocol.js';
export { createUrlPolicy, type UrlPolicy, type UrlCheck } from './policy.js';
export { checkHeaders, credentialReference, referencedCredentials, resolveCredentials } from './headers.js';
export { BridgeError, BridgeErrorCode, FINAL_CODES, type BridgeErrorCodeName } from './errors.js';
export type { WsEventMessage, BridgeData } from './messages.js';
