/**
 * The egress relay as an HTTP endpoint (docs/bridge.md §7.3): the protections it shares with the
 * Switchboard server through src/net/ — the slowloris guard of its own HTTP server, the shutdown
 * timeout, and the authentication deadline for any thenable — on real sockets on 127.0.0.1.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createEgressRelay, type EgressOptions } from '../src/bridge/node.js';
import { EGRESS_SUBPROTOCOL } from '../src/bridge/egress-protocol.js';
import { encodeTokenProtocol } from '../src/protocol/subprotocol.js';
import { silentLogger } from '../src/shared/logger.js';
import { createTestScope, guardUnhandledRejections, handshakeStatus, within } from './helpers.js';

guardUnhandledRejections();
const scope = createTestScope();

/** A relay on its own port on 127.0.0.1 that may open nothing reachable (these tests never connect upstream). */
async function relay<I = unknown>(o: Partial<EgressOptions<I>> = {}) {
  const r = scope.track(createEgressRelay<I>({ port: 0, host: '127.0.0.1', allow: ['ws://127.0.0.1:1/'], logger: silentLogger, ...o }));
  const { port } = await r.listen();
  return { relay: r, port, url: `ws://127.0.0.1:${port}/bridge/egress` };
}

describe('egress relay endpoint', () => {
  it('closes slowloris sockets (silent, half a request, a byte at a time) with 408 about handshakeTimeoutMs after they connect', async () => {
    const timeout = 300;
    const { port, url } = await relay({ limits: { handshakeTimeoutMs: timeout, maxConnectionsPerIp: 1 } });
    const peers = await scope.slowloris(port, '/bridge/egress');
    // Meanwhile they hold no admission slot: the one slot of the address still admits a relay connection.
    expect(await handshakeStatus(url, {}, [EGRESS_SUBPROTOCOL])).toBe(101);
    const results = await peers.closed();
    for (const { text, ms } of results) {
      expect(text).toMatch(/^HTTP\/1\.1 408 /);
      // Node checks every max(100, timeout / 4) ms; without that interval set it checks every 30 s.
      expect(ms).toBeGreaterThanOrEqual(timeout - 20);
      expect(ms).toBeLessThan(3_000);
    }
  });

  it('close() terminates a peer that never answers the close frame after shutdownTimeoutMs', async () => {
    const shutdownTimeoutMs = 200;
    const { relay: r, port } = await relay({ shutdownTimeoutMs });
    // A hand-written upgrade: the peer then reads but never sends anything, a close frame included.
    const s = await scope.tcp(port);
    let text = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (text += d));
    s.write(
      [
        'GET /bridge/egress HTTP/1.1',
        `Host: 127.0.0.1:${port}`,
        'Connection: Upgrade',
        'Upgrade: websocket',
        'Sec-WebSocket-Version: 13',
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
        `Sec-WebSocket-Protocol: ${EGRESS_SUBPROTOCOL}`,
      ].join('\r\n') + '\r\n\r\n',
    );
    await within(
      new Promise<void>((resolve) => s.on('data', () => text.includes('\r\n\r\n') && resolve())),
      'the 101 response',
    );
    expect(text).toMatch(/^HTTP\/1\.1 101 /);
    expect(r.connections).toBe(1);
    const t0 = performance.now();
    const gone = once(s, 'close');
    await within(r.close(), 'close() to resolve', 3_000);
    const ms = performance.now() - t0;
    await within(gone, 'the peer socket to close');
    // The close frame went out (1001), then nothing came back: terminated at the timeout, not at 5 s.
    expect(Buffer.from(text, 'latin1').includes(Buffer.from([0x88]))).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(shutdownTimeoutMs - 20);
    expect(ms).toBeLessThan(2_000);
    expect(r.connections).toBe(0);
  });

  it.each([
    { what: "another realm's Promise", pending: () => vm.runInNewContext('new Promise(() => {})') as Promise<string> },
    { what: 'a bare thenable (Bluebird-style)', pending: () => ({ then() {} }) as unknown as Promise<string> },
  ])('times out an authenticate that returns $what that never settles (503, slot released)', async ({ pending }) => {
    const { url, relay: r } = await relay<string>({
      limits: { handshakeTimeoutMs: 200, maxConnectionsPerIp: 1 },
      authenticate: (_req, token) => (token === 'ok' ? 'user' : pending()),
    });
    const t0 = performance.now();
    expect(await handshakeStatus(url, {}, [EGRESS_SUBPROTOCOL, encodeTokenProtocol('hang')])).toBe(503);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(180);
    // The slot is back: the address's only slot admits the next connection.
    const ok = new WebSocket(url, [EGRESS_SUBPROTOCOL, encodeTokenProtocol('ok')]);
    ok.on('error', () => {});
    await within(once(ok, 'open'), 'the relay to open');
    expect(r.connections).toBe(1);
    ok.terminate();
  });

  it('checks shutdownTimeoutMs like every option (undefined means the default)', () => {
    expect(() => createEgressRelay({ allow: ['wss://x'], shutdownTimeoutMs: -1 })).toThrow(/shutdownTimeoutMs/);
    expect(() => createEgressRelay({ allow: ['wss://x'], shutdownTimeoutMs: Number.NaN })).toThrow(TypeError);
    expect(() => createEgressRelay({ allow: ['wss://x'], limits: { handshakeTimeoutMs: undefined } })).not.toThrow();
  });
});
