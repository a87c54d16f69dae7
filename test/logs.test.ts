/**
 * `switchboard/pino` and the log level rules (docs/observability.md, "Logs"): redaction checked on
 * captured output, a live server's lifecycle and error lines, `SWITCHBOARD_LOG_LEVEL` for the pino
 * logger and the default console logger.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createPinoLogger } from '../src/logs/index.js';
import { consoleLogger } from '../src/shared/logger.js';
import { createTestScope, until } from './helpers.js';

const scope = createTestScope();

/** A pino destination that keeps every line, parsed. */
function capture(): { write(line: string): void; lines: Record<string, unknown>[]; text: () => string } {
  const raw: string[] = [];
  return {
    write: (line) => void raw.push(line),
    get lines() {
      return raw.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    text: () => raw.join(''),
  };
}

afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe('createPinoLogger', () => {
  it('redacts tokens, cookies, authorization headers and credential values, keeping the rest', () => {
    const out = capture();
    const log = createPinoLogger({ level: 'info', destination: out, redact: ['user.email'] });
    log.info(
      {
        token: 'tok-1',
        password: 'pw-2',
        nested: { apiKey: 'key-3', secret: 'sec-4', kept: 'visible' },
        headers: { cookie: 'sid=cookie-5', 'x-api-key': 'key-6' },
        req: {
          url: '/ws/sse?session=n1.sess-13&seq=4&token=tok-8&auth=tok-9',
          headers: { authorization: 'Bearer tok-10', 'sec-websocket-protocol': 'switchboard.v1.json, switchboard.token.tok-11', 'switchboard-protocol': 'switchboard.v1.json, switchboard.token.tok-12', host: 'example.test' },
        },
        user: { email: 'a@b.test', id: 'u1' },
      },
      'request',
    );
    const text = out.text();
    for (let i = 1; i <= 13; i++) expect(text).not.toMatch(new RegExp(`-${i}\\b`));
    expect(text).not.toContain('a@b.test');
    const [line] = out.lines as [Record<string, any>];
    expect(line.msg).toBe('request');
    expect(line.nested.kept).toBe('visible');
    expect(line.token).toBe('[Redacted]');
    expect(line.req.url).toBe('/ws/sse?session=[Redacted]&seq=4&token=[Redacted]&auth=[Redacted]');
    expect(line.req.headers.host).toBe('example.test');
    expect(line.user).toEqual({ email: '[Redacted]', id: 'u1' });
  });

  it('takes its level from the option, else SWITCHBOARD_LOG_LEVEL, else silent under a test runner', () => {
    expect(createPinoLogger().level).toBe('silent');
    vi.stubEnv('SWITCHBOARD_LOG_LEVEL', 'debug');
    expect(createPinoLogger().level).toBe('debug');
    expect(createPinoLogger({ level: 'warn' }).level).toBe('warn');
    vi.stubEnv('SWITCHBOARD_LOG_LEVEL', 'loud');
    expect(() => createPinoLogger()).toThrow(/SWITCHBOARD_LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent, got "loud"/);
    expect(() => createPinoLogger({ level: 'verbose' as never })).toThrow(/level must be one of/);
    // A misspelt redact would write the secrets it was meant to hide.
    expect(() => createPinoLogger({ redacts: ['user.email'] } as never)).toThrow(new TypeError('redacts is not an option (level, redact, base, destination)'));
    expect(() => createPinoLogger({ redact: 'token' as never })).toThrow(/redact must be an array/);
  });

  it("logs a live server's connection lifecycle with client and member ids, and its errors, never the token", async () => {
    const out = capture();
    const logger = createPinoLogger({ level: 'debug', destination: out });
    const { url, server } = await scope.server({ logger, authenticate: (_req, token) => (token === 'sekret-token-value' ? { user: 'ada' } : null), presence: { key: (id: { user: string }) => id.user } }, (s) => {
      s.command('boom', () => {
        throw new Error('handler bug');
      });
    });
    const c = scope.client(url, { token: 'sekret-token-value' });
    await expect(c.call('boom')).rejects.toMatchObject({ code: 'INTERNAL' });
    c.close();
    await until(() => server.connections === 0, 'the client to leave');
    await until(() => out.lines.some((l) => l.msg === 'connection closed'), 'the closed line');
    const lines = out.lines;
    const opened = lines.find((l) => l.msg === 'connection opened') as Record<string, any>;
    expect(opened).toMatchObject({ level: 20, codec: 'json', member: 'ada' });
    expect(typeof opened.clientId).toBe('string');
    expect(lines.find((l) => l.msg === 'handler failed')).toMatchObject({ level: 50, clientId: opened.clientId, member: 'ada', what: 'command boom', err: { message: 'handler bug' } });
    expect(lines.find((l) => l.msg === 'connection closed')).toMatchObject({ clientId: opened.clientId, member: 'ada', code: 1000 });
    expect(out.text()).not.toContain('sekret-token-value');
  });
});

describe('the default console logger', () => {
  it('writes warnings and errors only, unless SWITCHBOARD_LOG_LEVEL says otherwise', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const debug = vi.spyOn(console, 'debug').mockImplementation(() => {});
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    consoleLogger.warn({ a: 1 }, 'w');
    consoleLogger.debug({ a: 1 }, 'd');
    expect(warn).toHaveBeenCalledTimes(1);
    expect(debug).not.toHaveBeenCalled();
    expect(consoleLogger.isLevelEnabled?.('debug')).toBe(false);
    vi.stubEnv('SWITCHBOARD_LOG_LEVEL', 'debug');
    consoleLogger.debug({ a: 1 }, 'd');
    expect(debug).toHaveBeenCalledTimes(1);
    expect(consoleLogger.isLevelEnabled?.('debug')).toBe(true);
    vi.stubEnv('SWITCHBOARD_LOG_LEVEL', 'silent');
    consoleLogger.warn({ a: 1 }, 'w');
    expect(warn).toHaveBeenCalledTimes(1);
    vi.stubEnv('SWITCHBOARD_LOG_LEVEL', 'noisy');
    consoleLogger.error({ a: 1 }, 'e');
    expect(error).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('SWITCHBOARD_LOG_LEVEL="noisy" is not a level'));
  });
});
