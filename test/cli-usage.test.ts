/**
 * The CLI's contract with shells and scripts, through the real binary: help, usage errors (exit 2)
 * naming the flag, colors, serve's config modules and Redis engine, and bench — in a checkout, and
 * from a copy laid out like an installed package (no bench/, no ioredis).
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, mkdirSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createTestScope, within } from './helpers.js';
import { cleanEnv, root, runCliToEnd, serveCli } from './cli-fixtures.js';

const scope = createTestScope();

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(port, '127.0.0.1');
    s.setTimeout(1_000, () => (s.destroy(), resolve(false)));
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/**
 * dist/ and package.json copied to a temporary folder, with every dependency but ioredis linked
 * beside them: the CLI as `npm install switchboard` lays it out (no bench/, no optional peer).
 */
function installedCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-cli-'));
  scope.defer(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true });
  cpSync(join(root, 'package.json'), join(dir, 'package.json'));
  mkdirSync(join(dir, 'node_modules'));
  for (const name of readdirSync(join(root, 'node_modules'))) {
    if (name !== 'ioredis' && name !== '.bin') symlinkSync(join(root, 'node_modules', name), join(dir, 'node_modules', name));
  }
  return dir;
}

describe('switchboard usage', () => {
  it('--help for the CLI and each command (exit 0); no command prints the usage and exits 2', async () => {
    const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
    expect(await runCliToEnd(scope, ['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    const top = await runCliToEnd(scope, ['--help']);
    expect(top.code).toBe(0);
    for (const c of ['connect', 'serve', 'token', 'bench']) expect(top.stdout).toContain(`  ${c}`);
    const none = await runCliToEnd(scope, []);
    expect(none).toMatchObject({ code: 2, stdout: '' });
    expect(none.stderr).toContain('Usage: switchboard <command>');
    const flags: Record<string, string[]> = {
      connect: ['--token', '--codec', '--call', '--stream', '--sub', '--pub', '--input', '--count', '--timeout'],
      serve: ['--config', '--port', '--host', '--path', '--redis', '--secret'],
      token: ['--secret', '--sub', '--ttl', '--aud', '--iss', '--claim'],
      bench: ['--quick', '--smoke', '--reps', '--only', '--stacks'],
    };
    for (const [command, names] of Object.entries(flags)) {
      const help = await runCliToEnd(scope, [command, '--help']);
      expect({ command, code: help.code, stderr: help.stderr }).toEqual({ command, code: 0, stderr: '' });
      expect(help.stdout).toMatch(new RegExp(`^Usage: switchboard ${command}`));
      for (const flag of names) expect(help.stdout, `${command} ${flag}`).toContain(`${flag} `);
    }
  });

  it('an unknown command or flag, or a bad value, exits 2 naming it, with nothing on stdout', async () => {
    const cases: [string[], RegExp][] = [
      [['frob'], /unknown command "frob"/],
      [['connect', 'ws://127.0.0.1:1/ws', '--verbose'], /unknown option --verbose \(see: switchboard connect --help\)/],
      [['serve', '--tls'], /unknown option --tls \(see: switchboard serve --help\)/],
      [['token', '--alg', 'HS512'], /unknown option --alg/],
      [['bench', '--fast'], /unknown option --fast \(see: switchboard bench --help\)/],
      [['serve', '--port', 'eighty'], /--port must be an integer from 0 to 65535/],
      [['connect', 'ws://127.0.0.1:1/ws', '--call'], /--call <value>' argument missing/],
      [['connect', 'ws://127.0.0.1:1/ws', '--call', 'x', '--input', '{bad'], /--input is not JSON/],
      [['bench', '--reps', '0'], /--reps must be a positive integer/],
    ];
    for (const [args, message] of cases) {
      const run = await runCliToEnd(scope, args);
      expect({ args, code: run.code, stdout: run.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(run.stderr, args.join(' ')).toMatch(message);
    }
  });

  it('colors errors only for a terminal or FORCE_COLOR, never with NO_COLOR', async () => {
    const args = ['token', '--sub', 'a'];
    expect((await runCliToEnd(scope, args)).stderr).not.toContain('\x1b[');
    expect((await runCliToEnd(scope, args, { env: cleanEnv({ FORCE_COLOR: '1' }) })).stderr).toContain('\x1b[31mswitchboard:\x1b[39m');
    expect((await runCliToEnd(scope, args, { env: cleanEnv({ FORCE_COLOR: '1', NO_COLOR: '1' }) })).stderr).not.toContain('\x1b[');
  });
});

describe('switchboard serve', () => {
  it('runs a config module ({ options, setup }): its commands, errors, path and topics', async () => {
    const server = await serveCli(scope, ['--config', 'test/fixtures/cli-config.js']);
    expect(server.url).toMatch(/\/realtime$/);
    expect(server.stdout()).not.toContain('commands:'); // the demo banner is for the demo only
    expect(await runCliToEnd(scope, ['connect', server.url, '--call', 'greet', '--input', '{"name":"Ada"}'])).toEqual({ code: 0, stdout: '"hello, Ada"\n', stderr: '' });
    const limit = await runCliToEnd(scope, ['connect', server.url, '--call', 'withdraw', '--input', '{"amount":500}']);
    expect(limit).toEqual({ code: 1, stdout: '', stderr: 'error LIMIT: At most 100 at a time {"max":100}\n' });
    const session = await runCliToEnd(scope, ['connect', server.url], { stdin: 'sub chat:x\nsub room:x\n' });
    expect(session.stdout).toMatch(/^subscribed chat:x · members: [\w-]+ \{"name":"guest"\}$/m);
    expect(session.stdout).toMatch(/^error FORBIDDEN: /m);
    // Flags win over the config's options.
    const moved = await serveCli(scope, ['--config', 'test/fixtures/cli-config.js', '--path', '/other']);
    expect(moved.url).toMatch(/\/other$/);
  });

  it('runs the short form (a setup function); refuses a config that exports neither, and conflicting flags', async () => {
    const server = await serveCli(scope, ['--config', 'test/fixtures/cli-config-function.js']);
    expect(await runCliToEnd(scope, ['connect', server.url, '--call', 'ping'])).toEqual({ code: 0, stdout: '"pong"\n', stderr: '' });
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-cli-config-'));
    scope.defer(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'bad.mjs'), 'export default { commands: [] };\n');
    const bad = await runCliToEnd(scope, ['serve', '--port', '0', '--config', join(dir, 'bad.mjs')]);
    expect(bad).toMatchObject({ code: 2, stdout: '' });
    expect(bad.stderr).toMatch(/bad\.mjs must default-export a function \(server\) => server\.command\(…\) or an object \{ options\?, setup \}/);
    const missing = await runCliToEnd(scope, ['serve', '--port', '0', '--config', join(dir, 'nope.mjs')]);
    expect(missing).toMatchObject({ code: 2, stdout: '' });
    expect(missing.stderr).toMatch(/--config: no such file: .*nope\.mjs/);
    writeFileSync(join(dir, 'auth.mjs'), 'export default { options: { authenticate: () => ({}) }, setup() {} };\n');
    const both = await runCliToEnd(scope, ['serve', '--port', '0', '--config', join(dir, 'auth.mjs'), '--secret', 'x'.repeat(32)]);
    expect(both).toMatchObject({ code: 2, stdout: '' });
    expect(both.stderr).toMatch(/--secret and .*auth\.mjs's options\.authenticate both set how clients authenticate/);
    writeFileSync(join(dir, 'throws.mjs'), "throw new Error('boom');\n");
    const throws = await runCliToEnd(scope, ['serve', '--port', '0', '--config', join(dir, 'throws.mjs')]);
    expect(throws).toMatchObject({ code: 1, stdout: '' });
    expect(throws.stderr).toMatch(/^switchboard: error .*throws\.mjs failed to load: Error: boom\n\s+at .*throws\.mjs:1/);
    writeFileSync(join(dir, 'limits.mjs'), 'export default { options: { limits: { maxPayload: -1 } }, setup() {} };\n');
    const invalid = await runCliToEnd(scope, ['serve', '--port', '0', '--config', join(dir, 'limits.mjs')]);
    expect(invalid).toMatchObject({ code: 2, stdout: '' });
    expect(invalid.stderr).toMatch(/invalid server options: limits\.maxPayload/);
  });

  it('--redis runs the demo on the Redis engine: two servers share a room', async () => {
    if (!(await reachable(6379))) {
      console.log('skipped: no Redis at 127.0.0.1:6379');
      return;
    }
    const a = await serveCli(scope, ['--redis', 'redis://127.0.0.1:6379']);
    const b = await serveCli(scope, ['--redis', 'redis://127.0.0.1:6379']);
    const topic = `room:cli-${process.pid}-${Date.now()}`;
    const room = scope.client(a.url).subscribe(topic, () => {});
    await room.ready;
    const joined = new Promise((resolve) => room.on('join', resolve));
    const sub = runCliToEnd(scope, ['connect', a.url, '--sub', topic, '--count', '1', '--timeout', '15s']);
    await within(joined, 'the CLI subscriber to join', 10_000);
    expect(await runCliToEnd(scope, ['connect', b.url, '--pub', topic, '--input', '"across"'])).toMatchObject({ code: 0 });
    const got = await sub;
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({ data: 'across', meta: { topic } });
  });

  it('an installed package without ioredis: --redis says to install it (exit 1)', async () => {
    const dir = installedCopy();
    const run = await runCliToEnd(scope, ['serve', '--port', '0', '--redis', 'redis://127.0.0.1:6379'], { script: join(dir, 'dist/cli/index.js') });
    expect(run).toEqual({ code: 1, stdout: '', stderr: 'switchboard: error --redis needs the ioredis package, an optional peer dependency of switchboard: npm install ioredis\n' });
  });
});

describe('switchboard bench', () => {
  it('in a checkout: runs bench/run.js with the options given and prints its table', { timeout: 90_000 }, async () => {
    const results = mkdtempSync(join(tmpdir(), 'switchboard-cli-bench-'));
    scope.defer(() => rmSync(results, { recursive: true, force: true }));
    const run = await runCliToEnd(scope, ['bench', '--smoke', '--only', 'rpc', '--stacks', 'switchboard-json', '--', `--results=${results}`], { timeoutMs: 80_000 });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/^\[1\/1\] rpc · Switchboard JSON · rep 1\/1/m); // a pipe: plan lines, no bar
    expect(run.stdout).toMatch(/1 runs in \d+ s, 0 failed/);
    expect(readdirSync(results)).toContain('latest-smoke.md');
  });

  it('from an installed package (no bench/): says what it needs and exits 1', async () => {
    const dir = installedCopy();
    const run = await runCliToEnd(scope, ['bench', '--quick'], { script: join(dir, 'dist/cli/index.js') });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^switchboard bench runs the benchmark suite of a Switchboard checkout/);
    expect(run.stderr).toContain('npm ci && npx switchboard bench --quick');
  });
});
