/**
 * Answers client frames: runs commands, checks topic rules, subscribes and publishes.
 * Every path ends in exactly one `ok` or `err` for the frame's id (docs/protocol.md §2).
 */
import { ErrorCode } from '../protocol/error-codes.js';
import { SwitchboardError } from '../protocol/errors.js';
import type { CallFrame, ClientFrame, PubFrame } from '../protocol/frames.js';
import type { Engine } from '../engines/engine.js';
import type { Connection, FrameSink } from './connection.js';
import type { Logger } from './logger.js';
import type { TopicIndex } from './topic-index.js';
import type { TopicPermission, TopicRules } from './topic-rules.js';
import type { CommandHandler } from './types.js';

/** Everything the dispatcher needs from the server. */
export interface DispatchDeps<Identity> {
  commands: ReadonlyMap<string, CommandHandler<unknown, unknown, Identity>>;
  rules: TopicRules<Identity>;
  index: TopicIndex<Identity>;
  engine: Engine;
  logger: Logger;
}

/** Creates the frame sink shared by all connections of a server. */
export function createDispatcher<Identity>(deps: DispatchDeps<Identity>): FrameSink<Identity> {
  const { commands, rules, index, engine, logger } = deps;
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
      conn.fail({ t: 'err', id, code: ErrorCode.INTERNAL, message: 'Internal server error' });
    }
  }

  function failWith(conn: Connection<Identity>, id: number, err: unknown, what: string): void {
    if (err instanceof SwitchboardError) {
      const frame = err.details === undefined
        ? { t: 'err' as const, id, code: err.code, message: err.message }
        : { t: 'err' as const, id, code: err.code, message: err.message, details: err.details };
      // Guarded: a throw here would also break the connection's topic-operation chain for good.
      return answer(conn, id, what, () => conn.fail(frame));
    }
    logger.error({ err, clientId: conn.clientId, what }, 'handler failed');
    conn.fail({ t: 'err', id, code: ErrorCode.INTERNAL, message: 'Internal server error' });
  }

  const forbidden = (conn: Connection<Identity>, id: number, topic: string) =>
    conn.fail({ t: 'err', id, code: ErrorCode.FORBIDDEN, message: `Not allowed on topic "${topic}"` });

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

  function call(conn: Connection<Identity>, f: CallFrame): void {
    const handler = commands.get(f.name);
    if (!handler) {
      return conn.fail({ t: 'err', id: f.id, code: ErrorCode.NOT_FOUND, message: `No command named "${f.name}"` });
    }
    const what = `command ${f.name}`;
    let out: unknown;
    try {
      out = handler(f.input, conn.ctx);
    } catch (err) {
      return failWith(conn, f.id, err, what);
    }
    if (out instanceof Promise) {
      out.then(
        (v) => answer(conn, f.id, what, () => conn.reply(f.id, v)),
        (err: unknown) => failWith(conn, f.id, err, what),
      );
    } else {
      answer(conn, f.id, what, () => conn.reply(f.id, out));
    }
  }

  async function publish(conn: Connection<Identity>, f: PubFrame): Promise<void> {
    // Queued behind other topic operations of a connection that has since closed: its publisher
    // was told DISCONNECTED (it may or may not have run), so not running it is the honest choice.
    if (!conn.open) return;
    const allowed = check(rules.find(f.topic)?.publish, conn, f.topic, f.data);
    if (!(allowed === true || (allowed !== false && (await allowed)))) return forbidden(conn, f.id, f.topic);
    await engine.publish(f.topic, {
      kind: 'msg',
      data: f.data,
      meta: { from: conn.clientId },
      ...(f.echo === false ? { skip: conn.clientId } : {}),
    });
    conn.reply(f.id, undefined);
  }

  async function sub(conn: Connection<Identity>, id: number, topic: string): Promise<void> {
    const rule = rules.find(topic);
    const allowed = await check(rule?.subscribe, conn, topic);
    if (!allowed) return forbidden(conn, id, topic);
    if (!conn.open) return;
    const members = await index.add(conn, topic, rule?.presence === true);
    conn.reply(id, members ? { members } : {});
  }

  async function presence(conn: Connection<Identity>, id: number, topic: string): Promise<void> {
    if (!index.has(conn, topic)) {
      return conn.fail({ t: 'err', id, code: ErrorCode.NOT_SUBSCRIBED, message: `Not subscribed to "${topic}"` });
    }
    const members = rules.find(topic)?.presence ? await engine.presenceList(topic) : [];
    conn.reply(id, { members });
  }

  return {
    handle(conn, frame: ClientFrame) {
      switch (frame.t) {
        case 'call':
          return call(conn, frame);
        case 'pub':
          return serial(conn, frame.id, `publish ${frame.topic}`, () => publish(conn, frame));
        case 'sub':
          return serial(conn, frame.id, `subscribe ${frame.topic}`, () => sub(conn, frame.id, frame.topic));
        case 'unsub':
          return serial(conn, frame.id, `unsubscribe ${frame.topic}`, async () => {
            await index.remove(conn, frame.topic, rules.find(frame.topic)?.presence === true);
            conn.reply(frame.id, undefined);
          });
        case 'presence':
          return serial(conn, frame.id, `presence ${frame.topic}`, () => presence(conn, frame.id, frame.topic));
        case 'ping':
          return conn.send({ t: 'pong' });
      }
    },
  };
}
