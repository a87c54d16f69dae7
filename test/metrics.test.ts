/**
 * `switchboard/metrics` (docs/observability.md): a live server scraped over HTTP after real
 * traffic, each series checked against what the traffic must have produced; the Redis engine's
 * round trips on the machine's Redis (skipped with a printed reason when it is absent).
 */
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { prometheus } from '../src/metrics/index.js';
import { redisEngine } from '../src/engines/redis/index.js';
import { ServerError } from '../src/protocol/errors.js';
import { defineObserver } from '../src/server/observe.js';
import { silentLogger } from '../src/shared/logger.js';
import { createTestScope, until, upgradeHead } from './helpers.js';
import { dropPrefix, REDIS_URL, requireRedis, testPrefix } from './redis-helpers.js';

const scope = createTestScope();

/** The value of one series line (`name{labels}`) in a text exposition, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrape(port: number, path = '/metrics'): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return r.text();
}

describe('prometheus()', () => {
  it('serves every series on /metrics with the values real traffic produced', async () => {
    const metrics = prometheus();
    const { url, port, server } = await scope.server(
      {
        observe: metrics,
        authenticate: (req) => (req.url?.includes('deny') ? null : {}),
        limits: { rate: { perSecond: 1, burst: 20 } },
        history: { size: 10, ttlMs: 60_000 },
      },
      (s) => {
        s.command('add', ({ a, b }: { a: number; b: number }) => a + b);
        s.command('later', async (n: number) => n);
        s.command('nope', () => {
          throw new ServerError('NOPE', 'no');
        });
        s.command('boom', () => {
          throw new Error('bug');
        });
        s.stream('count', function* (n: number) {
          for (let i = 0; i < n; i++) yield i;
        });
        s.topic('room', { subscribe: true, publish: true });
      },
    );
    const c = scope.client(url);
    expect(await c.call('add', { a: 1, b: 2 })).toBe(3);
    expect(await c.call('later', 5)).toBe(5);
    await expect(c.call('nope')).rejects.toMatchObject({ code: 'NOPE' });
    await expect(c.call('boom')).rejects.toMatchObject({ code: 'INTERNAL' });
    await expect(c.call('missing')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const items: unknown[] = [];
    for await (const i of c.stream('count', 3)) items.push(i);
    expect(items).toEqual([0, 1, 2]);

    const got: unknown[] = [];
    await c.subscribe('room', (d) => got.push(d)).ready;
    const peer = await scope.peer(url).ready();
    await peer.request({ t: 'sub', id: 1, topic: 'room' });
    for (let i = 0; i < 3; i++) await c.publish('room', i);
    await server.publish('room', 'from server');
    await until(() => got.length === 4 && peer.frames.filter((f) => f.t === 'msg').length === 4, 'both subscribers to get 4 messages');
    // A resume from a position of another epoch cannot be honoured: a gap. Then a history replay.
    const resumer = await scope.peer(url).ready();
    const gap = await resumer.request({ t: 'sub', id: 1, topic: 'room', since: { epoch: 'gone', offset: 1 } });
    expect(gap.output).toMatchObject({ recovered: false });
    const fresh = await scope.peer(url).ready();
    await fresh.request({ t: 'sub', id: 1, topic: 'room', history: 10 });
    await until(() => fresh.frames.filter((f) => f.t === 'msg').length === 4, 'the replay of 4 messages');
    // Past the burst: RATE_LIMITED answers (the first ones do not close the connection).
    const flood = await scope.peer(url).ready();
    for (let i = 0; i < 25; i++) flood.send({ t: 'call', id: 100 + i, name: 'add', input: { a: 0, b: 0 } });
    await until(() => flood.frames.filter((f) => f.code === 'RATE_LIMITED').length > 0, 'a RATE_LIMITED answer');
    const limited = flood.frames.filter((f) => f.code === 'RATE_LIMITED').length;
    // A refused handshake, then a client that leaves normally.
    expect((await scope.rawRequest(port, upgradeHead(port, '/ws?deny', ['Sec-WebSocket-Protocol: switchboard.v1.json']))).status).toBe(401);
    fresh.ws.close(1000);
    await fresh.closed();
    await until(() => server.connections === 4, 'the closed connection to be gone');

    const text = await scrape(port);
    const v = (s: string) => sample(text, `switchboard_${s}`);
    expect(v('connections')).toBe(4);
    expect(v('connections_opened_total{codec="json"}')).toBe(5);
    expect(v('connections_closed_total{code="1000"}')).toBe(1);
    expect(v('handshake_refusals_total{reason="refused"}')).toBe(1);
    expect(v('calls_total{command="add",outcome="ok"}')).toBe(1 + 25 - limited);
    expect(v('calls_total{command="later",outcome="ok"}')).toBe(1);
    expect(v('calls_total{command="nope",outcome="APPLICATION_ERROR"}')).toBe(1);
    expect(v('calls_total{command="boom",outcome="INTERNAL"}')).toBe(1);
    // Unknown names never become label values.
    expect(text).not.toContain('command="missing"');
    expect(v('call_duration_seconds_count{command="add"}')).toBe(1 + 25 - limited);
    expect(v('call_duration_seconds_bucket{command="later",le="+Inf"}')).toBe(1);
    expect(v('streams_total{kind="stream",outcome="ok"}')).toBe(1);
    expect(v('streams_open{kind="stream"}')).toBe(0);
    expect(v('publishes_total')).toBe(4);
    expect(v('deliveries_total')).toBe(8);
    expect(v('history_gaps_total')).toBe(1);
    // The resume from another epoch is replayed the current epoch from its start (4), the fresh subscriber its 4.
    expect(v('history_replayed_messages_total')).toBe(8);
    expect(v('rate_limited_total')).toBe(limited);
    expect(v('slow_consumers_total')).toBe(0);
    expect(v('engine_healthy')).toBe(1);
    expect(v('messages_received_total{codec="json"}')).toBeGreaterThan(30);
    expect(v('received_bytes_total{codec="json"}')).toBeGreaterThan(v('messages_received_total{codec="json"}')!);
    expect(v('messages_sent_total{codec="json"}')).toBeGreaterThan(30);
    expect(v('sent_bytes_total{codec="json"}')).toBeGreaterThan(v('messages_sent_total{codec="json"}')!);
    // The registry is the app's to mount elsewhere too.
    expect(await metrics.registry.metrics()).toContain('# TYPE switchboard_calls_total counter');
  });

  it('registers into a given registry under a prefix and path, and refuses bad options', async () => {
    const registry = new Registry();
    const { port } = await scope.server({ observe: prometheus({ registry, prefix: 'rt_', path: '/internal/metrics' }) });
    expect(await scrape(port, '/internal/metrics')).toContain('rt_connections 0');
    expect((await registry.getMetricsAsJSON()).some((m) => m.name === 'rt_engine_healthy')).toBe(true);
    expect(() => prometheus({ path: 'metrics' })).toThrow(/path must be a path starting with "\/"/);
    expect(() => prometheus({ prefix: 'bad-prefix' })).toThrow(/prefix must be a Prometheus name prefix/);
    expect(() => prometheus({ buckets: [1, 0.5] })).toThrow(/buckets must be increasing/);
    expect(() => prometheus({ bucket: [1] } as never)).toThrow(new TypeError('bucket is not an option (registry, path, prefix, buckets)'));
    const once = prometheus({ path: false });
    await scope.server({ observe: once });
    await expect(scope.server({ observe: once })).rejects.toThrow(/already observes a server/);
  });

  it('takes a list of observers and calls each; refuses something that is not one', async () => {
    const codes: number[] = [];
    const metrics = prometheus();
    const { url, port } = await scope.server({ observe: [metrics, defineObserver({ disconnected: (code) => codes.push(code) })] });
    const peer = await scope.peer(url).ready();
    peer.ws.close(4100);
    await until(() => codes.length === 1, 'the disconnect hook');
    expect(codes).toEqual([4100]);
    expect(sample(await scrape(port), 'switchboard_connections_closed_total{code="other"}')).toBe(1);
    await expect(scope.server({ observe: {} as never })).rejects.toThrow(/observe must be an observer/);
  });
});

describe('prometheus() with the Redis engine', async () => {
  const redis = await requireRedis('metrics.test.ts (Redis engine)');
  it.runIf(redis)('counts the engine round trips by operation and reports the engine healthy', async () => {
    const prefix = testPrefix();
    scope.defer(() => dropPrefix(prefix));
    const engine = scope.track(redisEngine({ url: REDIS_URL, prefix, logger: silentLogger }));
    const { url, port, server } = await scope.server({ engine, observe: prometheus() }, (s) => s.topic('t', { subscribe: true, publish: true }));
    const c = scope.client(url);
    const got: unknown[] = [];
    await c.subscribe('t', (d) => got.push(d)).ready;
    await server.publish('t', 1);
    await until(() => got.length === 1, 'the message through Redis');
    const text = await scrape(port);
    expect(sample(text, 'switchboard_engine_healthy')).toBe(1);
    expect(sample(text, 'switchboard_engine_round_trips_total{op="publish",outcome="ok"}')).toBe(1);
    expect(sample(text, 'switchboard_engine_round_trips_total{op="subscribe",outcome="ok"}')).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'switchboard_engine_round_trip_seconds_count{op="publish"}')).toBe(1);
  });
});
