/**
 * The CLI's pure parts, tested alone: flag values, line splitting, the progress bar, config
 * shapes, colors, JSON output; and that the library never reaches the CLI's modules.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { durationMs, json, port, positiveCount, UsageError } from '../src/cli/args.js';
import { planConnect, wsUrl } from '../src/cli/connect.js';
import { errorText, jsonText } from '../src/cli/format.js';
import { planStep, progressBar } from '../src/cli/progress.js';
import { splitLine } from '../src/cli/repl.js';
import { displayUrl } from '../src/cli/serve.js';
import { normalizeConfig } from '../src/cli/serve-config.js';
import { colorWanted, createStyle } from '../src/cli/style.js';
import { parseClaims, weakSecret } from '../src/cli/token.js';
import { SwitchboardError } from '../src/protocol/errors.js';
import { root } from './cli-fixtures.js';

const usage = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('no UsageError');
};

describe('CLI flag values', () => {
  it('durations: a bare number is seconds; ms, s, m, h, d; nothing else', () => {
    expect(durationMs('ttl', '90')).toBe(90_000);
    expect(durationMs('ttl', '500ms')).toBe(500);
    expect(durationMs('ttl', '1.5s')).toBe(1500);
    expect(durationMs('ttl', '15m')).toBe(900_000);
    expect(durationMs('ttl', '1h')).toBe(3_600_000);
    expect(durationMs('ttl', '7d')).toBe(604_800_000);
    for (const bad of ['', '0', '0s', '-1', '1w', 'h', '1 h h', 'Infinity']) expect(usage(() => durationMs('ttl', bad))).toMatch(/^--ttl must be a positive duration/);
  });

  it('counts, ports and JSON refuse what they cannot use, naming the flag', () => {
    expect(positiveCount('count', '3')).toBe(3);
    for (const bad of ['0', '-1', '1.5', 'x', '']) expect(usage(() => positiveCount('count', bad))).toMatch(/^--count must be a positive integer/);
    expect(port('0')).toBe(0);
    expect(port('65535')).toBe(65_535);
    for (const bad of ['65536', '-1', 'http', '']) expect(usage(() => port(bad))).toMatch(/^--port must be an integer from 0 to 65535/);
    expect(json('--input', '{"a":1}')).toEqual({ a: 1 });
    expect(usage(() => json('--input', 'hi'))).toMatch(/^--input is not JSON: .*a string needs quotes/);
    expect(usage(() => json('--input', '{'))).not.toMatch(/quotes/);
  });

  it('URLs: ws and wss, http(s) read as ws(s); anything else is a usage error', () => {
    expect(wsUrl('ws://127.0.0.1:8080/ws')).toBe('ws://127.0.0.1:8080/ws');
    expect(wsUrl('https://example.com/ws')).toBe('wss://example.com/ws');
    expect(usage(() => wsUrl('ftp://x'))).toMatch(/must start with ws:\/\/ or wss:\/\//);
    expect(usage(() => wsUrl('not a url'))).toMatch(/^not a URL/);
  });

  it('connect: one operation per run, and the flags that go with it', () => {
    const env = {};
    expect(planConnect(['ws://h/ws'], env)).toEqual({ url: 'ws://h/ws', codec: 'json' });
    expect(planConnect(['ws://h/ws', '--call', 'add', '--input', '{"a":1}'], env)).toMatchObject({ op: { mode: 'call', target: 'add', input: { a: 1 }, timeoutMs: 30_000 } });
    expect(planConnect(['ws://h/ws', '--sub', 't', '--count', '2'], env)).toEqual({ url: 'ws://h/ws', codec: 'json', op: { mode: 'sub', target: 't', input: undefined, count: 2 } });
    expect(planConnect(['ws://h/ws'], { SWITCHBOARD_TOKEN: 'tok' })).toMatchObject({ token: 'tok' });
    expect(planConnect(['ws://h/ws', '--token', 'flag'], { SWITCHBOARD_TOKEN: 'env' })).toMatchObject({ token: 'flag' });
    expect(usage(() => planConnect([], env))).toMatch(/URL is missing/);
    expect(usage(() => planConnect(['ws://h/ws', '--call', 'a', '--sub', 't'], env))).toMatch(/--call and --sub cannot be combined/);
    expect(usage(() => planConnect(['ws://h/ws', '--input', '1'], env))).toMatch(/go with an operation/);
    expect(usage(() => planConnect(['ws://h/ws', '--pub', 't'], env))).toMatch(/--pub needs --input/);
    expect(usage(() => planConnect(['ws://h/ws', '--call', 'a', '--count', '1'], env))).toMatch(/--count applies to --sub and --stream/);
    expect(usage(() => planConnect(['ws://h/ws', '--codec', 'cbor'], env))).toMatch(/--codec must be json or msgpack/);
    expect(usage(() => planConnect(['ws://h/ws', '--nope'], env))).toBe('unknown option --nope (see: switchboard connect --help)');
  });

  it('claims: JSON values when they parse, strings otherwise; registered claims have their own flags', () => {
    expect(parseClaims(['admin=true', 'n=42', 'name=Alice', 'roles=["a","b"]', 'eq=a=b'])).toEqual({ admin: true, n: 42, name: 'Alice', roles: ['a', 'b'], eq: 'a=b' });
    expect(usage(() => parseClaims(['sub=bob']))).toMatch(/set by its own flag/);
    expect(usage(() => parseClaims(['novalue']))).toMatch(/KEY=VALUE/);
    expect(weakSecret('x'.repeat(31))).toMatch(/31 bytes.*openssl rand -base64 32/);
    expect(weakSecret('é'.repeat(16))).toBeUndefined(); // bytes of UTF-8, as jwt() uses the secret
  });
});

describe('CLI output', () => {
  it('splits an interactive line into command, argument and JSON (which may hold spaces)', () => {
    expect(splitLine('  call add {"a": 1, "b": 2}  ')).toEqual({ cmd: 'call', arg: 'add', rest: '{"a": 1, "b": 2}' });
    expect(splitLine('sub room:lobby')).toEqual({ cmd: 'sub', arg: 'room:lobby' });
    expect(splitLine('help')).toEqual({ cmd: 'help' });
    expect(splitLine('   ')).toEqual({ cmd: '' });
  });

  it('JSON lines: binary values as { $base64 }, undefined as null, bigints as strings', () => {
    expect(jsonText({ bytes: new Uint8Array([1, 2, 255]), buf: Buffer.from('hi') })).toBe('{"bytes":{"$base64":"AQL/"},"buf":{"$base64":"aGk="}}');
    expect(jsonText(undefined)).toBe('null');
    expect(jsonText({ n: 2n ** 64n })).toBe('{"n":"18446744073709551616"}');
    expect(errorText(new SwitchboardError('LIMIT', 'At most 100', { max: 100 }))).toBe('LIMIT: At most 100 {"max":100}');
    expect(errorText(new Error('plain'))).toBe('plain');
  });

  it('colors: off for a pipe and with NO_COLOR, on for a terminal and with FORCE_COLOR', () => {
    expect(colorWanted({ isTTY: true }, {})).toBe(true);
    expect(colorWanted({ isTTY: false }, {})).toBe(false);
    expect(colorWanted({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(colorWanted({ isTTY: true }, { NO_COLOR: '' })).toBe(true); // no-color.org: set and not empty
    expect(colorWanted({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
    expect(colorWanted({ isTTY: true }, { FORCE_COLOR: '0' })).toBe(false);
    expect(colorWanted({ isTTY: false }, { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(false);
    expect(colorWanted({ isTTY: true }, { TERM: 'dumb' })).toBe(false);
    expect(createStyle({ isTTY: false }, {}).error('x')).toBe('x');
    expect(createStyle({ isTTY: false }, { FORCE_COLOR: '1' }).error('x')).toBe('\x1b[31mx\x1b[39m');
  });

  it('the bench progress bar: from the runner plan lines, cut to the terminal width', () => {
    expect(planStep('[3/40] rpc · raw ws · rep 1/3 · 12 s')).toEqual({ step: 3, total: 40, label: 'rpc · raw ws · rep 1/3 · 12 s' });
    expect(planStep('switchboard bench · quick')).toBeUndefined();
    expect(planStep('[0/4] x')).toBeUndefined();
    expect(planStep('[5/4] x')).toBeUndefined();
    expect(progressBar(1, 4, 'rpc', 80, 8)).toBe('[░░░░░░░░] 0/4 rpc');
    expect(progressBar(3, 4, 'rpc', 80, 8)).toBe('[████░░░░] 2/4 rpc');
    const cut = progressBar(4, 4, 'x'.repeat(200), 40, 8);
    expect(cut).toHaveLength(39);
    expect(cut.endsWith('…')).toBe(true);
  });

  it('serve prints a URL clients can use, also for a wildcard bind', () => {
    expect(displayUrl('127.0.0.1', 8080, '/ws')).toBe('ws://127.0.0.1:8080/ws');
    expect(displayUrl('0.0.0.0', 1, '/ws')).toBe('ws://127.0.0.1:1/ws');
    expect(displayUrl('::', 1, '/x')).toBe('ws://[::1]:1/x');
  });
});

describe('CLI config modules', () => {
  it('a function, or { options?, setup }; anything else is refused with the shape expected', () => {
    const setup = () => {};
    expect(normalizeConfig('c.js', setup)).toEqual({ setup });
    expect(normalizeConfig('c.js', { setup, options: { path: '/x' } })).toEqual({ setup, options: { path: '/x' } });
    expect(usage(() => normalizeConfig('c.js', undefined))).toMatch(/^c\.js must default-export a function .* it exports no default/);
    expect(usage(() => normalizeConfig('c.js', { options: {} }))).toMatch(/its setup is not a function/);
    expect(usage(() => normalizeConfig('c.js', { setup, options: 3 }))).toMatch(/options must be an object/);
  });
});

describe('CLI docs', () => {
  it('the config module in docs/cli.md is the one the tests run (test/fixtures/cli-config.js)', () => {
    const doc = readFileSync(join(root, 'docs/cli.md'), 'utf8');
    const block = /```js\n\/\/ switchboard\.config\.js[^\n]*\n([\s\S]*?)```/.exec(doc)?.[1];
    const fixture = readFileSync(join(root, 'test/fixtures/cli-config.js'), 'utf8');
    const fromImport = (text: string) => text.slice(text.indexOf('import '));
    expect(block).toBeDefined();
    expect(fromImport(block!)).toBe(fromImport(fixture));
  });
});

describe('CLI packaging', () => {
  it('no module of the library imports the CLI (its imports stay out of the library graph)', () => {
    const dist = join(root, 'dist');
    const offenders: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          if (path !== join(dist, 'cli')) walk(path);
        } else if (/\.(js|d\.ts)$/.test(entry.name)) {
          const src = readFileSync(path, 'utf8');
          for (const m of src.matchAll(/(?:from\s*|import\s*\(\s*)['"]([^'"]+)['"]/g)) {
            if (/(^|\/)cli\//.test(m[1]!)) offenders.push(`${relative(dist, path)} → ${m[1]}`);
          }
        }
      }
    };
    walk(dist);
    expect(readdirSync(join(dist, 'cli'))).toContain('index.js');
    expect(offenders).toEqual([]);
  });
});
