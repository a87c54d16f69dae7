/**
 * `switchboard serve` and `switchboard connect` through the real binary: a server on port 0, the
 * one-shot mode printing JSON lines, and the interactive session driven through its stdin.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTestScope, within } from './helpers.js';
import { CLI, cleanEnv, root, runCli, runCliToEnd, serveCli } from './cli-fixtures.js';

const scope = createTestScope();
const lines = (text: string) => text.split('\n').filter(Boolean);

/** A port nothing listens on: one the OS just gave out and took back. */
async function closedPort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('switchboard connect, one operation', () => {
  it('serve --port 0 prints its URL; --call prints the result as a JSON line', async () => {
    const server = await serveCli(scope);
    expect(server.stdout()).toMatch(/^listening on ws:\/\/127\.0\.0\.1:\d+\/ws\n/);
    const echo = await runCliToEnd(scope, ['connect', server.url, '--call', 'echo', '--input', '{"list":[1,"two",null],"n":1.5}']);
    expect(echo).toEqual({ code: 0, stdout: '{"list":[1,"two",null],"n":1.5}\n', stderr: '' });
    const add = await runCliToEnd(scope, ['connect', server.url, '--call', 'add', '--input', '{"a":1,"b":2}', '--codec', 'msgpack']);
    expect(add).toEqual({ code: 0, stdout: '3\n', stderr: '' });
  });

  it('a refused call exits 1 with the error code on stderr and nothing on stdout', async () => {
    const server = await serveCli(scope);
    const missing = await runCliToEnd(scope, ['connect', server.url, '--call', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toMatch(/^error NOT_FOUND: /);
    const invalid = await runCliToEnd(scope, ['connect', server.url, '--call', 'add', '--input', '{"a":"x","b":2}']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/^error INVALID_INPUT: .*"path":\["a"\]/);
  });

  it('--stream prints each item; --count stops early and exits 0', async () => {
    const server = await serveCli(scope);
    const all = await runCliToEnd(scope, ['connect', server.url, '--stream', 'ticks', '--input', '{"count":3,"intervalMs":10}']);
    expect(all.code).toBe(0);
    expect(lines(all.stdout).map((l) => (JSON.parse(l) as { n: number }).n)).toEqual([1, 2, 3]);
    const two = await runCliToEnd(scope, ['connect', server.url, '--stream', 'ticks', '--input', '{"count":1000,"intervalMs":10}', '--count', '2']);
    expect(two.code).toBe(0);
    expect(lines(two.stdout)).toHaveLength(2);
  });

  it('--sub prints {data, meta} lines and exits after --count; --pub publishes', async () => {
    const server = await serveCli(scope);
    const watcher = scope.client(server.url);
    const room = watcher.subscribe('room:cli', () => {});
    await room.ready;
    // The subscriber is in the room once presence says so: publish only then.
    const joined = new Promise((resolve) => room.on('join', resolve));
    const sub = runCli(scope, ['connect', server.url, '--sub', 'room:cli', '--count', '2']);
    await within(joined, 'the CLI subscriber to join');
    for (const text of ['one', 'two']) {
      const pub = await runCliToEnd(scope, ['connect', server.url, '--pub', 'room:cli', '--input', JSON.stringify({ text })]);
      expect(pub).toEqual({ code: 0, stdout: '', stderr: '' });
    }
    expect(await sub.exited()).toBe(0);
    const got = lines(sub.stdout()).map((l) => JSON.parse(l) as { data: unknown; meta: { topic: string; offset: number; from: string } });
    expect(got.map((m) => m.data)).toEqual([{ text: 'one' }, { text: 'two' }]);
    expect(got.map((m) => [m.meta.topic, m.meta.offset])).toEqual([['room:cli', 1], ['room:cli', 2]]);
    expect(typeof got[0]!.meta.from).toBe('string');
  });

  it('Ctrl-C (SIGINT) ends a --sub with exit 0 and what it printed so far', async () => {
    const server = await serveCli(scope);
    const room = scope.client(server.url).subscribe('room:sigint', () => {});
    await room.ready;
    const joined = new Promise((resolve) => room.on('join', resolve));
    const sub = runCli(scope, ['connect', server.url, '--sub', 'room:sigint']);
    await within(joined, 'the CLI subscriber to join');
    sub.child.kill('SIGINT');
    expect(await sub.exited()).toBe(0);
    expect(sub.stdout()).toBe('');
    expect(sub.stderr()).toBe('');
  });

  it('--timeout ends a wait with TIMEOUT (exit 1); an unreachable server fails at once with UNREACHABLE and its system cause', async () => {
    const server = await serveCli(scope);
    const waited = await runCliToEnd(scope, ['connect', server.url, '--sub', 'room:quiet', '--count', '1', '--timeout', '300ms']);
    expect(waited.code).toBe(1);
    expect(waited.stderr).toMatch(/^error TIMEOUT: not done within --timeout 300 ms/);
    const url = `ws://127.0.0.1:${await closedPort()}/ws`;
    const refused = await runCliToEnd(scope, ['connect', url, '--call', 'echo']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(`error UNREACHABLE: ${url}: cannot connect: ECONNREFUSED (close code 1006) {"code":1006,"reason":"","cause":"ECONNREFUSED"}\n`);
    const forbidden = await runCliToEnd(scope, ['connect', server.url, '--sub', 'secret']);
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toMatch(/^error FORBIDDEN: /);
  });
});

describe('switchboard connect, interactive', () => {
  it('runs call, sub, pub and exit from stdin, printing state, results and messages in order', async () => {
    const server = await serveCli(scope);
    const run = await runCliToEnd(scope, ['connect', server.url], {
      stdin: 'call add {"a":1,"b":2}\nsub room:lobby\npub room:lobby "hi"\nunsub room:lobby\nexit\n',
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const out = lines(run.stdout);
    expect(out[0]).toBe(`● connecting to ${server.url}`);
    expect(out[1]).toMatch(/^● open \(client id [\w-]+\)$/);
    const id = /client id ([\w-]+)/.exec(out[1]!)![1];
    expect(out.slice(2)).toEqual([
      '← 3',
      `subscribed room:lobby · members: ${id}`,
      '[room:lobby #1] you: "hi"', // the author's own copy comes before publish() resolves
      'published to room:lobby',
      'unsubscribed room:lobby',
    ]);
    expect(run.stdout).not.toContain('\x1b['); // a pipe gets no colors
  });

  it('shows other members joining, their messages, streams, and errors without ending the session', async () => {
    const server = await serveCli(scope);
    const session = runCli(scope, ['connect', server.url]);
    session.write('sub room:team\n');
    await session.waitFor(/^subscribed room:team/m);
    const other = scope.client(server.url);
    await other.subscribe('room:team', () => {}).ready;
    const joined = await session.waitFor(/^\[room:team\] \+ ([\w-]+) joined$/m);
    expect(joined[1]).toBe(other.clientId);
    await other.publish('room:team', { text: 'hello' });
    await session.waitFor(new RegExp(`^\\[room:team #1\\] ${other.clientId}: \\{"text":"hello"\\}$`, 'm'));
    session.write('stream ticks {"count":2,"intervalMs":10}\ncall add {"a":\ncall nope\nfrobnicate\npub room:team hi\npresence room:team\n');
    await session.waitFor(/^error .*a string needs quotes/m);
    other.close();
    await session.waitFor(/^\[room:team\] - [\w-]+ left$/m);
    session.write('exit\n');
    // Commands that failed make a piped session exit 1, so a script notices.
    expect(await session.exited()).toBe(1);
    const out = session.stdout();
    expect(out).toMatch(/^\[ticks\] \{"n":1,.*\n\[ticks\] \{"n":2,.*\n\[ticks\] end \(2 items\)$/m);
    expect(out).toMatch(/^error input is not JSON: /m);
    expect(out).toMatch(/^error NOT_FOUND: /m);
    expect(out).toMatch(/^error unknown command "frobnicate" \(type help\)$/m);
    expect(out).toMatch(/^error payload is not JSON: .*\(a string needs quotes: '"hi"'\)$/m);
    expect(out).toMatch(new RegExp(`^[\\w-]+, ${other.clientId}$|^${other.clientId}, [\\w-]+$`, 'm'));
  });

  it('on a terminal: the state in a colored prompt, and the history kept in a file across runs', async () => {
    // util-linux script(1) gives the session a pseudo-terminal, as a person's shell does.
    if (!existsSync('/usr/bin/script')) {
      console.log('skipped: no /usr/bin/script to run the session on a pseudo-terminal');
      return;
    }
    const server = await serveCli(scope);
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-cli-tty-'));
    scope.defer(() => rmSync(dir, { recursive: true, force: true }));
    const history = join(dir, 'history');
    const env = cleanEnv({ SWITCHBOARD_HISTORY: history, TERM: 'xterm' });
    const session = runCli(scope, ['-qfec', `${process.execPath} ${CLI} connect ${server.url}`, '/dev/null'], { env, command: '/usr/bin/script' });
    await session.waitFor(/\x1b\[32mopen\x1b\[39m\x1b\[2m>/); // the prompt says open, in green
    session.write('call add {"a":2,"b":3}\r');
    await session.waitFor(/←\x1b\[22m 5\r?\n/); // a dim arrow, the result
    session.write('exit\r');
    expect(await session.exited()).toBe(0);
    expect(readFileSync(history, 'utf8')).toBe('call add {"a":2,"b":3}\nexit\n');
    // The next run starts with that history: two ↑ recall the call.
    const again = runCli(scope, ['-qfec', `${process.execPath} ${CLI} connect ${server.url}`, '/dev/null'], { env, command: '/usr/bin/script' });
    await again.waitFor(/\x1b\[32mopen\x1b\[39m/);
    again.write('\x1b[A\x1b[A\r');
    await again.waitFor(/←\x1b\[22m 5\r?\n/);
    again.write('exit\r');
    expect(await again.exited()).toBe(0);
  });

  it("shows the server's targeted events and the topics it subscribes the client to, with their messages", async () => {
    const server = await serveCli(scope, ['--config', resolve(root, 'test/fixtures/cli-config-control.js')]);
    const session = runCli(scope, ['connect', server.url]);
    const [, id] = await session.waitFor(/^● open \(client id ([\w-]+)\)$/m);
    await session.waitFor(new RegExp(`^event hello \\{"clientId":"${id}"\\}$`, 'm'));
    await session.waitFor(new RegExp(`^subscribed by the server own:${id}$`, 'm'));
    session.write('call poke\n');
    await session.waitFor(new RegExp(`^\\[own:${id} #1\\] server: "poked"$`, 'm'));
    session.write('exit\n');
    expect(await session.exited()).toBe(0);
    expect(session.stderr()).toBe('');
  });

  it('serve prints each refused handshake (category and address, never the token) on stderr', async () => {
    const server = await serveCli(scope, ['--secret', 'cli-serve-secret-0123456789abcdefghij']);
    const run = await runCliToEnd(scope, ['connect', server.url, '--call', 'echo', '--token', 'not-a-jwt-token-text']);
    expect(run.code).toBe(1);
    const [line] = await server.waitFor(/^info handshake refused.*$/m, 5_000, 'stderr');
    expect(line).toContain('endpoint=Server category=malformed status=401');
    expect(line).toContain('ip=127.0.0.1');
    expect(server.stderr()).not.toContain('not-a-jwt-token-text');
  });

  it('shows the connection lost and the reconnect attempts when the server goes away (serve ends on SIGTERM)', async () => {
    const server = await serveCli(scope);
    const session = runCli(scope, ['connect', server.url]);
    await session.waitFor(/^● open/m);
    server.child.kill('SIGTERM');
    expect(await server.exited()).toBe(0);
    expect(server.stderr()).toMatch(/SIGTERM: closing/);
    await session.waitFor(/^● connection lost \(1001[^)]*\)$/m);
    await session.waitFor(/^● reconnecting: attempt 1 in \d+ ms$/m);
    session.write('exit\n');
    expect(await session.exited()).toBe(0);
  });
});
