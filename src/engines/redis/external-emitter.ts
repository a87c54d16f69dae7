/**
 * An emitter: publishes to a Switchboard cluster from a process that serves no WebSocket clients
 * (a job worker, a cron, an HTTP handler elsewhere), like Socket.IO's emitter. Messages get the
 * same positions and history as those published by the servers, when `history` matches theirs.
 * It sends server-control commands too (targeted events, kicks, server-side subscriptions), as
 * `server.send` and its siblings do (docs/server.md, "Server control").
 */
import { assertDepth } from '../../protocol/depth.js';
import type { Member, StreamPosition } from '../../protocol/frames.js';
import { consoleLogger } from '../../shared/logger.js';
import { createControlCommands, type ControlCommands } from '../control-commands.js';
import type { HistoryOptions } from '../engine.js';
import type { RedisEngineOptions } from './options.js';
import { redisEngine } from './redis-engine.js';

/** Options of {@link redisEmitter}. */
export interface RedisEmitterOptions extends RedisEngineOptions {
  /**
   * The history of each topic, as the servers configure it (a topic with history on the servers
   * must be published with the same history here, or its subscribers see no position for it).
   * @default no history for any topic
   */
  history?: HistoryOptions | ((topic: string) => HistoryOptions | false);
}

/**
 * What {@link redisEmitter} returns. Its `send`, `kick`, `subscribe` and `unsubscribe` are the
 * server's (docs/server.md, "Server control"): they reach the target's connections on every node.
 */
export interface RedisEmitter extends ControlCommands {
  /**
   * Publishes to every subscriber of `topic` on every node; resolves its position on a topic with
   * history. Rejects with `UNAVAILABLE` (not published) or `OUTCOME_UNKNOWN` (Redis did not confirm
   * within `commandTimeoutMs`: it may still be delivered) as the servers' publishes do.
   */
  publish(topic: string, data: unknown): Promise<StreamPosition | undefined>;
  /** The members present on a presence topic, across nodes. */
  presence(topic: string): Promise<Member[]>;
  close(): Promise<void>;
}

/** Creates an emitter connected to the cluster's Redis. */
export async function redisEmitter(options: RedisEmitterOptions = {}): Promise<RedisEmitter> {
  const { history, ...engineOptions } = options;
  const engine = redisEngine(engineOptions);
  // A node without subscribers: it joins the registry (and helps clean up after dead nodes).
  await engine.attach({ deliver() {}, suspend() {}, async resync() {}, logger: options.logger ?? consoleLogger });
  const historyOf = (topic: string): HistoryOptions | false => (typeof history === 'function' ? history(topic) : (history ?? false));
  return {
    async publish(topic, data) {
      // As server.publish: refused before any delivery, never encodable by some codecs only (docs/protocol.md §2.6).
      assertDepth(data, 'data');
      const h = historyOf(topic);
      return (await engine.publish(topic, { kind: 'msg', data, meta: {} }, ...(h ? [h] : []))) ?? undefined;
    },
    presence: async (topic) => engine.presenceList(topic),
    ...createControlCommands(engine, (m) => engine.control(m)),
    close: async () => engine.close(),
  };
}
