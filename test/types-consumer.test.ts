/**
 * The published declaration files, as a browser project sees them: the packed package (what npm
 * users get) installed into a throwaway project with no Node types (`"types": []`, DOM lib,
 * `skipLibCheck: false`), type-checked by the repo's `tsc`. A `.d.ts` of `switchboard/client` or
 * `switchboard/bridge` that reaches `node:http` or `ws` fails here (docs/client.md, "Runtimes").
 * Needs `npm run build` first (npm test builds).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

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

describe('a browser-only TypeScript project', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-consumer-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('type-checks switchboard/client and switchboard/bridge from the packed package without Node types', async () => {
    expect(existsSync(resolve(root, 'dist/client/index.d.ts'))).toBe(true);
    // The tarball npm publishes; --ignore-scripts: dist is built already (prepare would rebuild it).
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: root, timeout: 15_000 });
    const [packed] = JSON.parse(stdout) as { filename: string }[];
    const pkgDir = join(dir, 'node_modules', 'switchboard');
    mkdirSync(pkgDir, { recursive: true });
    await run('tar', ['-xzf', join(dir, packed!.filename), '-C', pkgDir, '--strip-components=1'], { timeout: 10_000 });
    // Install what npm would: the package's dependencies (not its devDependencies, so no @types/ws
    // and no @types/node), linked from this repo's node_modules instead of fetched.
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies)) {
      const target = join(dir, 'node_modules', dep);
      mkdirSync(dirname(target), { recursive: true });
      symlinkSync(resolve(root, 'node_modules', dep), target, 'dir');
    }
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          types: [],
          lib: ['ES2022', 'DOM'],
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          skipLibCheck: false,
        },
        files: ['app.ts'],
      }),
    );
    writeFileSync(join(dir, 'app.ts'), consumer);
    const tsc = resolve(root, 'node_modules/typescript/bin/tsc');
    const result = await run(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: dir, timeout: 30_000 }).then(
      () => '',
      (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}` || String(err),
    );
    expect(result).toBe('');
  });
});
