/**
 * The SSE fallback's pure wire rules (src/protocol/sse.ts, docs/protocol.md §8) alone: the event
 * parser against chunks split anywhere, CRLF, comments and multi-line data; the POST body's lines;
 * session ids.
 */
import { describe, expect, it } from 'vitest';
import { bodyLine, createEventParser, readBody, sessionNode, sseEvent, type ParsedEvent } from '../src/protocol/sse.js';

describe('SSE wire rules', () => {
  it('events survive any split into chunks; comments are skipped; CRLF and multi-line data are read as the spec says', () => {
    const stream = `${sseEvent('{"s":1}', 'session')}:\n\n${sseEvent('{"t":"pong"}')}event: b\r\ndata: AAE=\r\n\r\n${sseEvent('two\nlines')}`;
    const want: ParsedEvent[] = [
      { event: 'session', data: '{"s":1}' },
      { event: 'message', data: '{"t":"pong"}' },
      { event: 'b', data: 'AAE=' },
      { event: 'message', data: 'two\nlines' },
    ];
    for (let cut = 0; cut <= stream.length; cut++) {
      const got: ParsedEvent[] = [];
      const feed = createEventParser((e) => got.push(e));
      feed(stream.slice(0, cut));
      feed(stream.slice(cut));
      expect(got, `cut at ${cut}`).toEqual(want);
    }
  });

  it('POST bodies: text lines as they are, binary as ~base64, blank lines skipped, bad base64 flagged', () => {
    const body = [bodyLine('{"t":"ping"}'), bodyLine(new Uint8Array([0, 255, 10])), '', bodyLine('{"t":"call"}')].join('\n');
    expect(readBody(body)).toEqual([
      { ok: true, data: '{"t":"ping"}', binary: false },
      { ok: true, data: new Uint8Array([0, 255, 10]), binary: true },
      { ok: true, data: '{"t":"call"}', binary: false },
    ]);
    expect(readBody('')).toEqual([]);
    expect(readBody('~not base64!')).toEqual([{ ok: false }]);
  });

  it('a session id names its node; anything else is no session id', () => {
    expect(sessionNode('8f9c294a-61fb-415b-8c25-49d526152473.4_McXraZp8IT7kgo2Wu52oXR')).toBe('8f9c294a-61fb-415b-8c25-49d526152473');
    for (const bad of [null, '', 'nodot', 'a.short', '.AAAAAAAAAAAAAAAAAAAAAAAA', 'a.b.AAAAAAAAAAAAAAAAAAAAAAAA', 'a b.AAAAAAAAAAAAAAAAAAAAAAAA']) expect(sessionNode(bad), String(bad)).toBeUndefined();
  });
});
