/**
 * One `ws` WebSocket behind the transport boundary (docs/server.md, "Runtimes and transports"):
 * sends coalesced per event-loop turn (or per `writeDelayMs`), and a fan-out frame built once and
 * written straight to the TCP socket when `ws`'s own sender is idle (docs/performance.md,
 * "Frame once").
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { ReadyState } from '../../protocol/close-codes.js';
import { buildFrame } from './frame.js';
import type { PreparedFrame, TransportReadyState, TransportSocket } from './types.js';

/**
 * ws's underlying socket (a `net.Socket`): corked to batch writes, written to directly for a
 * prepared frame, and read for how many bytes the operating system accepted. `_bytesDispatched`
 * (bytes handed to libuv) and the handle's `writeQueueSize` (the part libuv could not write yet)
 * are Node internals that `bytesWritten` and `bufferSize` are built on; they are the only view of
 * progress inside one large write, which `writableLength` and write callbacks only show once the
 * whole write completes.
 */
export type WireSocket = Pick<Socket, 'cork' | 'uncork' | 'write' | 'on' | 'remoteAddress'> & {
  _bytesDispatched?: number;
  _handle?: { writeQueueSize?: number } | null;
};

/**
 * The parts of ws's `Sender` (ws/lib/sender.js) that say whether a frame written around it would
 * land between two frames of its own: `_state` 0 (DEFAULT) when no message is being deflated or
 * read from a Blob, `_queue` the messages waiting behind that one, `_firstFragment` false in the
 * middle of a fragmented message. Checked to exist once per socket: if a ws release renames them,
 * every frame takes ws's own path.
 */
interface SenderState {
  _state: number;
  _queue: unknown[];
  _firstFragment: boolean;
}

/** The `Sender` state in which it writes nothing of its own asynchronously. */
const SENDER_IDLE = 0;

/** Where a socket's writes wait to be flushed together (see `createWriteBatch` in node.ts). */
export interface WriteBatch {
  /** Schedules `socket`'s flush with the others of this turn (or delay window). */
  add(socket: NodeSocket<unknown>): void;
}

/** A message prepared once for many sockets; its frame is built on the first direct write. */
export class NodeFrame implements PreparedFrame {
  readonly payload: Uint8Array;
  readonly binary: boolean;
  #wire: Buffer | undefined;

  constructor(payload: Uint8Array, binary: boolean) {
    this.payload = payload;
    this.binary = binary;
  }

  /** The whole RFC 6455 frame, the same Buffer for every socket it is written to. */
  get wire(): Buffer {
    return (this.#wire ??= buildFrame(this.payload, this.binary));
  }
}

/** A `ws` WebSocket as a {@link TransportSocket}; `conn` is the core's connection for it. */
export class NodeSocket<C> implements TransportSocket {
  /** The core's connection, as `accept`'s `open` returned it. */
  conn!: C;
  readonly ws: WebSocket;
  /** ws's socket (`_socket`, set before ws hands the WebSocket over); undefined if ws ever renames it. */
  readonly #net: WireSocket | undefined;
  /** ws's sender when its state can be read and no extension (permessage-deflate) transforms frames. */
  readonly #sender: SenderState | undefined;
  readonly #batch: WriteBatch;
  /** Writes are corked and a flush is scheduled. */
  #corked = false;

  constructor(ws: WebSocket, batch: WriteBatch) {
    this.ws = ws;
    this.#batch = batch;
    const internals = ws as unknown as { _socket?: Partial<WireSocket>; _sender?: Partial<SenderState>; _extensions?: object };
    const net = internals._socket;
    this.#net = typeof net?.cork === 'function' && typeof net.uncork === 'function' && typeof net.write === 'function' ? (net as WireSocket) : undefined;
    const sender = internals._sender;
    const plain = internals._extensions !== undefined && Object.keys(internals._extensions).length === 0;
    this.#sender =
      plain && this.#net && typeof sender?._state === 'number' && Array.isArray(sender._queue) && typeof sender._firstFragment === 'boolean'
        ? (sender as SenderState)
        : undefined;
  }

  get readyState(): TransportReadyState {
    return this.ws.readyState as TransportReadyState;
  }

  /** ws counts the socket's writable buffer (so corked and directly written frames too) plus its sender's queue. */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  get written(): number {
    const net = this.#net;
    return net ? (net._bytesDispatched ?? 0) - (net._handle?.writeQueueSize ?? 0) : 0;
  }

  get remoteAddress(): string | undefined {
    return this.#net?.remoteAddress;
  }

  send(payload: string | Uint8Array, binary: boolean): void {
    if (this.ws.readyState !== ReadyState.OPEN) return;
    this.#cork();
    this.ws.send(payload, { binary });
  }

  sendFrame(frame: PreparedFrame): void {
    if (this.ws.readyState !== ReadyState.OPEN) return;
    this.#cork();
    const sender = this.#sender;
    // The same bytes ws would write (test/frame.property.test.ts), written where ws would write
    // them: only when its sender holds nothing that must go first and is not inside a message.
    if (sender && sender._state === SENDER_IDLE && sender._queue.length === 0 && sender._firstFragment) {
      this.#net!.write(frame instanceof NodeFrame ? frame.wire : buildFrame(frame.payload, frame.binary));
    } else {
      this.ws.send(frame.payload, { binary: frame.binary });
    }
  }

  close(code: number, reason: string): void {
    const state = this.ws.readyState;
    if (state !== ReadyState.CONNECTING && state !== ReadyState.OPEN) return;
    // What is still corked leaves now, ahead of the close frame, not a delay window later.
    this.flush();
    this.ws.close(code, reason);
  }

  terminate(): void {
    this.ws.terminate();
  }

  ping(): void {
    if (this.ws.readyState === ReadyState.OPEN) this.ws.ping();
  }

  /**
   * Everything sent to this peer in one turn of the event loop (answers to a batch of pipelined
   * calls, several publishes fanned out from one read), or within `writeDelayMs`, leaves in one
   * writev instead of one syscall per frame: ws corks only around each frame's header and payload.
   * `bufferedAmount` still counts the corked bytes. Measured in docs/performance.md.
   */
  #cork(): void {
    if (this.#corked || !this.#net) return;
    this.#corked = true;
    this.#net.cork();
    this.#batch.add(this as NodeSocket<unknown>);
  }

  /** Writes out what {@link #cork} held; called by the batch, and before a close frame. */
  flush(): void {
    if (!this.#corked) return;
    this.#corked = false;
    this.#net!.uncork();
  }
}
