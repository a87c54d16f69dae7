/**
 * The `sse` option of `createServer`: the SSE + HTTP fallback for clients whose WebSocket is
 * blocked (docs/server.md, "SSE fallback"; docs/protocol.md §8).
 */
import { isSessionNode, SESSION_NODE_PATTERN } from '../protocol/sse.js';
import { knownKeys, positiveInt, positiveMs, withDefaults } from '../shared/options.js';

/** Settings of the SSE fallback; every field is optional. */
export interface SseOptions {
  /**
   * A stream that carried nothing for this long gets a comment line, so that proxies and load
   * balancers do not close it as idle, in ms.
   * @default 15000, or half of `limits.handshakeTimeoutMs` when that is shorter (Bun closes a
   * response idle for that long)
   */
  keepaliveMs?: number;
  /**
   * Largest POST body read, in bytes; a larger one is answered 413. The reference client keeps
   * its batches under it.
   * @default 2 × `limits.maxPayload` + 1024 (one message of `maxPayload` bytes in base64 fits)
   */
  maxBodyBytes?: number;
  /**
   * How long a POST that arrived before its predecessor (forwarded through another node) waits
   * for it, in ms; then the connection closes with 1002.
   * @default 5000
   */
  reorderTimeoutMs?: number;
  /** POSTs of one session that may wait for a missing predecessor; one more is answered 429. @default 16 */
  maxHeldPosts?: number;
}

/** The fallback's settings after merging and checking. */
export interface ResolvedSseOptions {
  keepaliveMs: number;
  maxBodyBytes: number;
  reorderTimeoutMs: number;
  maxHeldPosts: number;
}

/**
 * `sse: true` or an object: the fallback on, with {@link SseOptions} merged over its defaults;
 * `false` or `undefined`: off (the default — it adds HTTP endpoints, and across several nodes it
 * needs an engine that can relay, docs/scaling.md). A value out of range is a `TypeError`.
 */
export function resolveSseOptions(
  sse: boolean | SseOptions | undefined,
  limits: { maxPayload: number; handshakeTimeoutMs: number },
  nodeId?: string,
): ResolvedSseOptions | undefined {
  if (sse === undefined || sse === false) return undefined;
  if (sse !== true && (typeof sse !== 'object' || sse === null)) throw new TypeError('sse must be true, false or an object of SSE options');
  // Every session id starts with the node id, and other nodes route POSTs by it (docs/protocol.md §8.1).
  if (nodeId !== undefined && !isSessionNode(nodeId)) {
    throw new TypeError(
      `sse: engine.nodeId ${JSON.stringify(nodeId)} cannot start an SSE session id (it must match ${SESSION_NODE_PATTERN}): give the engine such a node id, or leave sse off`,
    );
  }
  const o = withDefaults(
    {
      keepaliveMs: Math.min(15_000, Math.max(1, Math.floor(limits.handshakeTimeoutMs / 2))),
      maxBodyBytes: 2 * limits.maxPayload + 1_024,
      reorderTimeoutMs: 5_000,
      maxHeldPosts: 16,
    },
    sse === true ? undefined : knownKeys('sse', sse, ['keepaliveMs', 'maxBodyBytes', 'reorderTimeoutMs', 'maxHeldPosts']),
  );
  const keepaliveMs = positiveMs('sse.keepaliveMs', o.keepaliveMs);
  if (keepaliveMs >= limits.handshakeTimeoutMs) {
    throw new TypeError(
      `sse.keepaliveMs (${keepaliveMs}) must be below limits.handshakeTimeoutMs (${limits.handshakeTimeoutMs}): an idle stream is closed after the handshake timeout on Bun, so keep-alives must come sooner; lower sse.keepaliveMs or raise limits.handshakeTimeoutMs`,
    );
  }
  return {
    keepaliveMs,
    maxBodyBytes: positiveInt('sse.maxBodyBytes', o.maxBodyBytes),
    reorderTimeoutMs: positiveMs('sse.reorderTimeoutMs', o.reorderTimeoutMs),
    maxHeldPosts: positiveInt('sse.maxHeldPosts', o.maxHeldPosts),
  };
}
