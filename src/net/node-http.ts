/**
 * Node's side of net/http-routes.ts: an `IncomingMessage` as a WHATWG `Request`, and a `Response`
 * written back to a `ServerResponse` with its body streamed under backpressure.
 */
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Logger } from '../shared/logger.js';
import type { HttpHandler } from './http-routes.js';

/** The request as a `Request`; `signal` aborts when the peer leaves before the response ended. */
export function toWebRequest(req: IncomingMessage, signal: AbortSignal): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.set(name, value);
  }
  const host = req.headers.host ?? 'localhost';
  const scheme = (req.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  const method = req.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  return new Request(`${scheme}://${host}${req.url ?? '/'}`, {
    method,
    headers,
    signal,
    ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream<Uint8Array>, duplex: 'half' } : {}),
  } as RequestInit);
}

/** Writes `response` to `res`, streaming its body; resolves when it ended or the peer left. */
export async function writeWebResponse(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  res.writeHead(response.status, response.statusText || undefined, headers);
  if (!response.body) return void res.end();
  // A streaming response (SSE) must reach the peer before its first chunk is written.
  res.flushHeaders();
  const reader = response.body.getReader();
  const stop = () => void reader.cancel().catch(() => {});
  res.once('close', stop);
  // The body's source may error while a peer that stopped reading holds up `drain` (an SSE
  // session terminated as a slow consumer): that must end the wait, and the response.
  const failed = reader.closed.then(
    () => false,
    () => true,
  );
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || res.destroyed) break;
      if (!res.write(value)) {
        const aborted = await Promise.race([once(res, 'drain').then(() => false), once(res, 'close').then(() => false), failed]);
        if (aborted) throw new Error('the response body failed');
      }
    }
  } catch {
    // The body's source failed, or was cancelled because the peer left: nothing more to send, and
    // what is still buffered for the peer is dropped with the socket (a clean end would wait on it).
    res.destroy();
  } finally {
    res.off('close', stop);
    if (!res.destroyed) res.end();
  }
}

/** Serves one request with `handler`: a throw is logged and answered 500 when nothing was sent yet. */
export function serveRoute(handler: HttpHandler, req: IncomingMessage, res: ServerResponse, logger: Logger): void {
  const abort = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  const fail = (err: unknown) => {
    logger.error({ err, path: req.url?.split('?', 1)[0] }, 'HTTP route failed');
    if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Internal Server Error\n');
    else res.destroy();
  };
  let request: Request;
  try {
    request = toWebRequest(req, abort.signal);
  } catch {
    // A request line Node accepted but the URL parser does not (a bad Host header).
    res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' }).end('Bad Request\n');
    return;
  }
  Promise.resolve()
    .then(() => handler(request, { remoteAddress: req.socket.remoteAddress }))
    .then((response) => writeWebResponse(res, response))
    .catch(fail);
}
