/**
 * `switchboard/otel` (docs/observability.md, "Tracing"): with the OpenTelemetry SDK's in-memory
 * exporter, one trace spans the client's span of a call and the server's span of it, the trace
 * context riding in the call frame (`tc`, docs/protocol.md §2.10); streams, uploads, failures and
 * handshakes get their spans; without an SDK nothing is added to frames.
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { formatTraceparent, otel, parseTraceparent, TRACE_ATTRIBUTES as A, traceContext } from '../src/otel/index.js';
import { ServerError } from '../src/protocol/errors.js';
import { jsonCodec } from '../src/protocol/codec.js';
import { createTestScope, until, upgradeHead } from './helpers.js';

const scope = createTestScope();

function sdk() {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  scope.defer(() => tracerProvider.shutdown());
  return { exporter, tracerProvider };
}

describe('tracing', () => {
  it('one trace spans the client and the server for calls, streams and uploads', async () => {
    const { exporter, tracerProvider } = sdk();
    const { url, port } = await scope.server({ observe: otel({ tracerProvider }), authenticate: (req) => (req.url?.includes('deny') ? null : {}) }, (s) => {
      s.command('add', ({ a, b }: { a: number; b: number }) => a + b);
      s.command('nope', () => {
        throw new ServerError('NOPE', 'no');
      });
      s.stream('count', function* (n: number) {
        for (let i = 0; i < n; i++) yield i;
      });
      s.upload('sum', async (_input, items) => {
        let sum = 0;
        for await (const i of items) sum += i as number;
        return sum;
      });
    });
    const c = scope.client(url, { codec: traceContext({ tracerProvider }) });
    expect(await c.call('add', { a: 2, b: 3 })).toBe(5);
    await expect(c.call('nope')).rejects.toMatchObject({ code: 'NOPE' });
    const items: unknown[] = [];
    for await (const i of c.stream('count', 2)) items.push(i);
    expect(items).toEqual([0, 1]);
    expect(await c.upload('sum', [1, 2])).toBe(3);
    expect((await scope.rawRequest(port, upgradeHead(port, '/ws?deny', ['Sec-WebSocket-Protocol: switchboard.v1.json']))).status).toBe(401);
    await until(() => exporter.getFinishedSpans().length >= 10, 'ten finished spans');

    const spans = exporter.getFinishedSpans();
    const pair = (name: string) => {
      const client = spans.find((s) => s.name === name && s.kind === SpanKind.CLIENT)!;
      const server = spans.find((s) => s.name === name && s.kind === SpanKind.SERVER)!;
      expect(client, `client span ${name}`).toBeDefined();
      expect(server, `server span ${name}`).toBeDefined();
      // One trace: the server's span is the child of the client's.
      expect(server.spanContext().traceId).toBe(client.spanContext().traceId);
      expect(server.parentSpanContext?.spanId).toBe(client.spanContext().spanId);
      return { client, server };
    };
    const add = pair('switchboard.call add');
    expect(add.server.attributes).toMatchObject({ [A.RPC_SYSTEM]: 'switchboard', [A.RPC_METHOD]: 'add', [A.KIND]: 'call', [A.OUTCOME]: 'ok' });
    expect(typeof add.server.attributes[A.CLIENT_ID]).toBe('string');
    expect(add.client.attributes).toMatchObject({ [A.RPC_METHOD]: 'add', [A.OUTCOME]: 'ok' });
    const nope = pair('switchboard.call nope');
    expect(nope.server.status).toEqual({ code: SpanStatusCode.ERROR, message: 'APPLICATION_ERROR' });
    expect(nope.client.status).toEqual({ code: SpanStatusCode.ERROR, message: 'NOPE' });
    expect(pair('switchboard.stream count').server.attributes[A.OUTCOME]).toBe('ok');
    expect(pair('switchboard.upload sum').server.attributes[A.OUTCOME]).toBe('ok');
    const handshakes = spans.filter((s) => s.name === 'switchboard.handshake');
    expect(handshakes.map((s) => s.attributes[A.CODEC] ?? s.attributes[A.REFUSAL_REASON]).sort()).toEqual(['json', 'refused']);
  });

  it('adds nothing to frames without an SDK, ignores a malformed tc and refuses a tc that is not a short string', async () => {
    const plain = traceContext();
    expect(plain.encode({ t: 'call', id: 1, name: 'add' })).toBe('{"t":"call","id":1,"name":"add"}');
    expect(parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 });
    expect(parseTraceparent('00-00000000000000000000000000000000-00f067aa0ba902b7-01')).toBeUndefined();
    expect(parseTraceparent('garbage')).toBeUndefined();
    expect(formatTraceparent({ traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 1 })).toBe(`00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`);
    expect(() => traceContext({ maxPending: 0 })).toThrow(/maxPending must be a positive integer/);

    const { exporter, tracerProvider } = sdk();
    const { url } = await scope.server({ observe: otel({ tracerProvider }) }, (s) => s.command('add', ({ a, b }: { a: number; b: number }) => a + b));
    const peer = await scope.peer(url).ready();
    expect(await peer.request({ t: 'call', id: 1, name: 'add', input: { a: 1, b: 1 }, tc: 'not a traceparent' })).toMatchObject({ t: 'ok', output: 2 });
    expect(await peer.request({ t: 'call', id: 2, name: 'add', input: { a: 1, b: 1 }, tc: 7 })).toMatchObject({ t: 'err', code: 'BAD_REQUEST', message: '"tc" must be a string of 1-256 characters' });
    expect(await peer.request({ t: 'stream', id: 3, name: 'x', credit: 1, tc: '' })).toMatchObject({ t: 'err', code: 'BAD_REQUEST' });
    await until(() => exporter.getFinishedSpans().some((s) => s.name === 'switchboard.call add'), 'the call span');
    // The malformed context is ignored: the span starts a trace of its own.
    expect(exporter.getFinishedSpans().find((s) => s.name === 'switchboard.call add')!.parentSpanContext).toBeUndefined();
  });

  it('ends a span left unanswered once more than maxPending wait', () => {
    const { exporter, tracerProvider } = sdk();
    const codec = traceContext({ tracerProvider, maxPending: 2 });
    for (let id = 1; id <= 3; id++) expect(String(codec.encode({ t: 'call', id, name: 'slow' }))).toMatch(/"tc":"00-[0-9a-f]{32}-[0-9a-f]{16}-01"/);
    expect(exporter.getFinishedSpans().map((s) => s.attributes[A.OUTCOME])).toEqual(['UNANSWERED']);
    codec.decode(jsonCodec.encode({ t: 'ok', id: 3 }) as string, false);
    expect(exporter.getFinishedSpans().map((s) => s.attributes[A.OUTCOME])).toEqual(['UNANSWERED', 'ok']);
  });
});
