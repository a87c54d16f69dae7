/**
 * One SSE session's downstream as a {@link TransportSocket} (docs/protocol.md §8): every frame the
 * core sends becomes one event of a `text/event-stream` response body. The body is a pull stream:
 * the HTTP side (net/node-http.ts on Node, Bun.serve on Bun) reads it as fast as the peer takes the
 * bytes, so what it has not read yet is exactly what the peer has not received, and
 * `bufferedAmount` reports it to the core's slow-consumer policy like a WebSocket's send buffer.
 */
import { ReadyState } from '../../protocol/close-codes.js';
import { SseEvent, sseEvent } from '../../protocol/sse.js';
import type { PreparedFrame, TransportReadyState, TransportSocket } from './types.js';

/** What a socket tells its session about itself. */
export interface SseSocketEvents {
  /** The reader took everything queued: the core may lift a slow-consumer watch. */
  drain(): void;
  /** The socket closed, however (exactly once): the code and reason the core is told. */
  closed(code: number, reason: string): void;
}

const NL = 0x0a;
const CR = 0x0d;
const DATA = Buffer.from('data: ');
const END = Buffer.from('\n\n');

/**
 * Fan-out frames as SSE events, encoded once per frame for every session it is sent to (a
 * prepared frame is one publish): the bytes, or the text they hold when that text needs splitting.
 */
const encoded = new WeakMap<PreparedFrame, Buffer>();

/** The SSE event bytes of one message: a text frame as `data:`, a binary one as base64 under `event: b`. */
function eventBytes(payload: string | Uint8Array, binary: boolean): Buffer {
  if (binary) {
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    return Buffer.from(sseEvent(bytes.toString('base64'), SseEvent.BINARY));
  }
  if (typeof payload === 'string') return Buffer.from(sseEvent(payload));
  // A text frame's UTF-8 bytes: JSON never holds a raw line break, so they go out as they are.
  if (payload.includes(NL) || payload.includes(CR)) return Buffer.from(sseEvent(Buffer.from(payload).toString('utf8')));
  return Buffer.concat([DATA, payload, END]);
}

/** The downstream of one SSE session. */
export class SseSocket implements TransportSocket {
  /** The core's connection, as `accept`'s `open` returned it. */
  conn: unknown;
  readyState: TransportReadyState = ReadyState.OPEN;
  readonly remoteAddress: string | undefined;
  /** A runtime's native topic publish (Bun's) reaches WebSockets only. */
  readonly nativeTopics = false;
  /** The response body the HTTP side streams. */
  readonly body: ReadableStream<Uint8Array>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  /** Events of this turn of the event loop, written out together at its end. */
  #parts: Buffer[] = [];
  #partBytes = 0;
  /** Bytes handed to the body stream so far. */
  #enqueued = 0;
  /** Something was written since the last keep-alive tick. */
  #active = true;
  /** terminate() errored the body (a close() before it may have left events queued). */
  #terminated = false;
  readonly #events: SseSocketEvents;

  constructor(remoteAddress: string | undefined, events: SseSocketEvents) {
    this.remoteAddress = remoteAddress;
    this.#events = events;
    this.body = new ReadableStream<Uint8Array>(
      {
        start: (c) => void (this.#controller = c),
        // The reader emptied the queue (high-water mark 0: pull means "nothing left").
        pull: () => this.#events.drain(),
        // The HTTP side stopped reading: the peer left.
        cancel: () => this.gone(),
      },
      { highWaterMark: 0, size: (chunk) => chunk.byteLength },
    );
  }

  /** Bytes in the stream's queue, not yet taken by the HTTP side. */
  get #queued(): number {
    const d = this.readyState === ReadyState.OPEN ? this.#controller.desiredSize : 0;
    return d === null || d >= 0 ? 0 : -d;
  }

  get bufferedAmount(): number {
    return this.#partBytes + this.#queued;
  }

  get written(): number {
    return this.#enqueued - this.#queued;
  }

  send(payload: string | Uint8Array, binary: boolean): void {
    if (this.readyState !== ReadyState.OPEN) return;
    this.#push(eventBytes(payload, binary));
  }

  sendFrame(frame: PreparedFrame): void {
    if (this.readyState !== ReadyState.OPEN) return;
    let bytes = encoded.get(frame);
    if (!bytes) encoded.set(frame, (bytes = eventBytes(frame.payload, frame.binary)));
    this.#push(bytes);
  }

  /** Writes an event the fallback adds to the frames (the session event, keep-alive comments). */
  sendRaw(text: string): void {
    if (this.readyState !== ReadyState.OPEN) return;
    this.#push(Buffer.from(text));
  }

  ping(): void {
    this.sendRaw(sseEvent('', SseEvent.PING));
  }

  /** A keep-alive tick: a comment on a stream that carried nothing since the previous one. */
  keepalive(): void {
    if (!this.#active) this.sendRaw(':\n\n');
    this.#active = false;
  }

  close(code: number, reason: string): void {
    if (this.readyState !== ReadyState.OPEN) return;
    this.#push(Buffer.from(sseEvent(JSON.stringify({ code, reason }), SseEvent.CLOSE)));
    this.#flush();
    this.readyState = ReadyState.CLOSED;
    // The queued events still go out: the stream ends after them.
    this.#controller.close();
    this.#closed(code, reason);
  }

  terminate(): void {
    // Apart from the close state: a socket closed with events still queued (a slow consumer's
    // 4001) is terminated after its linger, and that must still end the response.
    if (this.#terminated) return;
    this.#terminated = true;
    this.#parts = [];
    this.#partBytes = 0;
    // An errored body ends the response without its remaining events (the peer observes 1006);
    // after close() it drops what the peer never read (a no-op once the stream ended).
    this.#controller.error(new Error('terminated'));
    if (this.readyState === ReadyState.CLOSED) return;
    this.readyState = ReadyState.CLOSED;
    this.#closed(1006, '');
  }

  /** The peer left (its request aborted, or the HTTP side cancelled the body). */
  gone(): void {
    if (this.readyState === ReadyState.CLOSED) return;
    this.readyState = ReadyState.CLOSED;
    this.#parts = [];
    this.#partBytes = 0;
    this.#closed(1006, '');
  }

  #closed(code: number, reason: string): void {
    // Reported on the next turn, as a WebSocket's close is: the core may be inside a send loop.
    setImmediate(() => this.#events.closed(code, reason));
  }

  #push(bytes: Buffer): void {
    this.#active = true;
    if (this.#parts.push(bytes) === 1) setImmediate(() => this.#flush());
    this.#partBytes += bytes.byteLength;
  }

  /** Everything sent in one turn of the event loop goes to the body as one chunk (one write). */
  #flush(): void {
    if (this.#parts.length === 0 || this.readyState !== ReadyState.OPEN) return;
    const chunk = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts, this.#partBytes);
    this.#parts = [];
    this.#partBytes = 0;
    this.#enqueued += chunk.byteLength;
    this.#controller.enqueue(chunk);
  }
}
