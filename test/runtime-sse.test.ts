/**
 * The SSE + HTTP fallback (docs/protocol.md §8) on every runtime of test/runtime-server.ts: the
 * adapter is written once on WHATWG Request/Response and served by each runtime's HTTP side, so the
 * same cases run against Node and Bun — the stream's headers, calls, pub/sub, streams with credit,
 * and binary messages (MessagePack: every frame base64 under `event: b`).
 */
import { describe, expect, it } from 'vitest';
import { msgpack } from '../src/msgpack/index.js';
import { sse } from '../src/sse/index.js';
import { createTestScope, until, within } from './helpers.js';
import { RUNTIMES, sharedRuntimeServer, warnSkippedRuntimes } from './runtime-server.js';

warnSkippedRuntimes('test/runtime-sse.test.ts');
const scope = createTestScope();

describe.each(RUNTIMES)('SSE fallback on $name', (runtime) => {
  describe.skipIf(runtime.skip !== undefined)(runtime.skip ? `skipped: ${runtime.skip}` : 'against a server process', () => {
    const shared = sharedRuntimeServer(runtime, { sse: true });

    it('answers with an unbuffered event stream whose first event is the session', async () => {
      const abort = new AbortController();
      scope.defer(() => abort.abort());
      const res = await fetch(`http://127.0.0.1:${shared().port}/ws/sse`, { signal: abort.signal });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
      expect(res.headers.get('x-accel-buffering')).toBe('no');
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      await within(
        (async () => {
          while (!text.includes('"t":"welcome"')) text += (await reader.read()).value ?? '';
        })(),
        'session and welcome',
      );
      expect(text).toMatch(/^event: session\ndata: \{"session":"[^"]+","protocol":"switchboard\.v1\.json","maxBody":\d+\}\n\n/);
    });

    it.each(['json', 'msgpack'] as const)('calls, pub/sub and a stream with credit over the %s codec', async (codec) => {
      const c = scope.client(shared().url, { WebSocket: sse({ WebSocket: null }), ...(codec === 'msgpack' ? { codec: msgpack() } : {}) });
      expect(await c.call('echo', { n: 1, bytes: new Uint8Array([1, 2, 3]) })).toEqual({ n: 1, bytes: new Uint8Array([1, 2, 3]) });
      const got: unknown[] = [];
      await c.subscribe('feed:sse', (d) => got.push(d)).ready;
      await c.publish('feed:sse', 'hi');
      await until(() => got.length === 1, 'message');
      const items: unknown[] = [];
      for await (const x of c.stream('count', 200, { highWaterMark: 16 })) items.push(x);
      expect(items).toEqual(Array.from({ length: 200 }, (_, i) => i));
    });
  });
});
