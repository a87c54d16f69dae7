/**
 * `switchboard/client` under Node (the `node` export condition): the same client over `ws`, which
 * Node 20 needs (no global WebSocket) and which, unlike browsers, reports the HTTP status of a
 * refused handshake so 401/403 can be final.
 */
import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { describeAttempt } from './attempt-error.js';
import { createClient } from './client.js';
import type { ClientOptions, UrlProvider } from './options.js';
import type { SocketFactory, WebSocketLike } from './socket.js';
import type { CommandsOf, MemberInfoOf, StreamsOf, TopicsOf, UploadsOf } from '../protocol/api.js';
import type { Client } from './types.js';

/** A socket whose frames of this tick wait for one write at its end. */
type Corkable = { cork(): void; uncork(): void };

/** Sockets corked in this tick; one `nextTick` uncorks them all. */
const corked = new Set<Corkable>();

function uncorkAll(): void {
  const sockets = [...corked];
  corked.clear();
  for (const socket of sockets) socket.uncork();
}

/** `ws`'s WebSocket without the members {@link NodeSocket} replaces. */
const WsBase = WebSocket as unknown as new (
  ...args: ConstructorParameters<typeof WebSocket>
) => Omit<WebSocket, 'onopen' | 'onmessage' | 'onclose' | 'onerror' | 'send' | 'emit' | 'binaryType' | 'protocol'> & {
  binaryType: string;
  readonly protocol: string;
};
/** EventEmitter's `emit`, which `ws`'s WebSocket inherits (the Node entry imports `ws` alone). */
const wsEmit: (this: unknown, event: string | symbol, ...args: unknown[]) => boolean = (Object.getPrototypeOf(WebSocket.prototype) as { emit: (this: unknown, event: string | symbol, ...args: unknown[]) => boolean }).emit;
const wsSend: (this: unknown, data: string | ArrayBufferLike | Uint8Array) => void = WebSocket.prototype.send;

/**
 * The client's socket under Node: `ws`'s WebSocket with the WHATWG handler slots as plain fields,
 * called from its `emit`. `ws`'s own `onmessage` & co. would add a listener and a wrapper closure
 * per handler, and an event object per message; the thousands of connections of a load generator
 * share one prototype instead (docs/performance.md, "Idle connections").
 */
class NodeSocket extends WsBase implements WebSocketLike {
  onopen: WebSocketLike['onopen'] = null;
  onmessage: WebSocketLike['onmessage'] = null;
  onclose: WebSocketLike['onclose'] = null;
  onerror: WebSocketLike['onerror'] = null;
  owner: unknown = undefined;
  pings = 0;
  // Set on failures only: no slot in every socket until then.
  declare httpStatus?: number;
  declare httpReason?: string;
  declare errorCode?: string;

  constructor(url: string, protocols: string[]) {
    super(url, protocols, { perMessageDeflate: false });
  }

  /**
   * Every event `ws` emits passes here: the client's take the handler slots directly, without a
   * listener per socket (`ws` reads only `emit`'s return value, for 'unexpected-response').
   */
  emit(event: string | symbol, a?: unknown, b?: unknown): boolean {
    switch (event) {
      case 'message':
        // As ws's own MessageEvent: text as a string, binary as binaryType says (the client sets 'arraybuffer').
        this.onmessage?.({ data: b ? a : String(a) });
        return true;
      case 'open':
        this.onopen?.({ type: 'open' });
        return true;
      case 'close':
        this.onclose?.({ code: a as number, reason: String(b) });
        return true;
      case 'error':
        // The system cause of a network failure (ECONNREFUSED), which browsers never expose.
        this.errorCode ??= (a as { code?: string } | undefined)?.code;
        this.onerror?.(a);
        return true;
      case 'ping':
        // The server's protocol Pings, which the heartbeat counts as signs of life (docs/client.md, "Heartbeat").
        this.pings++;
        return true;
      case 'unexpected-response':
        this.refused(b as IncomingMessage); // (request, response)
        return true;
    }
    return wsEmit.call(this, event, a, b);
  }

  private refused(res: IncomingMessage): void {
    readRefusal(this, res);
  }

  /**
   * Frames sent in one tick (pipelined calls) leave in one writev at its end, not one syscall
   * each, as the server does (docs/performance.md). ws corks only around each frame.
   */
  send(data: string | ArrayBufferLike | Uint8Array): void {
    const socket = (this as unknown as { _socket?: Partial<Corkable> })._socket;
    if (typeof socket?.cork === 'function' && !corked.has(socket as Corkable)) {
      if (corked.size === 0) process.nextTick(uncorkAll);
      corked.add(socket as Corkable);
      socket.cork();
    }
    wsSend.call(this, data);
  }
}

const wsFactory: SocketFactory = (url, protocols) => new NodeSocket(url, protocols);

/** Keeps the status and token-refusal category of a refused upgrade on the socket, then ends it. */
function readRefusal(s: WebSocketLike & { terminate(): void }, res: IncomingMessage): void {
  s.httpStatus = res.statusCode;
  // The server names why it refused a token (docs/protocol.md §1.2); browsers never see this header.
  const m = /error_description="([^"]*)"/.exec(String(res.headers['www-authenticate'] ?? ''));
  if (m) s.httpReason = m[1];
  res.resume();
  s.terminate(); // emits 'close' (1006); the client reads httpStatus there
}

/** What an app's WebSocket class is when it is `ws`'s or one derived from it (to set `origin` or headers). */
interface WsEmitter {
  on(event: 'unexpected-response', listener: (req: unknown, res: IncomingMessage) => void): unknown;
  on(event: 'error', listener: (err: unknown) => void): unknown;
  terminate(): void;
}

/**
 * A socket of the app's `WebSocket` class. When that class is `ws`'s (or extends it), the socket
 * reports what `ws` knows as the client's own does — the HTTP status of a refused upgrade and the
 * system cause of a network failure — so the attempt's error is as precise (docs/client.md, "When
 * things go wrong"); any other class is used as it is.
 */
function adopt(s: WebSocketLike): WebSocketLike {
  const e = s as WebSocketLike & Partial<WsEmitter>;
  if (typeof e.on !== 'function' || typeof e.terminate !== 'function') return s;
  const ws = e as WebSocketLike & WsEmitter;
  ws.on('unexpected-response', (_req, res) => readRefusal(ws, res));
  ws.on('error', (err) => {
    s.errorCode ??= (err as { code?: string } | undefined)?.code;
  });
  return s;
}

/**
 * Connects to a Switchboard server. Returns at once; the client opens in the background, queues
 * requests until then, and reconnects by itself.
 *
 * @example
 * import { connect } from 'switchboard/client';
 * const client = connect('ws://127.0.0.1:8080/ws', { token: 'secret' });
 * console.log(await client.call('add', { a: 2, b: 3 }));
 */
export function connect<Api = unknown>(
  url: UrlProvider,
  options: ClientOptions = {},
): Client<CommandsOf<Api>, StreamsOf<Api>, UploadsOf<Api>, TopicsOf<Api>, MemberInfoOf<Api>> {
  const factory: SocketFactory = options.WebSocket
    ? (u, protocols) => adopt(new options.WebSocket!(u, protocols))
    : wsFactory;
  return createClient(url, options, factory, describeAttempt);
}

export * from './exports.js';
