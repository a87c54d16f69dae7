/**
 * `switchboard/server`: the Node WebSocket server.
 *
 * @example
 * import { createServer, ServerError } from 'switchboard/server';
 * const server = createServer({ port: 8080 }).command('echo', (input) => input);
 * await server.listen();
 */
export { createServer } from './server.js';
export { drainOnSignals, type DrainOnSignalsOptions } from './drain-signals.js';
export type { ServerHealth, NotReadyReason, DrainOptions, DrainReport } from './types.js';
export type { HealthOptions } from '../net/health.js';
export type { TlsOptions, Pem } from '../shared/tls.js';
export { jwt, isTokenAuthenticate, type JwtOptions, type JwtClaims, type TokenAuthenticate, type TokenCheck, type TokenRefusalCategory } from './jwt.js';
export type { RefusalCategory } from '../net/refusal.js';
export type { TokenTransport } from '../protocol/subprotocol.js';
export type { Server, CommandContext, CommandHandler, CommandMap, CommandSpec, StreamContext, StreamHandler, UploadHandler, StreamSpec, UploadSpec, StreamMap, UploadMap } from './types.js';
export type { BatchOptions } from './options.js';
export type { ServerOptions, Authenticate, HeartbeatOptions, LimitOptions, RateOptions, PresenceOptions, HistoryConfig, IdempotencyOptions, Runtime } from './options.js';
export type { UpgradeRequest } from './transport/types.js';
export { SERVER_DEFAULTS } from './options.js';
export type { SseOptions } from './sse-options.js';
export type { TopicRule, TopicPermission } from './topic-rules.js';
export type { TopicEntry, TopicMap } from './types.js';
export { consoleLogger, silentLogger, type Logger } from '../shared/logger.js';
export { createMemoryEngine, type MemoryEngineOptions } from '../engines/memory.js';
export type { ConnectInfo, DisconnectInfo, KickOptions, ServerEvents, ServerHook, ServerSubscribeOptions, ServerUnsubscribeOptions, Target } from './control-types.js';
export type { ControlMessage, ControlTarget, Engine, EngineEvent, EngineNode, EngineHealth, PresenceEntry, HistoryOptions, HistoryQuery, HistoryResult, StoredMessage, CallClaim, CallOutcome } from '../engines/engine.js';
export { ServerError, SwitchboardError } from '../protocol/errors.js';
export { CloseCode, shouldReconnect } from '../protocol/close-codes.js';
export { ErrorCode } from '../protocol/error-codes.js';
export type { Member, MessageMeta, StreamPosition, GapReason, SubOutput } from '../protocol/frames.js';
export type { WireIssue } from './validation.js';
export { defineObserver, closeCodeLabel, outcomeOf, type Observer, type ObservedServer, type CodecMeter, type Outcome, type StreamKind } from './observe.js';
export type { EngineObserver } from '../engines/engine.js';
