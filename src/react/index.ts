/**
 * `switchboard/react`: React bindings for the client (docs/react.md). A provider that owns one
 * client, and hooks for the connection state, subscriptions, presence, calls, streams and the
 * server's targeted events; every hook cleans up on unmount and under StrictMode's double mount
 * without extra traffic, and server rendering never connects. `react` (18 or 19) is an optional
 * peer dependency of the package: only this entry imports it.
 *
 * @example
 * import { SwitchboardProvider, useSubscription, useConnectionState } from 'switchboard/react';
 * <SwitchboardProvider url="wss://example.com/ws"><Room /></SwitchboardProvider>
 */
export { SwitchboardProvider, type SwitchboardProviderProps } from './provider.js';
export { useClient, NO_PROVIDER } from './context.js';
export { useConnectionState, type ConnectionSnapshot } from './connection-state.js';
export { useSubscription, usePresence, type UseSubscriptionOptions, type SubscriptionState, type PresenceState } from './use-subscription.js';
export { useCall, type CallState } from './use-call.js';
export { useStream, type UseStreamOptions, type StreamState } from './use-stream.js';
export { useServerEvent } from './use-server-event.js';
export { createSwitchboardHooks, type SwitchboardHooks, type TypedTopicHooks, type LooseTopicHooks, type TopicHooks } from './typed.js';
