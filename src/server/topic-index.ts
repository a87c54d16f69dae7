/**
 * The local side of pub/sub: which of this node's connections listen to which topic, presence
 * joins and leaves, history replay on subscribe, and delivery of engine events with one encoding
 * per codec per event.
 */
import { CloseCode } from '../protocol/close-codes.js';
import type { Codec } from '../protocol/codec.js';
import type { Member, ServerFrame, StreamPosition, SubOutput } from '../protocol/frames.js';
import type { Engine, EngineEvent, HistoryOptions, HistoryResult, StoredMessage } from '../engines/engine.js';
import type { Connection } from './connection.js';
import type { Observer } from './observe.js';
import type { NativeTopics, PreparedFrame, Transport } from './transport/types.js';

/** What a `sub` asks for beyond the subscription itself. */
export interface AddOptions {
  presence: boolean;
  /** The topic's history configuration; `false` when it has none. */
  history: HistoryOptions | false;
  since?: StreamPosition | undefined;
  limit?: number | undefined;
}

/**
 * Events held for a connection while its subscription reads the history: delivered after the
 * `ok` and the replay, so nothing is lost, duplicated or reordered (docs/protocol.md §2.7).
 * A history read slower than this many events drops the connection (it reconnects and recovers).
 */
const MAX_HELD_EVENTS = 10_000;

/** Whether `event` is a message at or before `position` (same epoch): already delivered or replayed. */
function covered(event: EngineEvent, position: StreamPosition): boolean {
  return event.kind === 'msg' && event.meta.epoch === position.epoch && event.meta.offset !== undefined && event.meta.offset <= position.offset;
}

/** Builds the frame a topic event becomes on the wire. */
function frameOf(topic: string, event: EngineEvent): ServerFrame {
  if (event.kind !== 'msg') return { t: event.kind, topic, member: event.member };
  const m = event.meta;
  return m.from !== undefined || m.offset !== undefined ? { t: 'msg', topic, data: event.data, meta: m } : { t: 'msg', topic, data: event.data };
}

export class TopicIndex<Identity> {
  readonly #subs = new Map<string, Set<Connection<Identity>>>();
  /** topic → the engine subscription for it, shared by concurrent first subscribers. */
  readonly #ready = new Map<string, Promise<void>>();
  /** topic → connections whose subscription is reading history → the events held for them. */
  readonly #held = new Map<string, Map<Connection<Identity>, EngineEvent[]>>();
  /** topic → events held while the whole topic re-reads its history after an engine outage. */
  readonly #topicHeld = new Map<string, EngineEvent[]>();
  /** topic → the position of the last message this node delivered (topics with history). */
  readonly #lastSeen = new Map<string, StreamPosition>();
  /**
   * topic → connection → the position its subscription answer (and replay) covered. With a
   * shared engine the live copy of a replayed message may still be on its way (pub/sub and the
   * history read use different Redis connections); it is skipped here rather than sent twice.
   * Dropped at the first newer message.
   */
  readonly #floors = new Map<string, Map<Connection<Identity>, StreamPosition>>();
  /** connection → topic → its `add` in progress: a second `sub` of the topic waits for it. */
  readonly #adding = new Map<Connection<Identity>, Map<string, Promise<void>>>();
  readonly #engine: Engine;
  readonly #member: (conn: Connection<Identity>) => Member;
  readonly #volatile: (topic: string) => boolean;
  readonly #prepare: Transport['prepare'];
  /** The transport's native topics (Bun), when it has them: see {@link deliver}. */
  readonly #native: NativeTopics | undefined;
  /** The server's observer (docs/observability.md): deliveries, replays, gaps. */
  readonly #obs: Observer | undefined;

  /**
   * `prepare` is the transport's: one message made ready once for every subscriber of a codec.
   * `native`: the transport's own topic publish, used when every subscriber gets the same bytes.
   */
  constructor(
    engine: Engine,
    member: (conn: Connection<Identity>) => Member,
    volatile: (topic: string) => boolean,
    prepare: Transport['prepare'],
    native?: NativeTopics,
    obs?: Observer,
  ) {
    this.#obs = obs;
    this.#engine = engine;
    this.#member = member;
    this.#volatile = volatile;
    this.#prepare = prepare;
    this.#native = native;
  }

  /** Whether the subscription being added survived the awaits (the connection is open and still wants it). */
  #stillWanted(conn: Connection<Identity>, topic: string): boolean {
    return conn.open && conn.topics.has(topic);
  }

  has(conn: Connection<Identity>, topic: string): boolean {
    return conn.topics.has(topic);
  }

  /**
   * The engine subscription of a topic. Every subscriber awaits it, not only the first: a second
   * subscriber answered `ok` before it completed could miss messages from other nodes.
   */
  #engineReady(topic: string): Promise<void> {
    let ready = this.#ready.get(topic);
    if (!ready) {
      this.#subs.set(topic, new Set());
      ready = Promise.resolve(this.#engine.subscribe(topic));
      this.#ready.set(topic, ready);
      ready.catch(() => {
        // A failed engine subscription must not stick: the next subscriber tries again.
        if (this.#ready.get(topic) === ready && this.#subs.get(topic)?.size === 0) {
          this.#ready.delete(topic);
          this.#subs.delete(topic);
        }
      });
    }
    return ready;
  }

  /**
   * Adds a subscriber and calls `answer` with the `sub` output, immediately followed by the history
   * replay and the events held meanwhile, in one synchronous run so that no live event can come
   * between them. `answer` is not called when the connection went away meanwhile. A connection
   * subscribed already gets an answer once its earlier `add` completed: with `since` on a topic
   * with history, followed by what came after `since` (its client re-subscribing with a position
   * while the server subscribed it itself, docs/protocol.md §2.9); else nothing is replayed.
   */
  async add(conn: Connection<Identity>, topic: string, o: AddOptions, answer: (out: SubOutput) => void): Promise<void> {
    const pending = this.#adding.get(conn)?.get(topic);
    if (pending) await pending.catch(() => {});
    if (conn.topics.has(topic)) {
      if (o.history && o.since) return this.#track(conn, topic, this.#resume(conn, topic, o, answer));
      // Already subscribed: nothing to replay, but on a topic with history the answer still says
      // where the messages that follow it continue (§2.7).
      const members = o.presence ? await this.#engine.presenceList(topic) : undefined;
      const top = o.history && !this.#lastSeen.has(topic) ? (await this.#engine.history(topic, {})).top : undefined;
      const out: SubOutput = members ? { members } : {};
      // Read after the awaits, right before the answer: messages delivered meanwhile precede it.
      if (o.history) {
        const at = this.#deliveredTo(conn, topic) ?? top;
        if (at) out.position = at;
      }
      return answer(out);
    }
    return this.#track(conn, topic, this.#first(conn, topic, o, answer));
  }

  /** Keeps `work` as the connection's `add` of `topic` in progress until it settles. */
  #track(conn: Connection<Identity>, topic: string, work: Promise<void>): Promise<void> {
    let adding = this.#adding.get(conn);
    if (!adding) this.#adding.set(conn, (adding = new Map()));
    adding.set(topic, work);
    const done = () => {
      if (adding.get(topic) === work) adding.delete(topic);
      if (adding.size === 0 && this.#adding.get(conn) === adding) this.#adding.delete(conn);
    };
    work.then(done, done);
    return work;
  }

  async #first(conn: Connection<Identity>, topic: string, o: AddOptions, answer: (out: SubOutput) => void): Promise<void> {
    conn.topics.add(topic);
    const ready = this.#engineReady(topic);
    // In the set from the start, holding its events: the topic cannot be dropped from the engine
    // under a subscription that is still being set up, and nothing published from here on is missed.
    const held = this.#hold(conn, topic);
    let member: Member | undefined;
    try {
      await ready;
      if (o.presence) {
        // The connection may have closed (and been cleaned up) during an async engine call.
        if (!this.#stillWanted(conn, topic)) return;
        member = this.#member(conn);
        if (await this.#engine.presenceAdd({ topic, member, clientId: conn.clientId })) {
          await this.#engine.publish(topic, { kind: 'join', member });
        }
      }
      if (!this.#stillWanted(conn, topic)) return await this.#undo(conn, topic, member);
      let hist = o.history ? await this.#engine.history(topic, historyQuery(o)) : undefined;
      if (hist && hist.recovered === false && hist.reason === 'epoch') hist = await this.#fromEpochStart(topic, hist);
      const members = o.presence ? await this.#engine.presenceList(topic) : undefined;
      this.#release(conn, topic);
      if (!this.#stillWanted(conn, topic)) return await this.#undo(conn, topic, member);
      this.#answer(conn, topic, o, hist, members, held, member, answer);
    } catch (err) {
      this.#release(conn, topic);
      await this.#undo(conn, topic, member).catch(() => {});
      throw err;
    }
  }

  /**
   * A `sub` with `since` from a connection subscribed already: its events are held while the
   * history after `since` is read, then the answer, the replay and what was held follow as for a
   * first subscription. The client drops what it received live meanwhile, before this answer
   * (docs/protocol.md §2.7): nothing is skipped, and the replay repeats nothing it kept.
   */
  async #resume(conn: Connection<Identity>, topic: string, o: AddOptions, answer: (out: SubOutput) => void): Promise<void> {
    const held = this.#hold(conn, topic);
    try {
      let hist = await this.#engine.history(topic, historyQuery(o));
      if (hist.recovered === false && hist.reason === 'epoch') hist = await this.#fromEpochStart(topic, hist);
      const members = o.presence ? await this.#engine.presenceList(topic) : undefined;
      this.#release(conn, topic);
      if (!this.#stillWanted(conn, topic)) return;
      this.#answer(conn, topic, o, hist, members, held, undefined, answer);
    } catch (err) {
      // The request fails (its error answers it), the subscription it repeated does not: what was
      // held for it is live traffic that would otherwise be lost.
      this.#release(conn, topic);
      if (this.#stillWanted(conn, topic)) {
        for (const event of held) if (event.kind !== 'msg' || event.skip !== conn.clientId) conn.send(frameOf(topic, event));
      }
      throw err;
    } finally {
      this.#release(conn, topic);
    }
  }

  /** The answer, the replay and the held events, in one synchronous run; then the connection's floor. */
  #answer(
    conn: Connection<Identity>,
    topic: string,
    o: AddOptions,
    hist: HistoryResult | undefined,
    members: Member[] | undefined,
    held: EngineEvent[],
    member: Member | undefined,
    answer: (out: SubOutput) => void,
  ): void {
    const out: SubOutput = members ? { members } : {};
    const { replay, cursor } = hist ? plan(hist, o, out) : { replay: [], cursor: undefined };
    if (hist && !this.#lastSeen.has(topic)) this.#lastSeen.set(topic, hist.top);
    if (o.since && !hist) Object.assign(out, { recovered: false, reason: 'no-history' });
    if (this.#obs) {
      if (replay.length > 0) this.#obs.replayed(replay.length);
      if (out.recovered === false) this.#obs.gap();
    }
    answer(out);
    for (const m of replay) if (m.skip !== conn.clientId) conn.send({ t: 'msg', topic, data: m.data, meta: m.meta });
    let last = cursor?.offset ?? 0;
    for (const event of held) {
      if (event.kind === 'msg') {
        if (event.skip === conn.clientId) continue;
        // Already in the replay, or before the position the answer gave.
        if (cursor && covered(event, cursor)) continue;
        if (event.meta.offset !== undefined) last = event.meta.offset;
      } else if (event.kind === 'join' && event.member.id === member?.id) {
        // Its own join: it is in the member list already, and never announced to itself (§2.4).
        continue;
      }
      conn.send(frameOf(topic, event));
    }
    if (cursor) {
      let floors = this.#floors.get(topic);
      if (!floors) this.#floors.set(topic, (floors = new Map()));
      floors.set(conn, { epoch: cursor.epoch, offset: last });
    } else this.#dropFloor(conn, topic);
  }

  /**
   * The position after the last message this node sent a subscribed connection: the node's last
   * delivered position, or the connection's floor when its replay went further (a shared engine's
   * live copies of replayed messages may still be on their way).
   */
  #deliveredTo(conn: Connection<Identity>, topic: string): StreamPosition | undefined {
    const seen = this.#lastSeen.get(topic);
    const floor = this.#floors.get(topic)?.get(conn);
    if (floor && (!seen || (floor.epoch === seen.epoch && floor.offset > seen.offset))) return { ...floor };
    return seen && { ...seen };
  }

  /**
   * A `since` from another epoch: the subscriber has seen nothing of the current one. When the
   * engine still holds the current epoch from its first offset, that whole epoch is replayed (the
   * gap is only the old epoch's tail); otherwise `hist` stands (docs/guarantees.md, "Epochs").
   */
  async #fromEpochStart(topic: string, hist: HistoryResult): Promise<HistoryResult> {
    const whole = await this.#engine.history(topic, { since: { epoch: hist.top.epoch, offset: 0 } });
    return whole.recovered ? { top: whole.top, messages: whole.messages, recovered: false, reason: 'epoch' } : hist;
  }

  /** Puts the connection in its topic's set, holding the events delivered to it until released. */
  #hold(conn: Connection<Identity>, topic: string): EngineEvent[] {
    const held: EngineEvent[] = [];
    let waiting = this.#held.get(topic);
    if (!waiting) this.#held.set(topic, (waiting = new Map()));
    waiting.set(conn, held);
    this.#subs.get(topic)?.add(conn);
    // Subscribed natively from the start too: native publishes wait until no subscriber is held.
    if (conn.socket.nativeTopics !== false) this.#native?.subscribe(conn.socket, nativeKey(conn.codec, topic));
    return held;
  }

  #release(conn: Connection<Identity>, topic: string): void {
    const waiting = this.#held.get(topic);
    if (waiting?.delete(conn) && waiting.size === 0) this.#held.delete(topic);
  }

  #dropFloor(conn: Connection<Identity>, topic: string): void {
    const floors = this.#floors.get(topic);
    if (floors?.delete(conn) && floors.size === 0) this.#floors.delete(topic);
  }

  /**
   * Takes back a subscription that could not complete. When the close cleanup already removed it,
   * only a presence entry added after that cleanup is left to remove.
   */
  async #undo(conn: Connection<Identity>, topic: string, member: Member | undefined): Promise<void> {
    if (conn.topics.has(topic)) return this.remove(conn, topic, member !== undefined);
    if (member) await this.#leave(conn, topic);
  }

  async #dropTopic(topic: string): Promise<void> {
    this.#subs.delete(topic);
    this.#lastSeen.delete(topic);
    this.#floors.delete(topic);
    this.#topicHeld.delete(topic);
    this.#ready.delete(topic);
    await this.#engine.unsubscribe(topic);
  }

  async #leave(conn: Connection<Identity>, topic: string): Promise<void> {
    const member = this.#member(conn);
    if (await this.#engine.presenceRemove({ topic, member, clientId: conn.clientId })) {
      await this.#engine.publish(topic, { kind: 'leave', member });
    }
  }

  /** Removes a subscriber; announces `leave` when it was its member's last connection. */
  async remove(conn: Connection<Identity>, topic: string, presence: boolean): Promise<void> {
    if (!conn.topics.delete(topic)) return;
    this.#release(conn, topic);
    this.#dropFloor(conn, topic);
    const set = this.#subs.get(topic);
    if (set?.delete(conn) && conn.socket.nativeTopics !== false) this.#native?.unsubscribe(conn.socket, nativeKey(conn.codec, topic));
    if (set && set.size === 0) await this.#dropTopic(topic);
    if (presence) await this.#leave(conn, topic);
  }

  /**
   * The engine lost its link (e.g. Redis's pub/sub connection dropped): from now on every topic
   * holds its events, and no position moves, until {@link resync} has read what was missed.
   */
  suspend(): void {
    for (const topic of this.#subs.keys()) if (!this.#topicHeld.has(topic)) this.#topicHeld.set(topic, []);
  }

  /**
   * The link is back: re-reads the history of every held topic from the last position this node
   * delivered and delivers what was missed, then what was held, without duplicates (§2.7). A
   * topic whose history cannot fill the gap gets nothing old: its subscribers see the jump in
   * offsets or epochs, a gap. Topics without history just deliver what was held.
   */
  async resync(): Promise<void> {
    this.suspend(); // a link lost without notice: hold from here on anyway
    await Promise.all(
      [...this.#topicHeld.keys()].map(async (topic) => {
        const since = this.#lastSeen.get(topic);
        let replay: StoredMessage[] = [];
        try {
          if (since && this.#subs.get(topic)?.size) {
            let hist = await this.#engine.history(topic, { since });
            // The engine lost the topic meanwhile: its new epoch, from the start, if still whole.
            if (hist.recovered === false && hist.reason === 'epoch') hist = await this.#fromEpochStart(topic, hist);
            if (hist.recovered || hist.reason === 'epoch') replay = hist.messages;
          }
        } finally {
          const held = this.#topicHeld.get(topic) ?? [];
          this.#topicHeld.delete(topic);
          let upTo = since;
          for (const m of replay) {
            this.deliver(topic, { kind: 'msg', data: m.data, meta: m.meta, ...(m.skip ? { skip: m.skip } : {}) });
            upTo = { epoch: m.meta.epoch, offset: m.meta.offset };
          }
          for (const e of held) if (!upTo || !covered(e, upTo)) this.deliver(topic, e);
        }
      }),
    );
  }

  /** Hands an engine event to every local subscriber, encoding it once per codec. */
  deliver(topic: string, event: EngineEvent): void {
    const set = this.#subs.get(topic);
    if (!set || set.size === 0) return;
    const topicHeld = this.#topicHeld.get(topic);
    if (topicHeld) {
      topicHeld.push(event);
      return;
    }
    if (event.kind === 'msg' && event.meta.offset !== undefined) {
      this.#lastSeen.set(topic, { epoch: event.meta.epoch!, offset: event.meta.offset });
    }
    const frame = frameOf(topic, event);
    const skip = event.kind === 'msg' ? event.skip : undefined;
    const waiting = this.#held.get(topic);
    const floors = event.kind === 'msg' && event.meta.offset !== undefined ? this.#floors.get(topic) : undefined;
    // One encoding per codec in use, however many subscribers, prepared once by the transport (on
    // Node the whole WebSocket frame, written as is to every socket; docs/performance.md, "Frame once").
    const encoded = new Map<Codec, PreparedFrame>();
    // Presence events are never dropped: a lost leave would leave a ghost member.
    const volatile = event.kind === 'msg' && this.#volatile(topic);
    if (this.#native && !waiting && !floors && skip === undefined && this.#publishNatively(this.#native, topic, frame, set, volatile)) {
      this.#obs?.delivered(set.size);
      return;
    }
    let sent = 0;
    for (const conn of set) {
      const held = waiting?.get(conn);
      if (held) {
        if (held.push(event) > MAX_HELD_EVENTS) conn.close(CloseCode.SLOW_CONSUMER, 'history read too slow');
        continue;
      }
      if (floors) {
        const floor = floors.get(conn);
        if (floor) {
          if (covered(event, floor)) continue;
          floors.delete(conn);
          if (floors.size === 0) this.#floors.delete(topic);
        }
      }
      if (conn.clientId === skip) continue;
      let e = encoded.get(conn.codec);
      if (!e) {
        const out = conn.codec.encode(frame);
        e = typeof out === 'string' ? this.#prepare(Buffer.from(out), false) : this.#prepare(out, true);
        encoded.set(conn.codec, e);
      }
      conn.sendPrepared(e, volatile);
      sent++;
    }
    if (sent > 0) this.#obs?.delivered(sent);
  }

  /**
   * The transport's native publish (Bun), once per codec in use, when every subscriber is to get
   * the same bytes now: nobody is held or recovering, nobody is skipped (checked by the caller),
   * and on a volatile topic nobody is over its send-buffer bound (the message would be dropped for
   * it). The bounds are then checked after the write, as `sendPrepared` checks them around it
   * (docs/server.md, "Running on Bun"). Returns whether it published.
   */
  #publishNatively(native: NativeTopics, topic: string, frame: ServerFrame, set: Set<Connection<Identity>>, volatile: boolean): boolean {
    const codecs = new Set<Codec>();
    for (const conn of set) {
      // A subscriber the native publish cannot reach (the SSE fallback's) gets per-socket sends.
      if ((volatile && conn.overBound) || conn.socket.nativeTopics === false) return false;
      codecs.add(conn.codec);
    }
    for (const codec of codecs) {
      const out = codec.encode(frame);
      native.publish(nativeKey(codec, topic), typeof out === 'string' ? this.#prepare(Buffer.from(out), false) : this.#prepare(out, true));
    }
    for (const conn of set) conn.sentNatively(volatile);
    return true;
  }

  /** Number of local subscribers of a topic. */
  count(topic: string): number {
    return this.#subs.get(topic)?.size ?? 0;
  }
}

/** The native topic of a topic's subscribers of one codec: they all get the same bytes. */
function nativeKey(codec: Codec, topic: string): string {
  return `${codec.name}\n${topic}`;
}

function historyQuery(o: AddOptions): { since?: StreamPosition; limit?: number } {
  const h = o.history as HistoryOptions;
  const limit = o.limit === undefined ? undefined : Math.min(o.limit, h.size);
  return { ...(o.since ? { since: o.since } : {}), ...(limit ? { limit } : {}) };
}

/**
 * Decides what follows the answer: the replay, and the cursor below which held events are already
 * covered. Fills in the answer's `position`, `recovered` and `reason`.
 */
function plan(
  hist: HistoryResult,
  o: AddOptions,
  out: SubOutput,
): { replay: StoredMessage[]; cursor: StreamPosition } {
  const replay = hist.messages;
  const { epoch } = hist.top;
  let offset: number;
  const last = replay[replay.length - 1];
  if (last) {
    offset = last.meta.offset;
    out.position = { epoch, offset: (replay[0] as StoredMessage).meta.offset - 1 };
  } else if (o.since && hist.recovered) {
    offset = o.since.offset;
    out.position = { epoch, offset };
  } else {
    // Nothing to replay: continue after the top. Held messages up to it are not contiguous for
    // sure: with a shared engine some may come from the node's previous subscription to the
    // topic (its UNSUBSCRIBE and a new SUBSCRIBE in flight together), with a hole between them.
    offset = hist.top.offset;
    out.position = { epoch, offset };
  }
  if (o.since) {
    out.recovered = hist.recovered === true;
    if (!out.recovered) out.reason = hist.reason ?? 'window';
  }
  return { replay, cursor: { epoch, offset } };
}
