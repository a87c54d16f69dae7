/**
 * Plain HTTP requests an endpoint answers besides its WebSocket upgrades: health checks, metrics,
 * the SSE + HTTP fallback (docs/server.md, "HTTP routes"). Handlers speak the WHATWG `Request` and
 * `Response` of every runtime (Node ≥ 18, Bun), so a feature is written once for every transport;
 * each adapter converts its own request into a `Request` and writes the `Response` back, streaming
 * its body with backpressure (net/node-http.ts for Node; Bun.serve takes a `Response` as is).
 */

/** What an adapter knows of a request besides the `Request` itself. */
export interface HttpRequestInfo {
  /** The peer's IP address (the admission limits and the logs use it). */
  readonly remoteAddress: string | undefined;
}

/**
 * Answers one request. The `Request`'s `signal` aborts when the peer goes away before the response
 * body ended, which is how a streaming response (SSE) learns its reader left.
 */
export type HttpHandler = (request: Request, info: HttpRequestInfo) => Response | Promise<Response>;

/** The routes of one endpoint, by exact path or by path prefix. */
export interface HttpRoutes {
  /**
   * Adds a handler for `path` (exact), or for every path under `path` + `/` when `prefix` is set.
   * A second handler for the same path is a `TypeError`. Returns a function that removes it.
   */
  add(path: string, handler: HttpHandler, options?: { prefix?: boolean }): () => void;
  /** The handler for a request's path (without its query), exact paths first. */
  match(pathname: string): HttpHandler | undefined;
  /** How many routes there are (0: every plain request goes on as if there were no routes). */
  readonly size: number;
}

/** Creates an empty route table. */
export function createHttpRoutes(): HttpRoutes {
  const exact = new Map<string, HttpHandler>();
  const prefixes = new Map<string, HttpHandler>();
  return {
    add(path, handler, options) {
      if (!path.startsWith('/')) throw new TypeError(`HTTP route ${JSON.stringify(path)}: a path starts with "/"`);
      const table = options?.prefix ? prefixes : exact;
      const key = options?.prefix ? path.replace(/\/+$/, '') + '/' : path;
      if (table.has(key)) throw new TypeError(`HTTP route ${JSON.stringify(path)} is taken: two features answer the same path; give one of them another path`);
      table.set(key, handler);
      return () => {
        if (table.get(key) === handler) table.delete(key);
      };
    },
    match(pathname) {
      const hit = exact.get(pathname);
      if (hit || prefixes.size === 0) return hit;
      // Longest prefix first, so `/ws/sse/` wins over `/ws/`.
      let best: string | undefined;
      for (const p of prefixes.keys()) if (pathname.startsWith(p) && (best === undefined || p.length > best.length)) best = p;
      return best === undefined ? undefined : prefixes.get(best);
    },
    get size() {
      return exact.size + prefixes.size;
    },
  };
}

/** The path of a request URL (`/ws?x=1` → `/ws`), whether absolute or as in a request line. */
export function pathnameOf(url: string | undefined): string {
  const u = url ?? '/';
  const start = u.startsWith('/') ? 0 : u.indexOf('/', u.indexOf('//') + 2);
  if (start < 0) return '/';
  const end = u.search(/[?#]/);
  return u.slice(start, end < 0 ? undefined : end);
}
