/**
 * What both client entry points export besides `connect`.
 */
export type { Client, ClientEvents, ClientState, CallOptions, CallRequestOptions, PublishOptions, TypedTopics, LooseTopics, TopicMethods } from './types.js';
export type { StreamOptions, StreamReader, UploadOptions } from './streams.js';
export type { ClientOptions, ReconnectOptions, ClientHeartbeatOptions, TokenProvider, UrlProvider } from './options.js';
export type { ClientTlsOptions, Pem } from '../shared/tls.js';
export type { ClientTokenTransport } from '../protocol/subprotocol.js';
export { CLIENT_DEFAULTS } from './options.js';
export type { Subscription, SubscriptionEvents, MessageHandler, DeliveryMeta, SubscribeOptions, GapEvent } from './subscriptions.js';
export type { WebSocketLike, WebSocketConstructor, SocketFactory } from './socket.js';
export { backoffDelay } from './backoff.js';
export { SwitchboardError } from '../protocol/errors.js';
export { CloseCode, shouldReconnect } from '../protocol/close-codes.js';
export { ErrorCode } from '../protocol/error-codes.js';
export type { Member, StreamPosition, GapReason } from '../protocol/frames.js';
export type { Codec, CodecName, Decoded } from '../protocol/codec.js';
export { RingBuffer, createLatestByKey, type LatestByKey, type LatestByKeyOptions } from './buffers.js';
export type {
  CommandMap,
  StreamMap,
  UploadMap,
  TopicMap,
  TopicEntry,
  CommandsOf,
  StreamsOf,
  UploadsOf,
  TopicsOf,
  MemberInfoOf,
  PatternTopics,
  TopicName,
  TopicArg,
  TopicData,
  TopicInput,
} from '../protocol/api.js';
