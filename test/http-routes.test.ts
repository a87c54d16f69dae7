/**
 * The plain HTTP routes of an endpoint (src/net/http-routes.ts, node-http.ts): answered on the
 * endpoint's own server and before an attached application's handler, with streamed bodies,
 * the peer's departure seen by the handler, and failures answered 500.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createHttpEndpoint } from '../src/net/http-endpoint.js';
import { createHttpRoutes, pathnameOf } from '../src/net/http-routes.js';
import { createTestScope, recordingLogger, within } from './helpers.js';

const scope = createTestScope();

async function endpointWith(server?: ReturnType<typeof createHttpServer>) {
  const table = createHttpRoutes();
  const logger = recordingLogger();
  const ep = createHttpEndpoint({ server, port: 0, host: '127.0.0.1', handshakeTimeoutMs: 2_000, routes: { table, logger } });
  scope.track({ close: () => ep.close() });
  return { table, logger, ep };
}

describe('HTTP routes', () => {
  it('matches exact paths before prefixes, longest prefix first, and refuses a taken path', () => {
    const t = createHttpRoutes();
    const a = () => new Response('a');
    const b = () => new Response('b');
    const c = () => new Response('c');
    t.add('/ws', a);
    t.add('/ws', b, { prefix: true });
    t.add('/ws/sse', c, { prefix: true });
    expect(t.match('/ws')).toBe(a);
    expect(t.match('/ws/x')).toBe(b);
    expect(t.match('/ws/sse/1')).toBe(c);
    expect(t.match('/other')).toBeUndefined();
    expect(() => t.add('/ws', c)).toThrow(/is taken/);
    expect(() => t.add('healthz', c)).toThrow(/starts with "\/"/);
    expect(pathnameOf('/a/b?x=1')).toBe('/a/b');
    expect(pathnameOf('http://h:1/a?q')).toBe('/a');
  });

  it('answers a route on its own server with the handler response, and 426 elsewhere', async () => {
    const { table, ep } = await endpointWith();
    table.add('/healthz', (req) => Response.json({ ok: true, method: req.method }, { headers: { 'x-test': '1' } }));
    table.add('/echo', async (req) => new Response(await req.text(), { status: 201 }));
    const port = await ep.listen();
    const r = await fetch(`http://127.0.0.1:${port}/healthz?probe=1`);
    expect(r.status).toBe(200);
    expect(r.headers.get('x-test')).toBe('1');
    expect(await r.json()).toEqual({ ok: true, method: 'GET' });
    const e = await fetch(`http://127.0.0.1:${port}/echo`, { method: 'POST', body: 'hello body' });
    expect(e.status).toBe(201);
    expect(await e.text()).toBe('hello body');
    expect((await fetch(`http://127.0.0.1:${port}/nope`)).status).toBe(426);
  });

  it('takes routes before an attached application handler, which still gets every other request', async () => {
    const http = createHttpServer((_req, res) => res.end('app'));
    scope.defer(() => new Promise<void>((r) => http.close(() => r())));
    const { table, ep } = await endpointWith(http);
    table.add('/readyz', () => new Response('route'));
    http.listen(0, '127.0.0.1');
    const port = await ep.listen();
    expect(await (await fetch(`http://127.0.0.1:${port}/readyz`)).text()).toBe('route');
    expect(await (await fetch(`http://127.0.0.1:${port}/anything`)).text()).toBe('app');
  });

  it('streams a body chunk by chunk and aborts the request signal when the peer leaves', async () => {
    const { table, ep } = await endpointWith();
    let aborted!: () => void;
    const gone = new Promise<void>((r) => (aborted = r));
    let push!: (s: string) => void;
    table.add('/stream', (req) => {
      req.signal.addEventListener('abort', () => aborted());
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          push = (s) => controller.enqueue(new TextEncoder().encode(s));
          push('first\n');
        },
      });
      return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
    });
    const port = await ep.listen();
    const req = httpRequest({ host: '127.0.0.1', port, path: '/stream' });
    req.end();
    const [res] = (await within(once(req, 'response'), 'stream response')) as [import('node:http').IncomingMessage];
    expect(res.headers['content-type']).toBe('text/event-stream');
    const [first] = await within(once(res, 'data'), 'first chunk');
    expect(String(first)).toBe('first\n');
    push('second\n');
    const [second] = await within(once(res, 'data'), 'second chunk, before the body ended');
    expect(String(second)).toBe('second\n');
    req.destroy();
    await within(gone, 'the handler sees the peer leave');
  });

  it('answers 500 and logs when a handler throws, and keeps serving', async () => {
    const { table, ep, logger } = await endpointWith();
    table.add('/boom', () => {
      throw new Error('handler bug');
    });
    table.add('/ok', () => new Response('ok'));
    const port = await ep.listen();
    const r = await fetch(`http://127.0.0.1:${port}/boom`);
    expect(r.status).toBe(500);
    expect(logger.lines.some((l) => l.level === 'error' && l.msg === 'HTTP route failed')).toBe(true);
    expect(await (await fetch(`http://127.0.0.1:${port}/ok`)).text()).toBe('ok');
  });
});
