/**
 * Server options (src/server/options.ts, docs/server.md): merged once over SERVER_DEFAULTS, where an
 * explicit `undefined` means the default, and checked with the shared validators, whose TypeError
 * names the option's path.
 */
import { describe, expect, it } from 'vitest';
import { resolveOptions } from '../src/server/options.js';
import { knownKeys } from '../src/shared/options.js';
import { SERVER_DEFAULTS, createServer } from '../src/server/index.js';
import { createTestScope, guardUnhandledRejections } from './helpers.js';

const scope = createTestScope();
guardUnhandledRejections();

describe('server options', () => {
  it('an explicit undefined means the default, at every level', async () => {
    const given = {
      limits: { maxPayload: undefined, rate: undefined, slowConsumerGraceMs: undefined },
      heartbeat: { intervalMs: undefined },
      shutdownTimeoutMs: undefined,
      port: undefined,
      presence: { key: undefined },
      idempotency: { ttlMs: undefined },
    };
    expect(resolveOptions(given)).toEqual(resolveOptions({}));
    const o = resolveOptions(given);
    expect(o.limits.maxPayload).toBe(SERVER_DEFAULTS.limits.maxPayload);
    expect(o.limits.rate).toEqual(SERVER_DEFAULTS.limits.rate);
    expect(o.heartbeat).toEqual(SERVER_DEFAULTS.heartbeat);
    expect(o.shutdownTimeoutMs).toBe(SERVER_DEFAULTS.shutdownTimeoutMs);

    // And a live server built so tells its clients the default heartbeat and payload limit.
    const { url } = await scope.server({ limits: { maxPayload: undefined }, heartbeat: { intervalMs: undefined }, shutdownTimeoutMs: undefined });
    const peer = await scope.peer(url).ready();
    expect(peer.frames[0]).toMatchObject({ t: 'welcome', heartbeat: { intervalMs: 30_000, timeoutMs: 10_000 }, maxPayload: 1_048_576 });
    peer.send('x'.repeat(1_048_577));
    expect(await peer.closed()).toBe(1009);
  });

  it('refuses an impossible value with a TypeError that names its path', () => {
    const cases: [Parameters<typeof createServer>[0], RegExp][] = [
      [{ limits: { sendBufferBytes: 1.5 } }, /limits\.sendBufferBytes/],
      [{ limits: { slowConsumerGraceMs: 0 } }, /limits\.slowConsumerGraceMs/],
      [{ limits: { rate: { perSecond: -1 } } }, /limits\.rate\.perSecond/],
      [{ heartbeat: { timeoutMs: Number.NaN } }, /heartbeat\.timeoutMs/],
      [{ shutdownTimeoutMs: -1 }, /shutdownTimeoutMs/],
      [{ port: 1.5 }, /port/],
      [{ codecs: ['json', 'xml' as never] }, /codecs\[1\]/],
      [{ compression: 'yes' as never }, /compression/],
      [{ history: { size: 0 } }, /history\.size/],
      [{ presence: { key: 'id' as never } }, /presence\.key/],
      // A timer longer than 2^31 - 1 ms fires at once: a live peer would be dropped as dead.
      [{ heartbeat: { timeoutMs: 2 ** 31 } }, /heartbeat\.timeoutMs must be at most/],
      [{ limits: { handshakeTimeoutMs: 2 ** 31 } }, /limits\.handshakeTimeoutMs must be at most/],
      [{ shutdownTimeoutMs: 2 ** 31 } , /shutdownTimeoutMs must be at most/],
    ];
    for (const [options, path] of cases) expect(() => createServer(options), JSON.stringify(options)).toThrow(path);
    for (const [options] of cases) expect(() => createServer(options)).toThrow(TypeError);
  });

  it('refuses a key that is not an option inside the option objects, naming its path and the valid keys', () => {
    // withDefaults alone would copy a misspelt key through and keep the default silently.
    expect(() => createServer({ sse: { keepAliveMs: 5_000 } as never })).toThrow(
      new TypeError('sse.keepAliveMs is not an option (keepaliveMs, maxBodyBytes, reorderTimeoutMs, maxHeldPosts)'),
    );
    expect(() => createServer({ health: { live: '/live' } as never })).toThrow(/^health\.live is not an option \(liveness, readiness\)$/);
    expect(() => createServer({ tls: { key: 'k', cert: 'c', certs: 'c' } as never })).toThrow(/^tls\.certs is not an option \(key, cert, ca\)$/);
    // The right spellings still pass (and sse: true / health: true take no keys to check).
    expect(() => createServer({ sse: { keepaliveMs: 5_000 }, health: { readiness: '/ready' } })).not.toThrow();
    expect(() => createServer({ sse: true, health: true })).not.toThrow();
  });

  it('refuses a misspelt option at every level of createServer and of a topic rule, before listening', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ hearbeat: { intervalMs: 1_000 } }, 'hearbeat is not an option (port, host, server, path, authenticate, origins, heartbeat, limits, codecs, compression, authTimeoutMs, refreshGraceMs, expiresAt, engine, history, idempotency, presence, logger, shutdownTimeoutMs, runtime, writeDelayMs, tls, health, sse, observe)'],
      [{ heartbeat: { interval: 1_000 } }, 'heartbeat.interval is not an option (intervalMs, timeoutMs)'],
      [{ limits: { maxPayloads: 10 } }, 'limits.maxPayloads is not an option (maxPayload, rate, maxConnections, maxConnectionsPerIp, handshakeTimeoutMs, maxSubscriptionsPerConnection, maxPendingCalls, sendBufferBytes, slowConsumerGraceMs)'],
      [{ limits: { rate: { perSec: 10 } } }, 'limits.rate.perSec is not an option (perSecond, burst)'],
      [{ history: { length: 10 } }, 'history.length is not an option (size, ttlMs)'],
      [{ presence: { id: () => 'x' } }, 'presence.id is not an option (key, info)'],
      [{ idempotency: { ttl: 10 } }, 'idempotency.ttl is not an option (ttlMs, leaseMs, scope)'],
    ];
    for (const [options, message] of cases) expect(() => createServer(options as never), message).toThrow(new TypeError(message));
    const server = createServer({ limits: { rate: false }, history: { size: 10 } });
    expect(() => server.topic('chat:*', { subscibe: true } as never)).toThrow(
      new TypeError('topic "chat:*".subscibe is not an option (subscribe, publish, presence, schema, volatile, history)'),
    );
    expect(() => server.topic('feed:*', { history: { sise: 5 } } as never)).toThrow(new TypeError('history of topic "feed:*".sise is not an option (size, ttlMs)'));
    expect(() => server.topic('x', undefined as never)).toThrow(new TypeError('the rule of topic "x" must be an object such as { subscribe: true }'));
    expect(() => server.topic('chat:*', { subscribe: true, publish: (ctx) => ctx.identity !== undefined, history: { size: 5 } })).not.toThrow();
  });

  it('knownKeys: the one check behind those errors', () => {
    expect(knownKeys('a.b', { x: 1, y: undefined }, ['x', 'y'])).toEqual({ x: 1, y: undefined });
    expect(() => knownKeys('a.b', { x: 1, z: 2 }, ['x', 'y'])).toThrow(new TypeError('a.b.z is not an option (x, y)'));
    expect(() => knownKeys('', { z: 2 }, ['x'])).toThrow(new TypeError('z is not an option (x)'));
    // Not an object: left to the caller's own check, which says what was expected.
    expect(knownKeys('a', undefined, ['x'])).toBeUndefined();
    expect(knownKeys('a', true, ['x'])).toBe(true);
  });

  it('checks stream batches and upload windows the same way', () => {
    const s = createServer();
    expect(() => s.stream('a', { batch: { maxItems: 0 } }, function* () {})).toThrow(/batch\.maxItems/);
    expect(() => s.stream('b', { batch: { maxDelayMs: -1 } }, function* () {})).toThrow(/batch\.maxDelayMs/);
    expect(() => s.stream('b2', { batch: { maxDelayMs: 2 ** 31 } }, function* () {})).toThrow(/batch\.maxDelayMs must be at most/);
    expect(() => s.stream('c', { batch: { maxItems: undefined, maxDelayMs: undefined } }, function* () {})).not.toThrow();
    expect(() => s.upload('d', { highWaterMark: 0 }, async () => 1)).toThrow(/highWaterMark/);
    expect(() => s.upload('e', { highWaterMark: undefined }, async () => 1)).not.toThrow();
  });
});
