/**
 * Answers client frames: runs commands, checks topic rules, subscribes and publishes.
 * Every path ends in exactly one `ok` or `err` for the frame's id (docs/protocol.md §2).
 */
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { CloseCode } from '../protocol/close-codes.js';
import { exceedsDepth, MAX_DEPTH } from '../protocol/depth.js';
import { ErrorCode } from '../protocol/error-codes.js';
import { errFrame, errorToFrame, INTERNAL_MESSAGE } from '../protocol/error-frame.js';
import { SwitchboardError } from '../protocol/errors.js';
import type { CallFrame, ClientFrame, ErrFrame, PubFrame, SubFrame } from '../protocol/frames.js';
import type { Engine, HistoryOptions } from '../engines/engine.js';
import type { IdempotentRun } from './idempotency.js';
import type { AuthSession } from './auth-session.js';
import type { Connection, FrameSink } from './connection.js';
import type { Logger } from '../shared/logger.js';
import type { LimitOptions } from './options.js';
import type { TopicIndex } from './topic-index.js';
import type { TopicPermission, TopicRules } from './topic-rules.js';
import { createStreams, type StreamEntry, type UploadEntry } from './streams.js';
import { createTrace, type PublicationOutcome, type SubscriptionOutcome } from './trace.js';
import type { CommandHandler } from './types.js';
import { validate } from './validation.js';

/** A registered command. */
export interface CommandEntry<Identity> {
  handler: CommandHandler<unknown, unknown, Identity>;
  input?: StandardSchemaV1 | undefined;
  output?: StandardSchemaV1 | undefined;
}

/** Everything the dispatcher needs from the server. */
export interface DispatchDeps<Identity> {
  commands: ReadonlyMap<string, CommandEntry<Identity>>;
  streams: ReadonlyMap<string, StreamEntry<Identity>>;
  uploads: ReadonlyMap<string, UploadEntry<Identity>>;
  rules: TopicRules<Identity>;
  index: TopicIndex<Identity>;
  engine: Engine;
  logger: Logger;
  limits: Pick<LimitOptions, 'maxPendingCalls' | 'maxSubscriptionsPerConnection'>;
  auth: AuthSession<Identity>;
  /** The history configuration of a topic; `false` when it has none. */
  historyOf(topic: string): HistoryOptions | false;
  /** Runs keyed calls once (docs/protocol.md §2.8). */
  idempotent: IdempotentRun;
  /** The scope of a connection's idempotency keys. */
  keyScope(conn: Connection<Identity>): string;
  /** Whether a `sub`'s `grant` lets this connection subscribe whatever the rules say (docs/protocol.md §2.9). */
  granted?(conn: Connection<Identity>, topic: string, grant: string): Promise<boolean>;
}

/** Why a topic operation was FORBIDDEN, in `details.reason` (docs/protocol.md §4). */
export type ForbiddenReason = 'no-rule' | 'denied';

/** The answer to a request refused by `limits.rate` (docs/protocol.md §4). */
function rateLimited(id: number, retryAfterMs: number): ErrFrame {
  return errFrame(id, ErrorCode.RATE_LIMITED, 'Too many requests', { retryAfterMs });
}

/** Creates the frame sink shared by all connections of a server. */
export function createDispatcher<Identity>(deps: DispatchDeps<Identity>): FrameSink<Identity> {
  const { commands, rules, index, engine, logger, limits, auth, historyOf, idempotent, keyScope } = deps;
  // The development trace (docs/server.md, "Diagnostics"): undefined unless the logger has debug on.
  const trace = createTrace(logger);
  const streams = createStreams<Identity>(
    (conn, id, v) => answer(conn as Connection<Identity>, id, 'upload', () => replyChecked(conn as Connection<Identity>, id, v)),
    (conn, id, err, what) => failWith(conn as Connection<Identity>, id, err, what),
  );

  /** Opens a stream or upload: NOT_FOUND, the live-stream limit, then the stream table. */
  function open(conn: Connection<Identity>, f: Extract<ClientFrame, { t: 'stream' | 'upload' }>): void {
    const entry = f.t === 'stream' ? deps.streams.get(f.name) : deps.uploads.get(f.name);
    if (!entry) return conn.fail(errFrame(f.id, ErrorCode.NOT_FOUND, `No ${f.t} named "${f.name}"`));
    if (atPendingLimit(conn, f.id)) return;
    if (f.t === 'stream') streams.openStream(conn, f, entry as StreamEntry<Identity>);
    else streams.openUpload(conn, f, entry as UploadEntry<Identity>);
  }
  /**
   * Per connection, the tail of its topic-operation chain. sub/unsub/pub/presence from one
   * connection run in arrival order even when a rule or the engine is async; otherwise a quick
   * sub-then-unsub could end subscribed, or two publishes could swap.
   */
  const opTail = new WeakMap<Connection<Identity>, Promise<void>>();

  function serial(conn: Connection<Identity>, id: number, what: string, op: () => Promise<void>): void {
    const run = () => op().catch((err: unknown) => failWith(conn, id, err, what));
    const tail = opTail.get(conn);
    opTail.set(conn, tail ? tail.then(run) : run());
  }

  /**
   * Sends an answer whose payload came from application code. An `output` or `details` the codec
   * cannot encode (a BigInt, a cycle, nesting deeper than JSON.stringify's stack — e.g. a deeply
   * nested input echoed back) used to throw inside ws's 'message' listener, which crashes the
   * process, or to reject with nobody listening. It becomes a logged INTERNAL answer instead.
   */
  function answer(conn: Connection<Identity>, id: number, what: string, send: () => void): void {
    try {
      send();
    } catch (err) {
      logger.error({ err, clientId: conn.clientId, what }, 'answer could not be encoded');
      conn.fail(errFrame(id, ErrorCode.INTERNAL, INTERNAL_MESSAGE));
    }
  }

  /**
   * Answers `ok` with a handler's output. Output nested past the depth limit is the server's bug:
   * refused here, before any codec sees it, so {@link answer} makes it a logged INTERNAL under
   * every codec alike (docs/protocol.md §2.6).
   */
  function replyChecked(conn: Connection<Identity>, id: number, output: unknown): void {
    if (exceedsDepth(output)) throw new Error(`output nested deeper than ${MAX_DEPTH} levels`);
    conn.reply(id, output);
  }

  function failWith(conn: Connection<Identity>, id: number, err: unknown, what: string): void {
    // Details past the depth limit hide the error behind INTERNAL, as any other server bug.
    if (err instanceof SwitchboardError && !exceedsDepth(err.details)) {
      // Guarded: a throw here would also break the connection's topic-operation chain for good.
      return answer(conn, id, what, () => conn.fail(errorToFrame(id, err)));
    }
    logger.error({ err, clientId: conn.clientId, what }, 'handler failed');
    conn.fail(errFrame(id, ErrorCode.INTERNAL, INTERNAL_MESSAGE));
  }

  /**
   * FORBIDDEN with `details.reason` (docs/protocol.md §4): `no-rule` when no topic rule matches the
   * topic (secure by default: a forgotten rule), `denied` when the matching rule refuses (its
   * permission is `false`, absent, or its function returned false).
   */
  const forbidden = (conn: Connection<Identity>, id: number, topic: string, reason: ForbiddenReason) =>
    conn.fail(errFrame(id, ErrorCode.FORBIDDEN, `Not allowed on topic "${topic}": ${reason === 'no-rule' ? 'no topic rule matches it' : 'its topic rule refused'}`, { reason }));

  function check(
    perm: TopicPermission<Identity> | undefined,
    conn: Connection<Identity>,
    topic: string,
    data?: unknown,
  ): boolean | Promise<boolean> {
    if (perm === undefined || perm === false) return false;
    if (perm === true) return true;
    return perm(conn.ctx, topic, data);
  }

  const limitExceeded = (conn: Connection<Identity>, id: number, limit: string, value: number) =>
    conn.fail(errFrame(id, ErrorCode.LIMIT_EXCEEDED, `Limit ${limit} (${value}) reached`, { limit, value }));

  /**
   * `limits.maxPendingCalls`: commands running plus live streams and uploads of the connection
   * (docs/streams.md). At the limit, refuses request `id` with LIMIT_EXCEEDED and returns true.
   */
  function atPendingLimit(conn: Connection<Identity>, id: number): boolean {
    if (conn.pendingCalls + streams.count(conn) < limits.maxPendingCalls) return false;
    limitExceeded(conn, id, 'maxPendingCalls', limits.maxPendingCalls);
    return true;
  }

  /** Runs the handler (after input validation, when there is a schema) and checks its output. */
  async function runCommand(entry: CommandEntry<Identity>, conn: Connection<Identity>, f: CallFrame, what: string): Promise<unknown> {
    const input = entry.input ? await traced(conn, 'input', f.name, () => validate(entry.input!, f.input, 'input')) : f.input;
    const out = await entry.handler(input, conn.ctx);
    if (!entry.output) return out;
    try {
      return await validate(entry.output, out, 'output');
    } catch (err) {
      // The handler broke its own contract: a server bug, not the caller's.
      logger.error({ err, clientId: conn.clientId, what }, 'command output failed its schema');
      // Already logged: a SwitchboardError reaches the caller without a second log line.
      throw new SwitchboardError(ErrorCode.INTERNAL, INTERNAL_MESSAGE);
    }
  }

  function settle(conn: Connection<Identity>, id: number, what: string, p: Promise<unknown>): void {
    conn.pendingCalls++;
    p.then(
      (v) => answer(conn, id, what, () => replyChecked(conn, id, v)),
      (err: unknown) => failWith(conn, id, err, what),
    ).finally(() => conn.pendingCalls--);
  }

  function call(conn: Connection<Identity>, f: CallFrame): void {
    const entry = commands.get(f.name);
    if (!entry) {
      return conn.fail(errFrame(f.id, ErrorCode.NOT_FOUND, `No command named "${f.name}"`));
    }
    // Refused before anything runs: at the limit, even a command that would answer at once waits.
    if (atPendingLimit(conn, f.id)) return;
    const what = `command ${f.name}`;
    if (f.key !== undefined) {
      // The scope and name are part of the key: another user, or another command, is another call.
      const key = `${keyScope(conn)}\u0000${f.name}\u0000${f.key}`;
      const run = () => (entry.input || entry.output ? runCommand(entry, conn, f, what) : Promise.resolve().then(() => entry.handler(f.input, conn.ctx)));
      return settle(conn, f.id, what, idempotent(key, f.input, run, what));
    }
    if (entry.input || entry.output) return settle(conn, f.id, what, runCommand(entry, conn, f, what));
    // Without schemas a sync handler answers in the same tick: no promise, no microtask.
    let out: unknown;
    try {
      out = entry.handler(f.input, conn.ctx);
    } catch (err) {
      return failWith(conn, f.id, err, what);
    }
    if (out instanceof Promise) settle(conn, f.id, what, out);
    else answer(conn, f.id, what, () => replyChecked(conn, f.id, out));
  }

  /**
   * Runs a validation; a refusal is traced (its issue count and first path, docs/server.md
   * "Diagnostics") and thrown on.
   */
  async function traced<T>(conn: Connection<Identity>, what: 'input' | 'message', name: string, run: () => T | Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      const issues = (err as SwitchboardError).code === ErrorCode.INVALID_INPUT ? ((err as SwitchboardError).details as { issues?: { path?: (string | number)[] }[] } | undefined)?.issues : undefined;
      if (trace && issues) trace.invalid(conn.clientId, what, name, issues.length, issues[0]?.path?.join('.') ?? '');
      throw err;
    }
  }

  /** Answers a `pub`; resolves what happened, for the trace (`undefined`: the connection closed meanwhile). */
  async function publish(conn: Connection<Identity>, f: PubFrame): Promise<PublicationOutcome | undefined> {
    // Queued behind other topic operations of a connection that has since closed: its publisher
    // was told DISCONNECTED (it may or may not have run), so not running it is the honest choice.
    if (!conn.open) return undefined;
    const rule = rules.find(f.topic);
    const allowed = check(rule?.publish, conn, f.topic, f.data);
    if (!(allowed === true || (allowed !== false && (await allowed)))) {
      const reason = rule ? 'denied' : 'no-rule';
      forbidden(conn, f.id, f.topic, reason);
      return reason;
    }
    let data: unknown = f.data;
    if (rule?.schema) {
      const schema = rule.schema;
      try {
        data = await traced(conn, 'message', f.topic, () => validate(schema, f.data, 'message'));
      } catch (err) {
        if ((err as SwitchboardError).code === ErrorCode.INVALID_INPUT) {
          failWith(conn, f.id, err, `publish ${f.topic}`);
          return 'invalid';
        }
        throw err;
      }
    }
    // The frame's data was checked on arrival; a schema's output is the server's: INTERNAL if too deep.
    if (data !== f.data && exceedsDepth(data)) throw new Error(`topic schema output nested deeper than ${MAX_DEPTH} levels`);
    const history = historyOf(f.topic);
    await engine.publish(
      f.topic,
      { kind: 'msg', data, meta: { from: conn.clientId }, ...(f.echo === false ? { skip: conn.clientId } : {}) },
      ...(history ? [history] : []),
    );
    conn.reply(f.id, undefined);
    return 'published';
  }

  async function pub(conn: Connection<Identity>, f: PubFrame): Promise<void> {
    if (!trace) return void (await publish(conn, f));
    let outcome: PublicationOutcome | undefined;
    try {
      outcome = await publish(conn, f);
    } catch (err) {
      outcome = 'failed';
      throw err;
    } finally {
      if (outcome) trace.publication(conn.clientId, f.topic, outcome);
    }
  }

  /** Answers a `sub`; resolves what happened, for the trace (`undefined`: the connection closed meanwhile). */
  async function subscribe(conn: Connection<Identity>, f: SubFrame): Promise<SubscriptionOutcome | undefined> {
    const { id, topic } = f;
    const rule = rules.find(topic);
    const allowed = (await check(rule?.subscribe, conn, topic)) || (f.grant !== undefined && (await deps.granted?.(conn, topic, f.grant)));
    if (!allowed) {
      const reason = rule ? 'denied' : 'no-rule';
      forbidden(conn, id, topic, reason);
      return reason;
    }
    if (!conn.open) return undefined;
    if (!conn.topics.has(topic) && conn.topics.size >= limits.maxSubscriptionsPerConnection) {
      limitExceeded(conn, id, 'maxSubscriptionsPerConnection', limits.maxSubscriptionsPerConnection);
      return 'limit';
    }
    const o = { presence: rule?.presence === true, history: historyOf(topic), since: f.since, limit: f.history };
    await index.add(conn, topic, o, (out) => conn.reply(id, out));
    return 'subscribed';
  }

  async function sub(conn: Connection<Identity>, f: SubFrame): Promise<void> {
    if (!trace) return void (await subscribe(conn, f));
    let outcome: SubscriptionOutcome | undefined;
    try {
      outcome = await subscribe(conn, f);
    } catch (err) {
      outcome = 'failed';
      throw err;
    } finally {
      if (outcome) trace.subscription(conn.clientId, f.topic, outcome);
    }
  }

  async function presence(conn: Connection<Identity>, id: number, topic: string): Promise<void> {
    if (!index.has(conn, topic)) {
      return conn.fail(errFrame(id, ErrorCode.NOT_SUBSCRIBED, `Not subscribed to "${topic}"`));
    }
    const members = rules.find(topic)?.presence ? await engine.presenceList(topic) : [];
    conn.reply(id, { members });
  }

  return {
    firstAuth(conn, token) {
      auth.first(conn, token).catch((err: unknown) => {
        logger.error({ err, clientId: conn.clientId }, 'first-message authentication failed');
        conn.close(CloseCode.INTERNAL_ERROR, 'internal error');
      });
    },
    closed(conn) {
      streams.closeAll(conn);
    },
    // Every rate-limit charge is decided here (docs/security.md, limits.rate): one token per
    // request, ping and malformed request; flow control only when it is not for a live stream.
    malformed(conn, refusal, flow) {
      // A malformed credit or item for a live stream ends that stream (docs/protocol.md §2.3); like
      // the stream's other flow control it is paced by credit, not charged.
      if (flow && streams.fault(conn, refusal)) return;
      // A malformed request (BAD_REQUEST, UNKNOWN_FRAME) is still a request that costs a parse and
      // an answer: charged like the others, or a flood of them would never meet limits.rate nor
      // its POLICY_VIOLATION close (docs/protocol.md §4, §5).
      const wait = conn.charge();
      conn.fail(wait > 0 ? rateLimited(refusal.id, wait) : refusal);
    },
    handle(conn, frame: ClientFrame) {
      if (frame.t === 'ping') {
        // Pings have no id to answer RATE_LIMITED to: over the limit they go unanswered, and a
        // flood of them still ends in POLICY_VIOLATION through the violation budget.
        if (conn.charge() === 0) conn.send({ t: 'pong' });
        return;
      }
      if (frame.t === 'auth' && frame.id === undefined) {
        return conn.close(CloseCode.PROTOCOL_ERROR, 'unexpected first-message auth');
      }
      // Flow control of a live stream is paced by credit, not by the rate limit (a large upload
      // is many item frames); frames for ids that are not live are charged and dropped.
      if (frame.t === 'credit' || frame.t === 'item' || frame.t === 'end' || frame.t === 'cancel') {
        if (!streams.route(conn, frame)) conn.charge();
        return;
      }
      // Every request costs one token of the connection's rate limit, refusals included.
      const wait = conn.charge();
      if (wait > 0) return conn.fail(rateLimited(frame.id!, wait));
      switch (frame.t) {
        case 'stream':
        case 'upload':
          return open(conn, frame);
        case 'auth':
          return void auth.refresh(conn, frame.id!, frame.token).catch((err: unknown) => failWith(conn, frame.id!, err, 'refresh'));
        case 'call':
          return call(conn, frame);
        case 'pub':
          return serial(conn, frame.id, `publish ${frame.topic}`, () => pub(conn, frame));
        case 'sub':
          return serial(conn, frame.id, `subscribe ${frame.topic}`, () => sub(conn, frame));
        case 'unsub':
          return serial(conn, frame.id, `unsubscribe ${frame.topic}`, async () => {
            await index.remove(conn, frame.topic, rules.find(frame.topic)?.presence === true);
            conn.reply(frame.id, undefined);
          });
        case 'presence':
          return serial(conn, frame.id, `presence ${frame.topic}`, () => presence(conn, frame.id, frame.topic));
      }
    },
  };
}
