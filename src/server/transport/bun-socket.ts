/**
 * One WebSocket of `Bun.serve` as the core's {@link TransportSocket}. Bun frames and writes in
 * native code (uWebSockets); this wrapper only maps the core's calls onto it and keeps the
 * progress count the slow-consumer check reads (docs/server.md, "Running on Bun").
 */
import { CloseCode } from '../../protocol/close-codes.js';
import type { BunServerWebSocket } from './bun-api.js';
import type { PreparedFrame, TransportReadyState, TransportSocket } from './types.js';

/** A frame prepared by the Bun transport: a text frame keeps its string, which is what Bun sends text from. */
export interface BunPreparedFrame extends PreparedFrame {
  readonly text: string | undefined;
}

/** How long a socket closed for a dropped message may linger before it is destroyed (as the core's slow-consumer close). */
const DROP_LINGER_MS = 1_000;

const decoder = new TextDecoder();

/**
 * The core's view of one Bun WebSocket, and what the transport keeps for it: it is the socket's
 * `ws.data` itself: one object per connection, not two (docs/server.md, "Running on Bun", Measured).
 */
export class BunSocket implements TransportSocket {
  /** Set by Bun's `open`, before the core's `open` callback runs. */
  #ws!: BunServerWebSocket<BunSocket>;
  readonly remoteAddress: string | undefined;
  /** The core's `open` callback, until it ran. */
  open: ((socket: TransportSocket) => unknown) | undefined;
  /** The core's connection, once `open` returned it; `undefined` again once the core heard of the close. */
  conn: unknown = undefined;
  /** Settles the core's `accept()` once the socket is open. */
  opened: (() => void) | undefined;
  /** A close Bun reported while `open` still ran (Bun calls `close` synchronously from `ws.close`). */
  early: { code: number; reason: string } | undefined = undefined;
  /** Bytes Bun reported written at once, plus what each `drain` showed leaving the buffer. */
  #written = 0;
  /** The buffered amount at the last `drain`, to measure what left since. */
  #lastBuffered = 0;

  constructor(remoteAddress: string | undefined, open: (socket: TransportSocket) => unknown, opened: () => void) {
    this.remoteAddress = remoteAddress;
    this.open = open;
    this.opened = opened;
  }

  /** Bun opened the WebSocket this object is the data of. */
  attach(ws: BunServerWebSocket<BunSocket>): void {
    this.#ws = ws;
  }

  /** The Bun WebSocket, for native topic subscriptions. */
  get raw(): BunServerWebSocket<BunSocket> {
    return this.#ws;
  }

  get readyState(): TransportReadyState {
    return this.#ws.readyState;
  }

  get bufferedAmount(): number {
    // One native call (0 once closed): the topic index reads it for every subscriber of a native publish.
    return this.#ws.getBufferedAmount();
  }

  get written(): number {
    return this.#written;
  }

  send(payload: string | Uint8Array, binary: boolean): void {
    if (this.#ws.readyState !== 1) return;
    // Bun sends a text frame only from a string; bytes would go out as a binary frame.
    this.#sent(binary ? this.#ws.sendBinary(toBytes(payload)) : this.#ws.sendText(typeof payload === 'string' ? payload : decoder.decode(payload)));
  }

  sendFrame(frame: PreparedFrame): void {
    if (this.#ws.readyState !== 1) return;
    const text = (frame as Partial<BunPreparedFrame>).text;
    this.#sent(frame.binary ? this.#ws.sendBinary(frame.payload) : this.#ws.sendText(text ?? decoder.decode(frame.payload)));
  }

  /**
   * Bun's answer to a send: bytes written now, -1 queued (the socket is behind; `drain` follows), 0
   * dropped. A drop on an open socket means it passed `backpressureLimit` (the core's hard cap):
   * the message is lost, so the connection must end as a slow consumer, as on Node.
   */
  #sent(result: number): void {
    if (result > 0) this.#written += result;
    else if (result === 0 && this.#ws.readyState === 1) {
      this.#ws.close(CloseCode.SLOW_CONSUMER, 'slow consumer');
      setTimeout(() => this.terminate(), DROP_LINGER_MS).unref?.();
    }
  }

  /** Bun's `drain`: some of the buffer left. Returns whether it is now empty. */
  drained(): boolean {
    const now = this.bufferedAmount;
    // A drain always means progress, even when new sends refilled the buffer meanwhile.
    this.#written += Math.max(1, this.#lastBuffered - now);
    this.#lastBuffered = now;
    return now === 0;
  }

  close(code: number, reason: string): void {
    const state = this.#ws.readyState;
    if (state === 0 || state === 1) this.#ws.close(code, reason);
  }

  terminate(): void {
    if (this.#ws.readyState !== 3) this.#ws.terminate();
  }

  ping(): void {
    if (this.#ws.readyState === 1) this.#ws.ping();
  }
}

function toBytes(payload: string | Uint8Array): Uint8Array {
  return typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
}
