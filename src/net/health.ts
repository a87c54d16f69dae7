/**
 * Health checks over plain HTTP (docs/deploy.md, "Health checks"), for the server and the egress
 * relay alike: a liveness path that answers as long as the process serves requests, and a
 * readiness path that answers 503 while the endpoint should get no new connections (its engine is
 * down, it drains or shuts down, it is full). Both answer JSON, are never cached, and are served by
 * the endpoint's HTTP routes (net/http-routes.ts), so they work on every transport.
 */
import { check, knownKeys, withDefaults } from '../shared/options.js';
import type { HttpRoutes } from './http-routes.js';

/** The `health` option: which paths answer the checks. */
export interface HealthOptions {
  /** Path of the liveness check: 200 `{"status":"ok"}` while the process serves requests. @default '/healthz' */
  liveness?: string;
  /** Path of the readiness check: 200 when ready, else 503 with the reasons. @default '/readyz' */
  readiness?: string;
}

/** The health paths after defaults. */
export type HealthPaths = Required<HealthOptions>;

/** The paths `health: true` serves. */
export const HEALTH_DEFAULTS: HealthPaths = { liveness: '/healthz', readiness: '/readyz' };

/** What a readiness check reports: whether to send new connections here, why not, and facts for the operator. */
export interface Readiness {
  ready: boolean;
  /** Why not ready (empty when ready). */
  reasons: readonly string[];
}

/**
 * Checks the `health` option (`false`/`undefined`: off; `true`: {@link HEALTH_DEFAULTS}). The
 * paths must differ from each other and from the endpoint's WebSocket path `wsPath`.
 */
export function resolveHealth(option: unknown, wsPath: string): HealthPaths | undefined {
  if (option === undefined || option === false) return undefined;
  check('health', option, option === true || (typeof option === 'object' && option !== null && !Array.isArray(option)), 'true, false or { liveness?, readiness? }');
  const paths = withDefaults(HEALTH_DEFAULTS, option === true ? undefined : knownKeys('health', option as HealthOptions, ['liveness', 'readiness']));
  for (const key of ['liveness', 'readiness'] as const) {
    const p = paths[key];
    check(`health.${key}`, p, typeof p === 'string' && p.startsWith('/'), 'a path starting with "/"');
    if (p === wsPath) throw new TypeError(`health.${key} ${JSON.stringify(p)} is the WebSocket path: give the health check a path of its own`);
  }
  if (paths.liveness === paths.readiness) throw new TypeError(`health.liveness and health.readiness are both ${JSON.stringify(paths.liveness)}: give each its own path`);
  return paths;
}

/** A JSON answer that no cache keeps (a probe must see the state now). */
function json(status: number, body: object, head: boolean): Response {
  return new Response(head ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' },
  });
}

/** Only GET and HEAD: a probe never changes anything. */
function methodNotAllowed(): Response {
  return new Response('Method Not Allowed\n', { status: 405, headers: { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' } });
}

/**
 * Adds the liveness and readiness routes to `routes`. `readiness` is called per request and returns
 * the facts to answer with; it must be cheap (probes come every few seconds). Returns a function
 * that removes both routes.
 */
export function addHealthRoutes(routes: HttpRoutes, paths: HealthPaths, readiness: () => Readiness & object): () => void {
  const removeLive = routes.add(paths.liveness, (req) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed();
    return json(200, { status: 'ok' }, req.method === 'HEAD');
  });
  const removeReady = routes.add(paths.readiness, (req) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed();
    const r = readiness();
    return json(r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'unavailable', ...r }, req.method === 'HEAD');
  });
  return () => {
    removeLive();
    removeReady();
  };
}
