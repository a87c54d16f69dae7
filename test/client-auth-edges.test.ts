import { describe, expect, it } from 'vitest';
import { createTestScope, until } from './helpers.js';

const scope = createTestScope();

describe('client token edge cases', () => {
  it("stops with UNAUTHORIZED when tokenIn is 'message' and the provider has no token", async () => {
    const { server, url } = await scope.server();
    const c = scope.client(url, { tokenIn: 'message', token: () => undefined, reconnect: { initialDelayMs: 5, maxDelayMs: 10 } });
    const errors: string[] = [];
    c.on('error', (e) => errors.push((e as { code?: string }).code ?? ''));
    await until(() => c.state === 'closed', 'client stops');
    expect(errors).toEqual(['UNAUTHORIZED']);
    expect(server.connections).toBe(0);
  });

  it('refuses a URL with a #fragment (invalid for WebSockets) without the query token in the error', async () => {
    const { url } = await scope.server({ authenticate: () => 'ok' });
    const c = scope.client(`${url}?room=1#frag`, { tokenIn: 'query', token: 'secret-token' });
    const errors: Error[] = [];
    c.on('error', (e) => errors.push(e));
    await until(() => c.state === 'closed', 'client stops on an invalid URL');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).not.toContain('secret-token');
  });

  it('appends the query token to an existing query string', async () => {
    const seen: (string | undefined)[] = [];
    const { url } = await scope.server({ authenticate: (req) => (seen.push(req.url), 'ok') });
    const c = scope.client(`${url}?room=1`, { tokenIn: 'query', token: 'tok en' });
    await until(() => c.state === 'open', 'open');
    expect(seen).toEqual(['/ws?room=1&token=tok%20en']);
  });
});

describe('ping floods', () => {
  it('are charged to the rate limit and end in 1008', async () => {
    const { url } = await scope.server({ limits: { rate: { perSecond: 10, burst: 5 } } });
    const p = await scope.peer(url).ready();
    for (let i = 0; i < 100; i++) p.send({ t: 'ping' });
    expect(await p.closed()).toBe(1008);
    // Only the pings within the budget were answered.
    expect(p.frames.filter((f) => f.t === 'pong').length).toBeLessThanOrEqual(6);
  });
});
