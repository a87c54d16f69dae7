/**
 * The span names and attribute names of Switchboard's tracing, in one table (docs/observability.md,
 * "Tracing"). `rpc.*` follow OpenTelemetry's RPC semantic conventions; `switchboard.*` are ours.
 */
export const ATTR = {
  /** Always `switchboard`. */
  RPC_SYSTEM: 'rpc.system',
  /** The command, stream or upload name. */
  RPC_METHOD: 'rpc.method',
  /** `call`, `stream`, `upload`. */
  KIND: 'switchboard.kind',
  /** The server's id of the connection (`clientId`). */
  CLIENT_ID: 'switchboard.client_id',
  /** How it ended: `ok`, or the error code the caller got. */
  OUTCOME: 'switchboard.outcome',
  /** The codec of an accepted connection (`json`, `msgpack`). */
  CODEC: 'switchboard.codec',
  /** Why an upgrade was refused (docs/security.md, "Refusal logs"). */
  REFUSAL_REASON: 'switchboard.refusal_reason',
} as const;

/** Span names: `switchboard.call <name>`, `switchboard.stream <name>`, `switchboard.upload <name>`, `switchboard.handshake`. */
export const spanName = (kind: 'call' | 'stream' | 'upload', name: string): string => `switchboard.${kind} ${name}`;

/** The tracer's instrumentation scope name. */
export const TRACER_NAME = 'switchboard';
