/**
 * The SSE + HTTP fallback transport (docs/protocol.md §8, docs/server.md "SSE fallback"): a third
 * adapter of the transport boundary (types.ts) beside node.ts and bun.ts, written once on the
 * WHATWG `Request`/`Response` of the server's HTTP routes (net/http-routes.ts), so it serves on Node
 * and on Bun alike.
 *
 * - `GET <path>/sse` is the upgrade: the request goes through the core's own upgrade hook (the same
 *   admission, origin check, codec negotiation and authentication as a WebSocket, with the
 *   `Switchboard-Protocol` header standing for `Sec-WebSocket-Protocol`); accepted, the response is
 *   an event stream whose first event names the session, and the connection is the core's like any
 *   other.
 * - `POST <path>/sse?session=…&seq=…` carries client frames, one per line. The session id starts
 *   with the id of the node holding it: a POST that reached another node is forwarded through the
 *   engine (`Engine.relay`), and `seq` puts POSTs back in order and drops a retried one.
 */
import { randomBytes } from 'node:crypto';
import { sessionNode, readBody, sseEvent, SseEvent, SSE_PATH_SUFFIX, SSE_PROTOCOL_HEADER } from '../../protocol/sse.js';
import { CloseCode, ReadyState } from '../../protocol/close-codes.js';
import { utf8StrictDecoder } from '../../protocol/utf8.js';
import type { HttpRequestInfo, HttpRoutes } from '../../net/http-routes.js';
import { originAllowed } from '../../net/origin.js';
import type { Logger } from '../../shared/logger.js';
import type { ResolvedSseOptions } from '../sse-options.js';
import { refusalResponse } from './bun-request.js';
import { SseSocket } from './sse-socket.js';
import type { PendingUpgrade, Refusal, TransportHooks, UpgradeRequest } from './types.js';

/** What the fallback needs from `createServer`. */
export interface SseFallbackOptions {
  /** The WebSocket endpoint's path; the fallback answers at `path` + `/sse`. */
  path: string;
  routes: HttpRoutes;
  options: ResolvedSseOptions;
  /** Largest message in bytes (`limits.maxPayload`): a larger one in a POST closes with 1009. */
  maxPayload: number;
  origins: ReadonlySet<string> | undefined;
  /** This node's id: the first part of every session id it hands out. */
  nodeId: string;
  /** Node-to-node delivery (`Engine.relay`); absent, a POST for another node's session is 404. */
  relay: ((nodeId: string, payload: Uint8Array) => boolean | Promise<boolean>) | undefined;
  logger: Logger;
}

/** The fallback of one server. */
export interface SseFallback {
  /** Starts answering through the core's hooks (the same ones the WebSocket transport gets). */
  start<C>(hooks: TransportHooks<C>): void;
  /** A POST another node relayed here (`EngineNode.relayed`). */
  relayed(payload: Uint8Array): void;
  /** Sessions open on this node. */
  readonly sessions: number;
  /** Stops the keep-alive timer and the routes (the core closed the connections). */
  close(): void;
}

/** One open session on this node. */
interface Session {
  socket: SseSocket;
  conn: unknown;
  /** The last POST sequence number applied. */
  applied: number;
  /** POSTs that arrived before a predecessor, by sequence number. */
  held: Map<number, Uint8Array>;
  gapTimer: ReturnType<typeof setTimeout> | undefined;
}

/** Response headers of the event stream: no caching, no proxy buffering (nginx's `X-Accel-Buffering`). */
const STREAM_HEADERS = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  'X-Accel-Buffering': 'no',
};

const text = (status: number, message: string, headers: Record<string, string> = {}): Response =>
  new Response(`${message}\n`, { status, headers: { ...headers, 'Content-Type': 'text/plain; charset=utf-8' } });

/** The relayed form of a POST: `<session>\n<seq>\n` and the body's bytes. */
function encodeRelay(session: string, seq: number, body: Uint8Array): Uint8Array {
  const head = Buffer.from(`${session}\n${seq}\n`);
  return Buffer.concat([head, body]);
}

/** Reads at most `max` bytes of a request body; `undefined` when it is longer. */
async function readLimited(request: Request, max: number): Promise<Uint8Array | undefined> {
  const declared = Number(request.headers.get('content-length') ?? 0);
  if (declared > max) return undefined;
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      void reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}

/** Creates the SSE fallback of one server and registers its route. */
export function createSseFallback(o: SseFallbackOptions): SseFallback {
  const { options, logger, nodeId } = o;
  const sessions = new Map<string, Session>();
  let hooks: TransportHooks<unknown> | undefined;
  const keepalive = setInterval(() => {
    for (const s of sessions.values()) s.socket.keepalive();
  }, options.keepaliveMs);
  keepalive.unref?.();

  /** CORS headers for an allowed cross-origin page (the fallback is `fetch`, which CORS governs). */
  function cors(request: Request): Record<string, string> {
    const origin = request.headers.get('origin');
    if (!origin) return {};
    return { 'Access-Control-Allow-Origin': origin, 'Access-Control-Allow-Credentials': 'true', Vary: 'Origin' };
  }

  /** GET: the upgrade, answered by the core through a {@link PendingUpgrade}. */
  function open(request: Request, info: HttpRequestInfo): Promise<Response> {
    const h = hooks;
    if (!h) return Promise.resolve(text(503, 'Server is starting', { 'Retry-After': '1' }));
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => {
      if (name !== 'sec-websocket-protocol') headers[name] = value;
    });
    const offered = request.headers.get(SSE_PROTOCOL_HEADER);
    if (offered !== null) headers['sec-websocket-protocol'] = offered;
    const url = new URL(request.url);
    const view: UpgradeRequest = { url: url.pathname + url.search, method: 'GET', headers, socket: { remoteAddress: info.remoteAddress } };
    const extra = cors(request);
    return new Promise<Response>((resolve) => {
      let answered = false;
      const answer = (r: Response) => {
        if (answered) return false;
        answered = true;
        resolve(r);
        return true;
      };
      const pending: PendingUpgrade<unknown> = {
        request: view,
        get gone() {
          return request.signal.aborted;
        },
        refuse(r: Refusal) {
          answer(refusalResponse({ ...r, headers: { ...r.headers, ...extra } }));
        },
        accept(protocol, openConn) {
          if (request.signal.aborted || answered) return answer(text(499, 'Client left')), Promise.resolve(false);
          const id = `${nodeId}.${randomBytes(18).toString('base64url')}`;
          const session: Session = { socket: undefined as unknown as SseSocket, conn: undefined, applied: 0, held: new Map(), gapTimer: undefined };
          const socket = new SseSocket(info.remoteAddress, {
            drain: () => h.drain(session.conn),
            closed: (code, reason) => {
              sessions.delete(id);
              clearTimeout(session.gapTimer);
              session.held.clear();
              h.close(session.conn, code, reason);
            },
          });
          session.socket = socket;
          sessions.set(id, session);
          socket.sendRaw(sseEvent(JSON.stringify({ session: id, protocol, maxBody: options.maxBodyBytes }), SseEvent.SESSION));
          session.conn = socket.conn = openConn(socket);
          request.signal.addEventListener('abort', () => socket.gone(), { once: true });
          answer(new Response(socket.body, { status: 200, headers: { ...STREAM_HEADERS, ...extra } }));
          return Promise.resolve(true);
        },
      };
      try {
        h.upgrade(pending);
      } catch (err) {
        logger.error({ err }, 'SSE fallback: upgrade failed');
        answer(text(500, 'Internal Server Error'));
      }
    });
  }

  /** Hands a POST body's messages to the core, in order; an empty body is a pong. */
  function apply(s: Session, body: Uint8Array): void {
    const { socket, conn } = s;
    let content: string;
    try {
      content = utf8StrictDecoder.decode(body);
    } catch {
      return socket.close(CloseCode.INVALID_PAYLOAD, 'POST body is not UTF-8');
    }
    const messages = readBody(content);
    if (messages.length === 0) return hooks!.pong(conn);
    for (const m of messages) {
      if (socket.readyState !== ReadyState.OPEN) return;
      if (!m.ok) return socket.close(CloseCode.INVALID_PAYLOAD, 'malformed base64 line');
      const size = typeof m.data === 'string' ? Buffer.byteLength(m.data) : m.data.byteLength;
      if (size > o.maxPayload) return socket.close(CloseCode.MESSAGE_TOO_BIG, 'message too big');
      hooks!.message(conn, m.data, m.binary);
    }
  }

  /**
   * A POST for a session of this node, local or relayed: applied in `seq` order; a repeat of an
   * applied one is dropped; one ahead of a missing predecessor waits for it (bounded in count and
   * time). Returns the HTTP status of the answer.
   *
   * A relayed POST may wait twice as far ahead (`2 × maxHeldPosts`): its sender was answered 202
   * already and cannot retry a 429, so the bound is wider, still bounded (docs/protocol.md §8.3).
   */
  function deliver(session: string, seq: number, body: Uint8Array, relayed = false): number {
    const s = sessions.get(session);
    if (!s || s.socket.readyState !== ReadyState.OPEN) return 404;
    if (seq <= s.applied) return 204;
    if (seq !== s.applied + 1) {
      if (s.held.has(seq)) return 204;
      const cap = relayed ? 2 * options.maxHeldPosts : options.maxHeldPosts;
      if (s.held.size >= cap || seq - s.applied > cap + 1) return 429;
      s.held.set(seq, body);
      s.gapTimer ??= setTimeout(() => s.socket.close(CloseCode.PROTOCOL_ERROR, 'POST sequence gap'), options.reorderTimeoutMs);
      return 202;
    }
    s.applied = seq;
    apply(s, body);
    for (let next = s.held.get(s.applied + 1); next !== undefined; next = s.held.get(s.applied + 1)) {
      s.held.delete(++s.applied);
      apply(s, next);
    }
    if (s.held.size === 0 && s.gapTimer) {
      clearTimeout(s.gapTimer);
      s.gapTimer = undefined;
    }
    return 204;
  }

  /** POST: frames for a session, here or on the node its id names. */
  async function post(request: Request): Promise<Response> {
    const extra = cors(request);
    const url = new URL(request.url);
    const session = url.searchParams.get('session');
    const seq = Number(url.searchParams.get('seq'));
    const node = sessionNode(session);
    if (!node || !Number.isSafeInteger(seq) || seq < 1) return text(400, 'Expected ?session=<id>&seq=<n> (n ≥ 1)', extra);
    const body = await readLimited(request, options.maxBodyBytes);
    if (!body) return text(413, `POST body over ${options.maxBodyBytes} bytes`, { ...extra, Connection: 'close' });
    if (node === nodeId) {
      const status = deliver(session!, seq, body);
      return status === 404 ? text(404, 'Unknown or expired session: open a new one', extra) : status === 429 ? text(429, 'Too many POSTs ahead of a missing one', { ...extra, 'Retry-After': '1' }) : new Response(null, { status, headers: extra });
    }
    if (!o.relay) return text(404, 'Unknown session (held by another node, and this engine cannot forward)', extra);
    let taken: boolean;
    try {
      taken = await o.relay(node, encodeRelay(session!, seq, body));
    } catch (err) {
      logger.warn({ err, node }, 'SSE fallback: could not forward a POST to its node');
      return text(503, 'Could not forward to the node holding the session', { ...extra, 'Retry-After': '1' });
    }
    return taken ? new Response(null, { status: 202, headers: extra }) : text(404, 'Unknown or expired session: open a new one', extra);
  }

  async function handle(request: Request, info: HttpRequestInfo): Promise<Response> {
    // The upgrade (GET) is screened by the core like a WebSocket's, origin included, and logged.
    if (request.method === 'GET') return open(request, info);
    const req = { headers: { origin: request.headers.get('origin') ?? undefined } };
    if (!originAllowed(req, o.origins)) return text(403, 'Origin not allowed');
    if (request.method === 'OPTIONS') {
      return new Response(null, {
        status: 204,
        headers: {
          ...cors(request),
          'Access-Control-Allow-Methods': 'GET, POST',
          'Access-Control-Allow-Headers': `${SSE_PROTOCOL_HEADER}, authorization, content-type`,
          'Access-Control-Max-Age': '600',
        },
      });
    }
    if (request.method === 'POST') return post(request);
    return text(405, 'Method Not Allowed', { Allow: 'GET, POST, OPTIONS' });
  }

  const remove = o.routes.add(o.path.replace(/\/+$/, '') + SSE_PATH_SUFFIX, handle);

  return {
    start(h) {
      hooks = h as TransportHooks<unknown>;
    },
    relayed(payload) {
      const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
      const a = bytes.indexOf(0x0a);
      const b = a < 0 ? -1 : bytes.indexOf(0x0a, a + 1);
      if (b < 0) return logger.warn({}, 'SSE fallback: undecodable relayed POST');
      const session = bytes.toString('utf8', 0, a);
      const seq = Number(bytes.toString('utf8', a + 1, b));
      const status = deliver(session, seq, bytes.subarray(b + 1), true);
      // A relayed POST for a session that ended here is dropped: its stream ended, which its client
      // saw. One refused while the session lives is lost (its sender answered 202): the gap it
      // leaves closes the session with 1002 after `reorderTimeoutMs`. Never the body or the secret.
      if (status === 429) logger.warn({ node: sessionNode(session), seq, status }, 'SSE fallback: relayed POST refused, too far ahead of a missing one');
    },
    get sessions() {
      return sessions.size;
    },
    close() {
      clearInterval(keepalive);
      remove();
    },
  };
}
