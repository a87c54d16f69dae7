/**
 * The HTTP side of the Bun transport in pure functions: the {@link UpgradeRequest} view of a web
 * `Request` that the core and `authenticate(req, token)` read, and the plain-text `Response` of a
 * refusal (docs/protocol.md §1.2).
 */
import type { Refusal, UpgradeRequest } from './types.js';

/** The request view on Bun: what Node's `IncomingMessage` offers and the core reads. */
export interface BunUpgradeRequest extends UpgradeRequest {
  readonly url: string;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly socket: { readonly remoteAddress: string | undefined };
}

/**
 * Builds the request view: `url` is the path and query as in the request line, `headers` are keyed
 * by lower-case name (a web `Headers` already joins repeated ones with ", "), and
 * `socket.remoteAddress` is the peer's IP address.
 */
export function requestView(req: Request, remoteAddress: string | undefined): BunUpgradeRequest {
  const headers: Record<string, string> = {};
  req.headers.forEach((value, name) => {
    headers[name] = value;
  });
  return { url: pathAndQuery(req.url), method: req.method, headers, socket: { remoteAddress } };
}

/** `/ws?x=1` of `http://host/ws?x=1`; Bun's `Request.url` is absolute. */
export function pathAndQuery(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  return start < 0 ? '/' : url.slice(start).split('#', 1)[0]!;
}

/** Whether a request asks for a WebSocket upgrade (`Upgrade: websocket`, any case). */
export function isUpgrade(req: Request): boolean {
  return req.headers.get('upgrade')?.toLowerCase() === 'websocket';
}

/**
 * The HTTP response of a refusal: the status, `message` and a newline as the text body, and
 * `Connection: close`, as the Node transport writes it.
 */
export function refusalResponse(r: Refusal): Response {
  return new Response(`${r.message}\n`, {
    status: r.status,
    headers: { ...r.headers, Connection: 'close', 'Content-Type': 'text/plain; charset=utf-8' },
  });
}
