/**
 * Health checks (docs/deploy.md, "Health checks"): `/healthz` and `/readyz` on the server's own
 * HTTP server, on an attached one, on Bun (the runtime fixture), and on the egress relay; what
 * makes readiness 503 (a full server, an engine that cannot serve, a drain); the option's checks.
 */
import { createServer as createHttpServer } from 'node:http';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createEgressRelay } from '../src/bridge/node.js';
import { createMemoryEngine, createServer, silentLogger } from '../src/server/index.js';
import { createTestScope, guardUnhandledRejections, within } from './helpers.js';
import { RUNTIMES, runtimeServer, warnSkippedRuntimes } from './runtime-server.js';

guardUnhandledRejections();
warnSkippedRuntimes('test/health.test.ts');
const scope = createTestScope();

/** GET (or another method) on 127.0.0.1:`port`: status, headers and body text. */
async function get(port: number, path: string, method = 'GET') {
  const res = await within(fetch(`http://127.0.0.1:${port}${path}`, { method }), `${method} ${path}`);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('health checks', () => {
  it('health: true answers /healthz and /readyz with JSON that no cache keeps; HEAD has no body, POST is 405', async () => {
    const { port } = await scope.server({ health: true });
    const live = await get(port, '/healthz');
    expect(live.status).toBe(200);
    expect(live.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(live.headers.get('cache-control')).toBe('no-store');
    expect(JSON.parse(live.text)).toEqual({ status: 'ok' });
    const ready = await get(port, '/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toEqual({
      status: 'ready',
      ready: true,
      reasons: [],
      engine: { healthy: true },
      connections: 0,
      maxConnections: 10_000,
      closing: false,
      draining: false,
      inFlight: 0,
      runtime: 'node',
    });
    const head = await get(port, '/readyz', 'HEAD');
    expect([head.status, head.text]).toEqual([200, '']);
    const post = await get(port, '/healthz', 'POST');
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('without the option there are no health routes (the plain 426 of a WebSocket endpoint); paths can be chosen', async () => {
    const { port } = await scope.server();
    expect((await get(port, '/healthz')).status).toBe(426);
    const custom = await scope.server({ health: { liveness: '/live', readiness: '/ready' } });
    expect((await get(custom.port, '/live')).status).toBe(200);
    expect((await get(custom.port, '/ready')).status).toBe(200);
    expect((await get(custom.port, '/healthz')).status).toBe(426);
  });

  it('readiness is 503 with the reasons: full at limits.maxConnections, an engine that cannot serve', async () => {
    const engine = createMemoryEngine();
    let healthy = true;
    engine.health = () => (healthy ? { healthy: true } : { healthy: false, detail: 'redis did not answer within 2000 ms' });
    const { port, url, server } = await scope.server({ health: true, engine, limits: { maxConnections: 1 } });
    const c = scope.client(url);
    await within(c.call('nothing').catch(() => {}), 'connected');
    const full = await get(port, '/readyz');
    expect(full.status).toBe(503);
    expect(JSON.parse(full.text)).toMatchObject({ status: 'unavailable', ready: false, reasons: ['full'], connections: 1, maxConnections: 1 });
    healthy = false;
    expect(JSON.parse((await get(port, '/readyz')).text)).toMatchObject({ reasons: ['engine', 'full'], engine: { healthy: false, detail: 'redis did not answer within 2000 ms' } });
    // Liveness says only that the process serves requests.
    expect((await get(port, '/healthz')).status).toBe(200);
    expect(server.health()).toMatchObject({ ready: false, reasons: ['engine', 'full'] });
  });

  it('on an attached server the routes are answered before the application, which sees every other request', async () => {
    const http = createHttpServer((_req, res) => res.end('app'));
    scope.defer(() => new Promise<void>((r) => (http.closeAllConnections(), http.close(() => r()))));
    const server = scope.track(createServer({ server: http, logger: silentLogger, health: true }));
    // Before listen(): nothing is served yet.
    expect(server.health()).toMatchObject({ ready: false, reasons: ['starting'] });
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    const { port } = await server.listen();
    expect(JSON.parse((await get(port, '/readyz')).text)).toMatchObject({ ready: true });
    expect((await get(port, '/elsewhere')).text).toBe('app');
  });

  it('checks the option: paths start with "/", differ from each other and from the WebSocket path', () => {
    expect(() => createServer({ health: { liveness: 'healthz' } })).toThrow('health.liveness must be a path starting with "/", got "healthz"');
    expect(() => createServer({ health: { readiness: '/ws' } })).toThrow('health.readiness "/ws" is the WebSocket path: give the health check a path of its own');
    expect(() => createServer({ health: { liveness: '/h', readiness: '/h' } })).toThrow('health.liveness and health.readiness are both "/h": give each its own path');
    expect(() => createServer({ health: 'yes' as never })).toThrow(/health must be true, false or/);
    expect(() => createServer({ health: undefined })).not.toThrow();
    // A misspelt key would keep '/readyz' and a probe on '/ready' would get 404 forever.
    expect(() => createServer({ health: { readyness: '/ready' } as never })).toThrow(new TypeError('health.readyness is not an option (liveness, readiness)'));
  });

  it('the egress relay answers /healthz and /readyz too', async () => {
    const relay = scope.track(createEgressRelay({ port: 0, host: '127.0.0.1', allow: ['wss://example.test'], logger: silentLogger, health: true }));
    const { port } = await relay.listen();
    expect(JSON.parse((await get(port, '/healthz')).text)).toEqual({ status: 'ok' });
    expect(JSON.parse((await get(port, '/readyz')).text)).toEqual({ status: 'ready', ready: true, reasons: [], connections: 0, maxConnections: 1_000, closing: false });
  });

  describe.each(RUNTIMES)('on $name (child process)', (runtime) => {
    it.skipIf(runtime.skip !== undefined)('serves both checks from the transport', async () => {
      const node = await runtimeServer(scope, runtime, { health: true });
      expect(JSON.parse((await get(node.port, '/healthz')).text)).toEqual({ status: 'ok' });
      expect(JSON.parse((await get(node.port, '/readyz')).text)).toMatchObject({ status: 'ready', runtime: runtime.name });
    });
  });
});
