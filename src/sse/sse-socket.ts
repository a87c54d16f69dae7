/**
 * The client side of the SSE + HTTP fallback (docs/protocol.md §8) as a {@link WebSocketLike}, so
 * the client's connection code drives it exactly as it drives a WebSocket: a `fetch` of
 * `<path>/sse` whose event stream carries the server's frames, and POSTs carrying the client's,
 * one at a time, each with the next sequence number (retried with the same one after a network
 * failure: the server drops a repeat). Runtime-free: `fetch`, `ReadableStream` and `TextDecoder`
 * are in every runtime the client supports.
 */
import { bodyLine, createEventParser, fromBase64, SseEvent, SSE_PATH_SUFFIX, SSE_PROTOCOL_HEADER, type ParsedEvent, type SseSession } from '../protocol/sse.js';
import type { WebSocketLike } from '../client/socket.js';

/** `fetch` as the fallback calls it. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** Delays before the retries of a POST that failed on the network (or got 429/503), in ms. */
const RETRY_DELAYS_MS = [50, 200, 500, 1_000];

/** `ws://host/ws?x` → `http://host/ws/sse?x` (and `wss:` → `https:`). */
export function sseUrl(url: string): URL {
  const u = new URL(url);
  u.protocol = u.protocol === 'wss:' ? 'https:' : u.protocol === 'ws:' ? 'http:' : u.protocol;
  u.pathname = u.pathname.replace(/\/+$/, '') + SSE_PATH_SUFFIX;
  u.hash = '';
  return u;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One fallback connection: an event stream down, POSTs up. */
export class SseClientSocket implements WebSocketLike {
  readyState = 0;
  protocol = '';
  binaryType = 'arraybuffer';
  onopen: WebSocketLike['onopen'] = null;
  onmessage: WebSocketLike['onmessage'] = null;
  onclose: WebSocketLike['onclose'] = null;
  onerror: WebSocketLike['onerror'] = null;
  owner: unknown = undefined;
  /** The server's heartbeat pings so far (the client's heartbeat counts them as life). */
  pings = 0;
  declare httpStatus?: number;
  declare httpReason?: string;
  declare errorCode?: string;
  /** Which transport this is. */
  readonly transport = 'sse';
  readonly #abort = new AbortController();
  readonly #fetch: FetchLike;
  readonly #url: URL;
  #session = '';
  #maxBody = 1_048_576;
  #seq = 0;
  /** Lines waiting for the next POST; `#pong` asks for one even when there are none. */
  #lines: string[] = [];
  #pong = false;
  #posting = false;

  constructor(url: string, protocols: string[], fetchImpl: FetchLike) {
    this.#fetch = fetchImpl;
    this.#url = sseUrl(url);
    void this.#run(protocols.join(', '));
  }

  async #run(protocols: string): Promise<void> {
    let res: Response;
    try {
      res = await this.#fetch(this.#url.href, {
        headers: { accept: 'text/event-stream', [SSE_PROTOCOL_HEADER]: protocols },
        signal: this.#abort.signal,
        credentials: 'include',
        cache: 'no-store',
      });
    } catch (err) {
      this.errorCode = (err as { cause?: { code?: string } } | undefined)?.cause?.code;
      return this.#end(1006, '');
    }
    if (!res.ok || !res.body) {
      // Unlike a WebSocket's, a refused fetch shows its status: 401/403/404 can be final.
      this.httpStatus = res.status;
      const m = /error_description="([^"]*)"/.exec(res.headers.get('www-authenticate') ?? '');
      if (m) this.httpReason = m[1];
      void res.body?.cancel().catch(() => {});
      return this.#end(1006, '');
    }
    const parse = createEventParser((e) => this.#event(e));
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || this.readyState === 3) break;
        parse(value);
      }
    } catch {
      // The stream broke (network loss, abort): reported as 1006 below.
    }
    this.#end(1006, '');
  }

  #event(e: ParsedEvent): void {
    if (this.readyState === 3) return;
    switch (e.event) {
      case 'message':
        return this.onmessage?.({ data: e.data });
      case SseEvent.BINARY: {
        const bytes = fromBase64(e.data);
        return this.onmessage?.({ data: bytes ? bytes.buffer : e.data });
      }
      case SseEvent.PING:
        this.pings++;
        // The answer: any POST; an empty one when nothing else is going up.
        this.#pong = true;
        return this.#schedule();
      case SseEvent.SESSION: {
        const s = JSON.parse(e.data) as SseSession;
        this.#session = s.session;
        this.protocol = s.protocol;
        this.#maxBody = s.maxBody;
        this.readyState = 1;
        return this.onopen?.({ type: 'open' });
      }
      case SseEvent.CLOSE: {
        const c = JSON.parse(e.data) as { code: number; reason: string };
        return this.#end(c.code, c.reason);
      }
    }
  }

  send(data: string | ArrayBufferLike | Uint8Array): void {
    if (this.readyState !== 1) return;
    this.#lines.push(bodyLine(typeof data === 'string' ? data : data instanceof Uint8Array ? data : new Uint8Array(data)));
    this.#schedule();
  }

  /** Frames sent in one tick leave in one POST, after the one in flight (POSTs never overlap). */
  #schedule(): void {
    if (this.#posting) return;
    this.#posting = true;
    queueMicrotask(() => void this.#post());
  }

  async #post(): Promise<void> {
    while (this.readyState === 1 && (this.#lines.length > 0 || this.#pong)) {
      let size = 0;
      let n = 0;
      // As many lines as fit the server's limit (at least one: the client checked it against maxPayload).
      while (n < this.#lines.length && (n === 0 || size + this.#lines[n]!.length * 3 + 1 <= this.#maxBody)) size += this.#lines[n++]!.length * 3 + 1;
      const body = this.#lines.splice(0, n).join('\n');
      this.#pong = false;
      const url = `${this.#url.origin}${this.#url.pathname}?session=${encodeURIComponent(this.#session)}&seq=${++this.#seq}`;
      if (!(await this.#deliver(url, body))) return this.#end(1006, 'POST failed');
    }
    this.#posting = false;
  }

  /** One POST, retried with the same sequence number after a network failure, 429 or 503. */
  async #deliver(url: string, body: string): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      if (this.readyState !== 1) return true;
      try {
        const res = await this.#fetch(url, { method: 'POST', body, headers: { 'content-type': 'text/plain;charset=UTF-8' }, credentials: 'include', cache: 'no-store' });
        void res.body?.cancel().catch(() => {});
        if (res.ok) return true;
        // 400, 403, 404, 413: the session is gone or refuses this; a new connection is the fix.
        if (res.status !== 429 && res.status !== 503) return false;
      } catch {
        // Network failure: the POST may or may not have arrived; the same seq makes a retry safe.
      }
      const delay = RETRY_DELAYS_MS[attempt];
      if (delay === undefined) return false;
      await wait(delay);
    }
  }

  close(code?: number, reason?: string): void {
    if (this.readyState >= 2) return;
    this.#end(code ?? 1005, reason ?? '');
  }

  /** Ends the connection once: the stream is aborted and `close` reported on the next tick. */
  #end(code: number, reason: string): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.#abort.abort();
    this.#lines = [];
    setTimeout(() => this.onclose?.({ code, reason }), 0);
  }
}
