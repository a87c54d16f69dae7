/**
 * One client connection: decodes and validates frames, answers them through the dispatcher, and
 * tracks liveness. Never throws into ws's event loop: every bad input ends in a reply or a close code.
 */
import type { WebSocket } from 'ws';
import type { Codec } from '../protocol/codec.js';
import type { ClientFrame, ErrFrame, ServerFrame } from '../protocol/frames.js';
import { validateClientFrame } from '../protocol/frames.js';
import type { CommandContext } from './types.js';

/** A payload already encoded by the connection's codec. */
export type Encoded = string | Uint8Array;

/** What a connection hands its frames to. */
export interface FrameSink<Identity> {
  handle(conn: Connection<Identity>, frame: ClientFrame): void;
}

export class Connection<Identity = unknown> {
  readonly clientId: string;
  readonly identity: Identity;
  readonly codec: Codec;
  readonly ctx: CommandContext<Identity>;
  /** Topics this connection is subscribed to (the index holds the reverse map). */
  readonly topics = new Set<string>();
  /** Set by any inbound traffic; cleared by the heartbeat sweep. */
  seen = true;
  /** Armed after a heartbeat ping; any inbound traffic disarms it. */
  pingTimer: NodeJS.Timeout | undefined;
  readonly #ws: WebSocket;
  readonly #abort = new AbortController();

  constructor(ws: WebSocket, clientId: string, identity: Identity, codec: Codec) {
    this.#ws = ws;
    this.clientId = clientId;
    this.identity = identity;
    this.codec = codec;
    this.ctx = Object.freeze({ clientId, identity, signal: this.#abort.signal });
  }

  get open(): boolean {
    return this.#ws.readyState === 1;
  }

  /** Encodes and sends one frame. */
  send(frame: ServerFrame): void {
    this.sendEncoded(this.codec.encode(frame));
  }

  /** Sends a payload encoded once for many connections (fan-out). */
  sendEncoded(payload: Encoded | Buffer): void {
    if (this.#ws.readyState !== 1) return;
    this.#ws.send(payload, { binary: this.codec.binary });
  }

  reply(id: number, output: unknown): void {
    this.send(output === undefined ? { t: 'ok', id } : { t: 'ok', id, output });
  }

  fail(frame: ErrFrame): void {
    this.send(frame);
  }

  /** Marks the peer alive; called for every message and pong. */
  alive(): void {
    this.seen = true;
    if (this.pingTimer) {
      clearTimeout(this.pingTimer);
      this.pingTimer = undefined;
    }
  }

  /** Starts the close handshake. */
  close(code: number, reason: string): void {
    if (this.#ws.readyState <= 1) this.#ws.close(code, reason);
  }

  /** Drops the TCP connection without a close handshake (dead peers). */
  terminate(): void {
    this.#ws.terminate();
  }

  /** Runs `cb` once the socket has closed (at once when it already has). */
  onClosed(cb: () => void): void {
    if (this.#ws.readyState === 3) cb();
    else this.#ws.once('close', cb);
  }

  ping(): void {
    if (this.#ws.readyState === 1) this.#ws.ping();
  }

  /** Called once when the socket has closed: aborts handlers' signals and stops timers. */
  dispose(): void {
    if (this.pingTimer) clearTimeout(this.pingTimer);
    this.pingTimer = undefined;
    this.#abort.abort();
  }

  /** Entry point for every inbound message. */
  receive(data: Buffer, isBinary: boolean, sink: FrameSink<Identity>): void {
    // ws keeps emitting 'message' for frames that arrive after close() started the close handshake
    // (e.g. the frames a peer pipelined behind a malformed one). The connection is over for us:
    // running them would execute commands for a peer we already refused (docs/protocol.md §5).
    if (this.#ws.readyState !== 1) return;
    this.alive();
    const decoded = this.codec.decode(isBinary ? data : data.toString('utf8'), isBinary);
    if (!decoded.ok) return this.close(decoded.code, decoded.reason);
    const v = validateClientFrame(decoded.value);
    if (!v.ok) {
      if (v.fault.kind === 'close') return this.close(v.fault.code, v.fault.reason);
      return this.fail(v.fault.frame);
    }
    sink.handle(this, v.frame);
  }
}
