/**
 * The bridge's options and codes: an explicit `undefined` means the default for the guest SDK and
 * the backend SDK (docs/bridge.md §2, §8), bad values throw a `TypeError` naming the option, and
 * `BridgeErrorCode` keeps its wire strings while sharing the protocol's common codes (§4).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BridgeErrorCode } from '../src/bridge/errors.js';
import { CLIENT_BRIDGE_DEFAULTS, createResourceClient } from '../src/bridge/guest.js';
import { createResourceServer } from '../src/bridge/node.js';
import { ErrorCode } from '../src/protocol/error-codes.js';
import type { WsEventMessage } from '../src/bridge/messages.js';
import { recordingLogger } from './helpers.js';

type Globals = { addEventListener?: unknown; removeEventListener?: unknown };

/**
 * A stand-in for the host window, for the guest SDK in Node: it answers `ready` and nothing else,
 * and posts its answers as `message` events whose `source` is itself, as a parent window would.
 */
function silentHost(): { target: Window; restore(): void } {
  const g = globalThis as Globals;
  const saved = { addEventListener: g.addEventListener, removeEventListener: g.removeEventListener };
  const events = new EventTarget();
  g.addEventListener = events.addEventListener.bind(events);
  g.removeEventListener = events.removeEventListener.bind(events);
  const target = {
    postMessage(msg: { id: string; method: string }) {
      if (msg.method !== 'ready') return;
      const result = { version: 1, capabilities: ['network:ws'], egress: false, limits: { maxConnections: 8, maxBufferedBytes: 1, maxMessageBytes: 1 } };
      void Promise.resolve().then(() => {
        events.dispatchEvent(Object.assign(new Event('message'), { data: { type: 'rp:response', id: msg.id, ok: true, result }, source: target }));
      });
    },
  } as unknown as Window;
  return {
    target,
    restore() {
      g.addEventListener = saved.addEventListener;
      g.removeEventListener = saved.removeEventListener;
    },
  };
}

describe('guest SDK options', () => {
  let restore = () => {};
  afterEach(() => {
    vi.useRealTimers();
    restore();
  });

  it('gives requestTimeoutMs: undefined the default (a request without an answer fails with TIMEOUT)', async () => {
    vi.useFakeTimers();
    const host = silentHost();
    restore = host.restore;
    const rp = createResourceClient({ target: host.target, requestTimeoutMs: undefined, readyIntervalMs: undefined });
    await rp.ready();
    let outcome: unknown;
    rp.request('ws.send', { connectionId: 'c', data: 'x' }).then(
      () => (outcome = 'answered'),
      (e: { code: string }) => (outcome = e.code),
    );
    await vi.advanceTimersByTimeAsync(CLIENT_BRIDGE_DEFAULTS.requestTimeoutMs - 1);
    expect(outcome).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome).toBe('TIMEOUT');
    rp.dispose();
  });

  it('refuses impossible values with a TypeError naming the option', () => {
    const host = silentHost();
    restore = host.restore;
    expect(() => createResourceClient({ target: host.target, requestTimeoutMs: -1 })).toThrow(/requestTimeoutMs/);
    expect(() => createResourceClient({ target: host.target, readyIntervalMs: 0 })).toThrow(/readyIntervalMs/);
    expect(() => createResourceClient({ target: host.target, readyTimeoutMs: Number.NaN })).toThrow(TypeError);
    expect(() => createResourceClient({ target: host.target, targetOrigin: '' })).toThrow(/targetOrigin/);
  });
});

describe('backend SDK options', () => {
  const base = { methods: {}, policy: { allow: ['ws://127.0.0.1:*'] } };

  it('gives an undefined limit its default, and names a bad one', async () => {
    const server = createResourceServer({ ...base, limits: { maxConnections: undefined, handshakeTimeoutMs: undefined } });
    await server.close();
    expect(() => createResourceServer({ ...base, limits: { maxConnections: 0 } })).toThrow(/limits\.maxConnections/);
    expect(() => createResourceServer({ ...base, limits: { maxPayload: 1.5 } })).toThrow(/limits\.maxPayload/);
    expect(() => createResourceServer({ ...base, limits: { handshakeTimeoutMs: -1 } })).toThrow(/limits\.handshakeTimeoutMs/);
  });

  it('logs a throwing event listener with its connection id, and still runs the others', async () => {
    const logger = recordingLogger();
    const seen: WsEventMessage['event'][] = [];
    const server = createResourceServer({
      ...base,
      logger,
      onEvent: () => {
        throw new Error('listener bug');
      },
      methods: { open: async (_p: unknown, { rp }) => rp.ws.connect('dead', 'ws://127.0.0.1:1/') },
    });
    server.onEvent((e) => seen.push(e.event));
    await expect(server.call('open', {})).rejects.toMatchObject({ code: 'UPSTREAM_FAILED' });
    expect(seen).toEqual(['error', 'close']);
    expect(logger.lines.filter((l) => l.msg === 'bridge backend event listener threw').map((l) => (l.obj as { connectionId: string }).connectionId)).toEqual(['dead', 'dead']);
    await server.close();
  });
});

describe('BridgeErrorCode', () => {
  it('keeps its wire strings (each code is its own name), sharing the protocol spelling of the common ones', () => {
    for (const [name, code] of Object.entries(BridgeErrorCode)) expect(code).toBe(name);
    for (const common of ['BAD_REQUEST', 'INTERNAL', 'LIMIT_EXCEEDED', 'PAYLOAD_TOO_LARGE', 'TIMEOUT', 'ABORTED'] as const) {
      expect(BridgeErrorCode[common]).toBe(ErrorCode[common]);
    }
    expect(Object.keys(BridgeErrorCode).sort()).toEqual(
      [
        'ABORTED',
        'BAD_REQUEST',
        'CAPABILITY_DENIED',
        'CREDENTIAL_DENIED',
        'DISPOSED',
        'EGRESS_FAILED',
        'EGRESS_REQUIRED',
        'INTERNAL',
        'LIMIT_EXCEEDED',
        'NOT_CONNECTED',
        'PAYLOAD_TOO_LARGE',
        'TIMEOUT',
        'UNKNOWN_METHOD',
        'UPSTREAM_FAILED',
        'URL_NOT_ALLOWED',
      ].sort(),
    );
  });
});
