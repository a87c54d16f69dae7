#!/usr/bin/env node
/**
 * Type-checks a Node app against the packed package, as a user installs it: the tarball,
 * `@types/node` and `ioredis`, and NOT `@types/ws`, with `strict` and `skipLibCheck: false`
 * (test/fixtures/consumer-node/). Every declaration file that `switchboard/server` and
 * `switchboard/redis` reach must compile there: a public type that names `ws` makes users install
 * `@types/ws` themselves.
 *
 * Usage: node scripts/check-consumer-node.mjs [--keep]
 * Exits 0 when the app type-checks, 1 with tsc's output when it does not. Builds dist/ first only
 * when it is missing. Installs with --prefer-offline: the versions are the ones this repository's
 * lockfile already put in the npm cache.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const keep = process.argv.includes('--keep');
const npm = (args, cwd) => execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const installedVersion = (name) => JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version;

if (!existsSync(join(root, 'dist/server/index.js'))) npm(['run', 'build', '--silent'], root);

const tmp = mkdtempSync(join(tmpdir(), 'switchboard-consumer-node-'));
let failed = true;
try {
  const [{ filename }] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], root));
  const app = join(tmp, 'app');
  cpSync(join(root, 'test/fixtures/consumer-node'), app, { recursive: true });
  npm(
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock',
      join(tmp, filename), `@types/node@${installedVersion('@types/node')}`, `ioredis@${installedVersion('ioredis')}`],
    app,
  );

  // The point of the check: no @types/ws anywhere this app's module resolution can reach.
  for (let dir = app; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules/@types/ws'))) throw new Error(`@types/ws is reachable from the app at ${dir}; the check would prove nothing`);
    if (dirname(dir) === dir) break;
  }

  const tsc = join(root, 'node_modules/typescript/bin/tsc');
  try {
    execFileSync(process.execPath, [tsc, '-p', '.', '--pretty', 'false'], { cwd: app, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    console.log('consumer-node: switchboard/server and switchboard/redis type-check with @types/node alone (skipLibCheck: false)');
    failed = false;
  } catch (err) {
    const out = `${err.stdout ?? ''}${err.stderr ?? ''}`;
    console.error('consumer-node: the app does not type-check with @types/node alone (skipLibCheck: false):\n' + out);
  }
} finally {
  if (keep) console.log(`kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
