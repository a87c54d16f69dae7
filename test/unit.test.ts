import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../src/client/backoff.js';
import { createTopicState } from '../src/client/subscriptions.js';
import { CLIENT_DEFAULTS, resolveClientOptions } from '../src/client/options.js';
import { CloseCode, isSendableCloseCode, ReadyState, shouldReconnect } from '../src/protocol/close-codes.js';
import { jsonCodec } from '../src/protocol/codec.js';
import { validateClientFrame } from '../src/protocol/frames.js';
import { decodeTokenProtocol, encodeTokenProtocol } from '../src/protocol/subprotocol.js';
import { negotiate } from '../src/server/handshake.js';
import { resolveOptions } from '../src/server/options.js';
import { compilePattern, TopicRules } from '../src/server/topic-rules.js';

describe('backoffDelay (full jitter)', () => {
  it('stays within [0, min(max, initial·2^attempt))', () => {
    expect(backoffDelay(0, 100, 10_000, () => 0)).toBe(0);
    expect(backoffDelay(0, 100, 10_000, () => 0.999)).toBe(99);
    expect(backoffDelay(3, 100, 10_000, () => 0.5)).toBe(400);
    expect(backoffDelay(20, 100, 10_000, () => 0.999)).toBe(9_990);
    expect(backoffDelay(10_000, 100, 10_000, () => 0.5)).toBe(5_000); // no overflow for huge attempts
  });
  it('spreads delays (jitter) rather than returning one value', () => {
    const values = new Set(Array.from({ length: 50 }, () => backoffDelay(5, 100, 30_000)));
    expect(values.size).toBeGreaterThan(10);
  });
});

describe('close-code table', () => {
  it('reconnects on RFC faults and the retry band, not on 1000 or the final band', () => {
    for (const c of [1001, 1002, 1003, 1006, 1007, 1008, 1009, 1011, 4000, 4499]) expect(shouldReconnect(c)).toBe(true);
    for (const c of [CloseCode.NORMAL, 4500, 4999]) expect(shouldReconnect(c)).toBe(false);
  });
  it('lets an application send 1000 and 3000-4999 only (RFC 6455 §7.4, WHATWG close())', () => {
    for (const c of [1000, 3000, 3999, 4000, 4001, 4500, 4999]) expect(isSendableCloseCode(c)).toBe(true);
    for (const c of [0, 999, 1001, 1005, 1006, 1009, 1011, 1015, 2999, 5000, 1000.5, NaN, Infinity, '1000', undefined, null]) {
      expect(isSendableCloseCode(c)).toBe(false);
    }
  });
  it('names the WebSocket ready states as the platform numbers them', () => {
    expect(ReadyState).toEqual({ CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
  });
});

describe('token subprotocol', () => {
  it('round-trips any string, including non-ASCII, and yields only header-safe characters', () => {
    for (const t of ['', 'a', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig', 'päss wörd/+=?', '🔑'.repeat(40)]) {
      const entry = encodeTokenProtocol(t);
      expect(entry).toMatch(/^switchboard\.auth\.[A-Za-z0-9_-]*$/);
      expect(decodeTokenProtocol(entry)).toBe(t);
    }
  });
  it('rejects malformed entries', () => {
    expect(decodeTokenProtocol('switchboard.auth.%%%')).toBeUndefined();
    expect(decodeTokenProtocol('switchboard.auth./w')).toBeUndefined();
    expect(decodeTokenProtocol('switchboard.auth.a+b/')).toBeUndefined(); // standard base64 is not base64url
    expect(decodeTokenProtocol('switchboard.auth.abcde')).toBeUndefined(); // impossible length
    expect(decodeTokenProtocol('other')).toBeUndefined();
    expect(decodeTokenProtocol('switchboard.auth.' + Buffer.from([0xff, 0xfe]).toString('base64url'))).toBeUndefined();
  });
  it('negotiates json, finds the token, and refuses unknown versions', () => {
    expect(negotiate(undefined)).toMatchObject({ ok: true, token: undefined });
    expect(negotiate(`switchboard.v1.json, ${encodeTokenProtocol('t')}`)).toMatchObject({ ok: true, token: 't' });
    expect(negotiate('switchboard.v2.json')).toMatchObject({ ok: false, status: 400 });
    expect(negotiate('switchboard.v1.json, switchboard.auth.%')).toMatchObject({ ok: false, status: 400 });
    const twice = `switchboard.v1.json, ${encodeTokenProtocol('a')}, ${encodeTokenProtocol('b')}`;
    expect(negotiate(twice)).toMatchObject({ ok: false, status: 400 });
  });
  it('follows the exact token-entry rules of docs/protocol.md §1.1', () => {
    // Empty: the empty token, handed to authenticate like any other.
    expect(negotiate('switchboard.v1.json, switchboard.auth.')).toMatchObject({ ok: true, token: '' });
    // Two entries, even equal ones: 400.
    const a = encodeTokenProtocol('a');
    expect(negotiate(`switchboard.v1.json, ${a}, ${a}`)).toMatchObject({ ok: false, status: 400 });
    // Anywhere in the list, spaces trimmed; unknown entries skipped.
    expect(negotiate(`  ${a} ,other, switchboard.v1.msgpack `)).toMatchObject({ ok: true, token: 'a', codec: { name: 'msgpack' } });
    // Padding and the standard alphabet are malformed.
    expect(negotiate(`switchboard.v1.json, ${encodeTokenProtocol('ab')}=`)).toMatchObject({ ok: false, status: 400 });
    expect(negotiate('switchboard.v1.json, Switchboard.auth.YQ')).toMatchObject({ ok: true, token: undefined });
  });
});

describe('validateClientFrame', () => {
  const close = (code: number) => ({ ok: false, fault: { kind: 'close', code } });
  const reply = (code: string) => ({ ok: false, fault: { kind: 'reply', frame: { t: 'err', code } } });
  it.each([
    [[1, 2], close(1002)],
    [null, close(1002)],
    [42, close(1002)],
    [{}, close(1002)],
    [{ t: 7 }, close(1002)],
    [{ t: 'call', name: 'x' }, close(1002)],
    [{ t: 'call', id: -1, name: 'x' }, close(1002)],
    [{ t: 'call', id: 1.5, name: 'x' }, close(1002)],
    [{ t: 'call', id: '1', name: 'x' }, close(1002)],
    [{ t: 'call', id: 2 ** 53, name: 'x' }, close(1002)],
    [{ t: 'call', id: 1, name: 5 }, reply('BAD_REQUEST')],
    [{ t: 'call', id: 1, name: '' }, reply('BAD_REQUEST')],
    [{ t: 'sub', id: 1, topic: 'x'.repeat(257) }, reply('BAD_REQUEST')],
    [{ t: 'pub', id: 1, topic: 'x', data: 1, echo: 'no' }, reply('BAD_REQUEST')],
    [{ t: 'teleport', id: 1 }, reply('UNKNOWN_FRAME')],
  ])('%j → %j', (input, expected) => {
    expect(validateClientFrame(input)).toMatchObject(expected);
  });
  it('accepts valid frames', () => {
    for (const f of [
      { t: 'ping' },
      { t: 'call', id: 0, name: 'x' },
      { t: 'call', id: 1, name: 'x', input: { a: [1] } },
      { t: 'sub', id: 2, topic: 'x'.repeat(256) },
      { t: 'unsub', id: 3, topic: 't' },
      { t: 'pub', id: 4, topic: 't', data: null, echo: false },
      { t: 'presence', id: 5, topic: 't' },
    ]) expect(validateClientFrame(f)).toEqual({ ok: true, frame: f });
  });
});

describe('jsonCodec', () => {
  it('refuses a malformed envelope and bad JSON with 1007, never throwing', () => {
    expect(jsonCodec.decode(new Uint8Array([1, 2]), true)).toMatchObject({ ok: false, code: 1007 });
    expect(jsonCodec.decode('{', false)).toMatchObject({ ok: false, code: 1007 });
    expect(jsonCodec.decode('{"t":"ping"}', false)).toEqual({ ok: true, value: { t: 'ping' } });
  });
});

describe('topic patterns', () => {
  it('treats * as any run of characters and everything else literally', () => {
    const re = compilePattern('room:*');
    expect(re.test('room:')).toBe(true);
    expect(re.test('room:a:b\nc')).toBe(true);
    expect(re.test('xroom:a')).toBe(false);
    expect(compilePattern('a.b').test('axb')).toBe(false);
    expect(compilePattern('a.b').test('a.b')).toBe(true);
    expect(compilePattern('*:(x)+').test('q:(x)+')).toBe(true);
  });
  it('applies the first matching rule, and rules added later invalidate the lookup cache', () => {
    const rules = new TopicRules();
    expect(rules.find('room:1')).toBeUndefined();
    rules.add('room:secret', { subscribe: false });
    rules.add('room:*', { subscribe: true });
    expect(rules.find('room:secret')?.subscribe).toBe(false);
    expect(rules.find('room:1')?.subscribe).toBe(true);
    expect(() => rules.add('', {})).toThrow(TypeError);
  });
});

describe('options', () => {
  it('merges defaults once and rejects impossible combinations', () => {
    const o = resolveOptions({});
    expect(o).toMatchObject({ path: '/ws', port: 0, heartbeat: { intervalMs: 30_000, timeoutMs: 10_000 }, limits: { maxPayload: 1_048_576 } });
    expect(() => resolveOptions({ heartbeat: { intervalMs: 0 } })).toThrow(TypeError);
    expect(() => resolveOptions({ limits: { maxPayload: -1 } })).toThrow(TypeError);
    expect(() => resolveOptions({ path: 'ws' })).toThrow(TypeError);
    expect(resolveClientOptions({}).reconnect).toMatchObject({ initialDelayMs: 500, maxDelayMs: 30_000, maxAttempts: Infinity });
    expect(resolveClientOptions({ reconnect: false }).reconnect).toBe(false);
    expect(() => resolveClientOptions({ reconnect: { initialDelayMs: 10, maxDelayMs: 5 } })).toThrow(TypeError);
    expect(() => resolveClientOptions({ timeoutMs: 0 })).toThrow(TypeError);
  });

  it('client: an option given as undefined keeps its default, at every level', () => {
    const defaults = resolveClientOptions({});
    expect(defaults).toEqual({
      codec: CLIENT_DEFAULTS.codec,
      token: undefined,
      tokenIn: CLIENT_DEFAULTS.tokenIn,
      tokenQueryParam: CLIENT_DEFAULTS.tokenQueryParam,
      reconnect: CLIENT_DEFAULTS.reconnect,
      connectTimeoutMs: CLIENT_DEFAULTS.connectTimeoutMs,
      heartbeat: {},
      timeoutMs: CLIENT_DEFAULTS.timeoutMs,
      maxQueue: CLIENT_DEFAULTS.maxQueue,
    });
    const allUndefined = {
      codec: undefined,
      token: undefined,
      tokenIn: undefined,
      tokenQueryParam: undefined,
      connectTimeoutMs: undefined,
      timeoutMs: undefined,
      maxQueue: undefined,
      reconnect: { initialDelayMs: undefined, maxDelayMs: undefined, maxAttempts: undefined, stableAfterMs: undefined },
      heartbeat: { intervalMs: undefined, timeoutMs: undefined },
    };
    expect(resolveClientOptions(allUndefined)).toEqual(defaults);
    expect(resolveClientOptions({ reconnect: undefined, heartbeat: undefined })).toEqual(defaults);
    // One option at a time, so a failure names it.
    for (const key of ['initialDelayMs', 'maxDelayMs', 'maxAttempts', 'stableAfterMs'] as const) {
      expect(resolveClientOptions({ reconnect: { [key]: undefined } }).reconnect, `reconnect.${key}`).toEqual(CLIENT_DEFAULTS.reconnect);
    }
  });

  it('client: a value out of range throws a TypeError naming the option', () => {
    const bad: [string, object][] = [
      ['timeoutMs', { timeoutMs: -1 }],
      ['connectTimeoutMs', { connectTimeoutMs: 0 }],
      ['maxQueue', { maxQueue: 1.5 }],
      ['reconnect.maxAttempts', { reconnect: { maxAttempts: -1 } }],
      ['reconnect.stableAfterMs', { reconnect: { stableAfterMs: Number.NaN } }],
      ['heartbeat.intervalMs', { heartbeat: { intervalMs: 0 } }],
      ['heartbeat.timeoutMs', { heartbeat: { timeoutMs: -5 } }],
      ['tokenIn', { tokenIn: 'cookie' }],
      ['codec', { codec: 'xml' }],
      ['token', { token: 42 }],
    ];
    for (const [path, options] of bad) expect(() => resolveClientOptions(options as never), path).toThrow(new RegExp(`^${path.replace('.', '\\.')} `));
    // Infinity is "no limit" where the type says so.
    expect(resolveClientOptions({ timeoutMs: Infinity, reconnect: { maxAttempts: Infinity } }).timeoutMs).toBe(Infinity);
  });

  it('client: a misspelt option throws a TypeError listing the valid ones, at every level, from connect() too', async () => {
    const top = 'token, tokenQueryParam, reconnect, heartbeat, codec, tokenIn, connectTimeoutMs, timeoutMs, maxQueue, WebSocket, tls';
    expect(() => resolveClientOptions({ reconect: false } as never)).toThrow(new TypeError(`reconect is not an option (${top})`));
    expect(() => resolveClientOptions({ reconnect: { maxAttempt: 3 } } as never)).toThrow(
      new TypeError('reconnect.maxAttempt is not an option (initialDelayMs, maxDelayMs, maxAttempts, stableAfterMs)'),
    );
    expect(() => resolveClientOptions({ heartbeat: { interval: 5 } } as never)).toThrow(new TypeError('heartbeat.interval is not an option (intervalMs, timeoutMs)'));
    // Taken by the entry that makes the socket, not by this table.
    expect(() => resolveClientOptions({ WebSocket: globalThis.WebSocket, tls: {} } as never)).not.toThrow();
    expect(() => resolveClientOptions({ reconnect: { WebSocket: 1 } } as never)).toThrow(/^reconnect\.WebSocket is not an option/);
    // Not an object: said so, not "0 is not an option". Inherited keys are not options given.
    expect(() => resolveClientOptions('my-token' as never)).toThrow(new TypeError('options must be an object, got string'));
    expect(resolveClientOptions(Object.create({ reconect: false }) as never).reconnect).toMatchObject({ initialDelayMs: 500 });
    const { connect } = await import('../src/client/node.js');
    expect(() => connect('ws://127.0.0.1:9/ws', { timeout: 5_000 } as never)).toThrow(new TypeError(`timeout is not an option (${top})`));
  });
});

describe('addressKey (per-IP limit key)', () => {
  it('folds IPv4-mapped addresses and counts IPv6 by /64', async () => {
    const { addressKey } = await import('../src/net/admission.js');
    expect(addressKey('127.0.0.1')).toBe('127.0.0.1');
    expect(addressKey('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(addressKey('2001:db8:0:1:aaaa::1')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:db8:0:1:bbbb:cccc:dddd:eeee')).toBe('2001:db8:0:1::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey(undefined)).toBe('unknown');
  });
});

describe('jwt() options', () => {
  it('keeps defaults for options passed as undefined and refuses mixed key families', async () => {
    const { jwt } = await import('../src/server/jwt.js');
    const { generateKeyPairSync } = await import('node:crypto');
    const auth = jwt({ secret: 'x'.repeat(32), algorithms: ['HS256'], from: undefined, queryParam: undefined });
    expect(auth.transports).toEqual(['protocol']);
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    expect(() => jwt({ publicKey, algorithms: ['RS256', 'PS256'] })).not.toThrow();
    expect(() => jwt({ publicKey, algorithms: ['RS256', 'ES256'] })).toThrow(TypeError);
  });
});

describe('a topic state confirmed again (createTopicState)', () => {
  const at = (offset: number) => ({ epoch: 'e1', offset });
  it('never moves its position back within an epoch, unless the answer reports a gap', () => {
    const seen: number[] = [];
    const t = createTopicState('t', () => {});
    t.handlers.add(((d: number) => void seen.push(d)) as never);
    t.confirmed({ position: at(0) }, false);
    for (const o of [1, 2, 3]) t.deliver(o, { topic: 't', ...at(o) });
    // A repeated `sub`'s answer behind what was received: its replay of 2 and 3 is dropped.
    t.confirmed({ position: at(1), recovered: true }, true);
    expect(t.position).toEqual(at(3));
    for (const o of [2, 3, 4]) t.deliver(o, { topic: 't', ...at(o) });
    expect(seen).toEqual([1, 2, 3, 4]);
    // A gap: the server continues at its own position, behind or not.
    t.confirmed({ position: at(2), recovered: false, reason: 'window' }, true);
    expect(t.position).toEqual(at(2));
  });
});
