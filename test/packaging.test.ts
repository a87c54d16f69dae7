/**
 * Packaging: the tarball `npm pack` makes, as users install it. test/package.test.ts walks the
 * built import graph; this file checks what ships: the manifest, the files, the source maps,
 * publint and attw on the tarball, and every subpath loaded by `import` and by `require()` from an
 * app that installed it (README, Install).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const exec = promisify(execFile);
const bin = (name: string) => join(root, 'node_modules/.bin', name);

/** Runs a command; resolves its exit code and combined output instead of throwing on failure. */
async function run(file: string, args: string[], cwd: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await exec(file, args, { cwd, timeout: 60_000, maxBuffer: 16 * 1_048_576 });
    return { code: 0, output: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message };
  }
}

interface Manifest {
  name: string;
  license: string;
  sideEffects?: boolean;
  bin?: Record<string, string>;
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  exports: Record<string, Record<string, string> | string>;
}

let tmp = '';
let tarball = '';
/** The tarball's files, unpacked (npm puts them under package/). */
let unpacked = '';
let files: string[] = [];
let manifest: Manifest;

beforeAll(async () => {
  // npm test builds first; a lone `vitest run test/packaging.test.ts` on a fresh clone builds here.
  if (!existsSync(join(root, 'dist/server/index.js'))) await exec('npm', ['run', 'build', '--silent'], { cwd: root });
  tmp = mkdtempSync(join(tmpdir(), 'switchboard-packaging-'));
  // --ignore-scripts: prepack rebuilds dist/ (rm -rf first) under the other test files running now.
  // attw gets the tarball itself for the same reason (its --pack runs npm pack in the repository).
  const { stdout } = await exec('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], { cwd: root });
  const [packed] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
  tarball = join(tmp, packed.filename);
  files = packed.files.map((f) => f.path).sort();
  await exec('tar', ['-xzf', tarball, '-C', tmp]);
  unpacked = join(tmp, 'package');
  manifest = JSON.parse(readFileSync(join(unpacked, 'package.json'), 'utf8')) as Manifest;
}, 60_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('packaging', () => {
  it('the manifest runs no script when the tarball is installed; the tarball holds dist, docs, README and LICENSE', () => {
    // npm runs these on install (prepare for git and folder installs); the build runs on prepack.
    const onInstall = ['preinstall', 'install', 'postinstall', 'preprepare', 'prepare', 'postprepare'];
    expect(Object.keys(manifest.scripts ?? {}).filter((s) => onInstall.includes(s))).toEqual([]);
    expect(files.filter((f) => !/^(dist|docs)\//.test(f))).toEqual(['LICENSE', 'README.md', 'package.json']);
    expect(manifest.license).toBe('MIT');
    expect(readFileSync(join(unpacked, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} Switchboard contributors\n/);
  });

  it('every source map in the tarball carries the text of its sources or ships them', () => {
    const maps = files.filter((f) => f.endsWith('.map'));
    expect(maps.length).toBeGreaterThan(10);
    const broken: string[] = [];
    for (const f of maps) {
      const map = JSON.parse(readFileSync(join(unpacked, f), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[]; sourceRoot?: string };
      map.sources.forEach((source, i) => {
        if (typeof map.sourcesContent?.[i] === 'string') return;
        const shipped = posix.normalize(posix.join(posix.dirname(f), map.sourceRoot ?? '', source));
        if (!files.includes(shipped)) broken.push(`${f} → ${source}`);
      });
    }
    // A file naming a map that is not in the tarball sends debuggers and editors to nothing.
    for (const f of files.filter((f) => /\.(js|d\.ts)$/.test(f))) {
      const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(join(unpacked, f), 'utf8'))?.[1];
      if (url !== undefined && !files.includes(posix.join(posix.dirname(f), url))) broken.push(`${f} → ${url}`);
    }
    expect(broken).toEqual([]);
  });

  it('every subpath export lists types first and a default condition last', () => {
    const subpaths = Object.entries(manifest.exports).filter(([sub]) => sub !== './package.json');
    expect(subpaths.map(([sub]) => sub)).toEqual(['./server', './client', './protocol', './msgpack', './sse', './redis', './nats', './bridge', './bridge/server', './react', './metrics', './pino', './otel']);
    for (const [sub, conditions] of subpaths) {
      const keys = Object.keys(conditions);
      expect({ sub, first: keys[0], last: keys.at(-1) }).toEqual({ sub, first: 'types', last: 'default' });
    }
  });

  it('publint finds no error or warning in the tarball', async () => {
    const { code, output } = await run(bin('publint'), ['run', tarball, '--strict'], tmp);
    expect(code, output).toBe(0);
  });

  it('attw finds no problem in the tarball (node16 profile, require of ESM allowed)', async () => {
    // node16 checks node16 resolution from ESM and from CJS, and bundlers; it leaves out node10
    // (moduleResolution "node"), which ignores `exports` and so cannot see any subpath of a package
    // without a root entry. cjs-resolves-to-esm is ignored because the package is ESM-only on
    // purpose: Node ≥ 20.19 loads it with require() (checked below), and TypeScript ≥ 5.8 types
    // that under module nodenext; attw's own TypeScript predates that and still reports it.
    const { code, output } = await run(bin('attw'), [tarball, '--profile', 'node16', '--ignore-rules', 'cjs-resolves-to-esm', '--no-color', '--no-emoji'], tmp);
    expect(code, output).toBe(0);
  });

  it('every subpath loads by import and by require() in an app that installed the tarball', { timeout: 60_000 }, async () => {
    const app = join(tmp, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
    // The optional peers switchboard/redis, /nats, /react, /metrics, /pino and /otel need.
    // --prefer-offline: the repository's own install already put these versions in the npm cache.
    const version = (pkg: string) => (JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
    const peers = ['ioredis', '@nats-io/transport-node', '@nats-io/jetstream', '@nats-io/kv', 'react', 'prom-client', 'pino', '@opentelemetry/api'].map((p) => `${p}@${version(p)}`);
    const install = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--no-package-lock', tarball, ...peers], app);
    expect(install.code, install.output).toBe(0);

    const subpaths = Object.keys(manifest.exports)
      .filter((sub) => sub !== './package.json')
      .map((sub) => manifest.name + sub.slice(1));
    const list = JSON.stringify(subpaths);
    writeFileSync(join(app, 'imp.mjs'), `for (const s of ${list}) console.log(s, Object.keys(await import(s)).sort().join());`);
    writeFileSync(join(app, 'req.cjs'), `for (const s of ${list}) console.log(s, Object.keys(require(s)).sort().join());`);
    const imported = await run(process.execPath, ['imp.mjs'], app);
    expect(imported.code, imported.output).toBe(0);
    const required = await run(process.execPath, ['req.cjs'], app);
    if ((process.features as { require_module?: boolean }).require_module) {
      // The same modules, so the same names.
      expect(required.output).toBe(imported.output);
      expect(required.output.split('\n').filter(Boolean)).toHaveLength(subpaths.length);
    } else {
      // Node 20 before 20.19 without --experimental-require-module: the documented refusal.
      expect(required.output).toContain('ERR_REQUIRE_ESM');
    }
    // Installing the optional peers from the npm cache takes 5 s on a quiet machine, 15 s on a busy one: hence the 60 s timeout.
  });

  it('sideEffects: false holds: no module in the tarball runs a statement when imported', () => {
    // What a bundler may drop when nothing is used from a module. Top-level declarations may
    // build values (a Map, a TextEncoder), but no statement may register or patch anything.
    const allowed = new Set([
      ts.SyntaxKind.ImportDeclaration,
      ts.SyntaxKind.ExportDeclaration,
      ts.SyntaxKind.FunctionDeclaration,
      ts.SyntaxKind.ClassDeclaration,
      ts.SyntaxKind.VariableStatement,
      ts.SyntaxKind.EmptyStatement,
    ]);
    expect(manifest.sideEffects).toBe(false);
    // The `bin` executable is run, never imported (no module imports src/cli: test/cli-unit.test.ts),
    // and running is its job; every other module of the CLI is held to the rule.
    const bins = new Set(Object.values(manifest.bin ?? {}).map((p) => posix.normalize(p)));
    expect([...bins]).toEqual(['dist/cli/index.js']);
    const found: string[] = [];
    for (const f of files.filter((f) => f.endsWith('.js') && !bins.has(f))) {
      const source = ts.createSourceFile(f, readFileSync(join(unpacked, f), 'utf8'), ts.ScriptTarget.ES2022, true);
      for (const statement of source.statements) {
        const staticBlock = ts.isClassDeclaration(statement) && statement.members.some(ts.isClassStaticBlockDeclaration);
        if (!allowed.has(statement.kind) || staticBlock) found.push(`${f}: ${statement.getText().slice(0, 80)}`);
      }
    }
    expect(found).toEqual([]);
  });
});
