/**
 * The published declaration files, as consumer projects see them: the packed package (what npm
 * users get) installed into a throwaway project and type-checked by the repo's `tsc` with
 * `skipLibCheck: false`.
 * - A browser project (no Node types, DOM lib): a `.d.ts` of `switchboard/client`,
 *   `switchboard/bridge` or `switchboard/react` that reaches `node:http` or `ws` fails
 *   (docs/client.md, "Runtimes"; docs/react.md).
 * - A Node project with `@types/node` but not `@types/ws`: a `.d.ts` of `switchboard/server` or
 *   `switchboard/redis` that names `ws` (or a DOM-only type) fails (README, "Install").
 * Needs `npm run build` first (npm test builds).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);

/** A consumer's code: a hand-written API type, the client's typed calls, and the bridge's guest. */
const consumer = `
import { connect, SwitchboardError, type Client, type CommandMap } from 'switchboard/client';
import { createResourceClient, BridgeErrorCode } from 'switchboard/bridge';

type Api = {
  add: { input: { a: number; b: number }; output: number };
  me: { input: undefined; output: { id: string } };
};
const loose: Client<CommandMap> = connect('wss://example.com/ws');
void loose.call('anything', 1);

const client: Client<Api> = connect<Api>('wss://example.com/ws', { token: () => 'secret', timeoutMs: undefined });
const sum: Promise<number> = client.call('add', { a: 1, b: 2 });
const sub = client.subscribe<{ text: string }>('room:lobby', (msg, meta) => console.log(msg.text, meta.topic));
sub.on('gap', (g) => console.log(g.reason));
client.on('error', (e) => console.log(e instanceof SwitchboardError ? e.code : e.message));
void sum.then((n) => n.toFixed(2));
// @ts-expect-error unknown command
void client.call('nope');

const guest = createResourceClient();
console.log(typeof guest, BridgeErrorCode.CAPABILITY_DENIED);
export {};
`;

/** A browser consumer of switchboard/react: the provider, untyped hooks and typed ones from a hand-written map. */
const reactConsumer = `
import { createElement } from 'react';
import { SwitchboardProvider, createSwitchboardHooks, useConnectionState, useSubscription, type SubscriptionState } from 'switchboard/react';

type ReactApi = { add: { input: { a: number; b: number }; output: number } };
const { useCall, useStream } = createSwitchboardHooks<ReactApi>();

export function Room() {
  const { state, error } = useConnectionState();
  const room: SubscriptionState<{ text: string }> = useSubscription<{ text: string }>('room:lobby', { history: 20, buffer: 50 });
  const add = useCall('add');
  const ticks = useStream('anything', undefined, { window: 10 });
  const sum: Promise<number> = add.call({ a: 1, b: 2 });
  void sum;
  // @ts-expect-error wrong input
  void add.call({ a: '1' });
  return createElement('p', null, state, error?.message, room.messages.map((m) => m.text).join(), ticks.items.length);
}

export const app = createElement(SwitchboardProvider, { url: 'wss://example.com/ws', options: { token: () => 'secret' } }, createElement(Room));
`;

/** The tarball, packed once for every project of this file. */
const packDir = mkdtempSync(join(tmpdir(), 'sb-pack-'));
let tarball = '';
beforeAll(async () => {
  expect(existsSync(resolve(root, 'dist/client/index.d.ts'))).toBe(true);
  // The tarball npm publishes; --ignore-scripts: dist is built already (prepack would rebuild it).
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], { cwd: root, timeout: 15_000 });
  tarball = join(packDir, (JSON.parse(stdout) as { filename: string }[])[0]!.filename);
}, 30_000);
afterAll(() => rmSync(packDir, { recursive: true, force: true }));

/**
 * A throwaway project: the tarball unpacked as npm installs it, its `dependencies` (never its
 * devDependencies, so no @types/ws) plus `extra` linked from this repo's node_modules instead of
 * fetched, and `tsc` run on `code`. Resolves tsc's complaints ('' when it type-checks).
 */
async function typecheck(name: string, compilerOptions: object, extra: string[], code: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), `sb-consumer-${name}-`));
  try {
    const pkgDir = join(dir, 'node_modules', 'switchboard');
    mkdirSync(pkgDir, { recursive: true });
    await run('tar', ['-xzf', tarball, '-C', pkgDir, '--strip-components=1'], { timeout: 10_000 });
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const dep of [...Object.keys(pkg.dependencies), ...extra]) {
      const target = join(dir, 'node_modules', dep);
      mkdirSync(dirname(target), { recursive: true });
      symlinkSync(resolve(root, 'node_modules', dep), target, 'dir');
    }
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, private: true, type: 'module' }));
    const base = { strict: true, noEmit: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', skipLibCheck: false };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...base, ...compilerOptions }, files: ['app.ts'] }));
    writeFileSync(join(dir, 'app.ts'), code);
    const tsc = resolve(root, 'node_modules/typescript/bin/tsc');
    return await run(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: dir, timeout: 60_000 }).then(
      () => '',
      (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}` || String(err),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('consumer projects type-check the packed package', () => {
  it('a browser-only project: switchboard/client, switchboard/bridge and switchboard/react (with @types/react) without Node types', async () => {
    // One project (one tsc run) for the three: react's types are what a React app has anyway.
    expect(await typecheck('browser', { types: [], lib: ['ES2022', 'DOM'] }, ['react', '@types/react', 'csstype'], `${consumer}\n${reactConsumer}`)).toBe('');
  }, 70_000);

  it('a Node project: switchboard/server, switchboard/redis and switchboard/nats with @types/node but not @types/ws', async () => {
    const app = readFileSync(resolve(root, 'test/fixtures/consumer-node/app.ts'), 'utf8');
    // The NATS peers and what they depend on (npm installs those with them).
    const nats = ['transport-node', 'jetstream', 'kv', 'nats-core', 'nkeys', 'nuid'].map((p) => `@nats-io/${p}`);
    expect(await typecheck('node', { types: ['node'], lib: ['ES2022'] }, ['@types/node', 'undici-types', 'ioredis', ...nats], app)).toBe('');
  }, 40_000);
});
