/**
 * Packaging: what users import after `npm run build` (npm test builds first).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const run = promisify(execFile);

/**
 * Every module the file reaches through static (and, with `dynamic`, dynamic) imports, and the bare
 * specifiers it names. From a `.d.ts`, `./x.js` is followed to `./x.d.ts`.
 */
function importGraph(entry: string, dynamic = false): { files: Set<string>; bare: string[] } {
  const files = new Set<string>();
  const bare: string[] = [];
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    // Comments hold @example imports that are not code.
    const src = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    // Static imports start a line (tsc writes them so): a string that quotes an import statement
    // (an error message saying what to import) is not one.
    for (const m of src.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s+['"]([^'"]+)['"]/gm)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      // Dynamic imports are loaded on demand (code-split by bundlers); follow static ones only.
      if (m[2] !== undefined && !dynamic) continue;
      if (spec.startsWith('.')) visit(resolve(dirname(file), file.endsWith('.d.ts') ? spec.replace(/\.js$/, '.d.ts') : spec));
      else bare.push(spec);
    }
  };
  visit(entry);
  return { files, bare };
}

describe('package', () => {
  it('the browser client entry reaches no Node-only module (no ws, no node:*)', () => {
    const entry = resolve(root, 'dist/client/index.js');
    expect(existsSync(entry)).toBe(true);
    const { files, bare } = importGraph(entry);
    expect(bare).toEqual([]);
    expect(files.size).toBeGreaterThan(5);
    for (const f of files) expect(f).not.toMatch(/[\\/]server[\\/]/);
  });

  it('switchboard/sse (the SSE fallback plug-in) reaches no Node-only module and nothing of the server; the client reaches none of it', () => {
    const { files, bare } = importGraph(resolve(root, 'dist/sse/index.js'));
    expect(bare).toEqual([]);
    for (const f of files) expect(f).not.toMatch(/[\\/]server[\\/]/);
    expect([...importGraph(resolve(root, 'dist/client/index.js'), true).files].filter((f) => /[\\/]sse/.test(f))).toEqual([]);
    const types = importGraph(resolve(root, 'dist/sse/index.d.ts'), true);
    for (const f of types.files) expect(existsSync(f), f).toBe(true);
    expect([...types.files].filter((f) => /[\\/]server[\\/]/.test(f))).toEqual([]);
    expect(types.bare.filter((s) => s.startsWith('node:') || s === 'ws' || s.startsWith('@types/'))).toEqual([]);
  });

  it('the browser declaration files (client, bridge, react) reach nothing of server/ and no Node-only module', () => {
    for (const entry of ['dist/client/index.d.ts', 'dist/bridge/index.d.ts', 'dist/react/index.d.ts']) {
      // Type-level `import("…")` is followed too: a .d.ts has no code to load on demand.
      const { files, bare } = importGraph(resolve(root, entry), true);
      expect(files.size).toBeGreaterThan(5);
      for (const f of files) expect(existsSync(f), f).toBe(true);
      expect([...files].filter((f) => /[\\/]server[\\/]/.test(f))).toEqual([]);
      expect(bare.filter((s) => s.startsWith('node:') || s === 'ws' || s.startsWith('@types/'))).toEqual([]);
    }
  });

  it('switchboard/client reaches no MessagePack code, even on demand: it is the switchboard/msgpack plug-in', () => {
    for (const entry of ['dist/client/index.js', 'dist/client/node.js', 'dist/client/index.d.ts']) {
      const { files, bare } = importGraph(resolve(root, entry), true);
      expect(bare.filter((s) => s.includes('msgpack')), entry).toEqual([]);
      expect([...files].filter((f) => /msgpack/.test(f)), entry).toEqual([]);
    }
  });

  it('switchboard/msgpack needs msgpackr (its pure-JavaScript msgpackr/pack) and nothing Node-only, and loads nothing of the client or server', () => {
    for (const entry of ['dist/msgpack/index.js', 'dist/msgpack/index.d.ts']) {
      const { files, bare } = importGraph(resolve(root, entry), true);
      expect(bare, entry).toEqual(entry.endsWith('.js') ? ['msgpackr/pack'] : []);
      expect([...files].filter((f) => /[\\/](client|server)[\\/]/.test(f)), entry).toEqual([]);
    }
  });

  it('switchboard/react needs react (an optional peer) and reaches nothing Node-only; no other entry reaches react', () => {
    for (const dynamic of [false, true]) {
      const { files, bare } = importGraph(resolve(root, 'dist/react/index.js'), dynamic);
      expect([...new Set(bare)].sort()).toEqual(['react']);
      expect([...files].filter((f) => /[\\/]server[\\/]/.test(f))).toEqual([]);
    }
    const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string> | string> };
    for (const [sub, conditions] of Object.entries(pkg.exports)) {
      if (sub === './react' || typeof conditions === 'string') continue;
      for (const target of Object.values(conditions)) {
        const { files, bare } = importGraph(resolve(root, target), true);
        expect(bare.filter((s) => s === 'react' || s.startsWith('react/') || s.startsWith('react-dom')), target).toEqual([]);
        expect([...files].filter((f) => /[\\/]react[\\/]/.test(f)), target).toEqual([]);
      }
    }
  });

  it('the Node client entry uses ws', () => {
    expect(importGraph(resolve(root, 'dist/client/node.js')).bare).toEqual(['ws']);
  });

  it('the browser bridge entry reaches no Node-only module and no bare specifier', () => {
    const entry = resolve(root, 'dist/bridge/index.js');
    expect(existsSync(entry)).toBe(true);
    for (const dynamic of [false, true]) {
      const { files, bare } = importGraph(entry, dynamic);
      expect(bare).toEqual([]);
      expect(files.size).toBeGreaterThan(5);
      for (const f of files) {
        expect(f).not.toMatch(/[\\/]server[\\/]/);
        // The Node half of the bridge: egress relay, backend SDK, ws sockets.
        expect(f).not.toMatch(/[\\/]bridge[\\/](node|egress|egress-options|backend|node-upstream)\.js$/);
      }
    }
  });

  it('the Node bridge entry uses ws and node:* only (none of the server dependencies)', () => {
    const { bare } = importGraph(resolve(root, 'dist/bridge/node.js'));
    expect([...new Set(bare.filter((s) => !s.startsWith('node:')))]).toEqual(['ws']);
  });

  it('switchboard/redis needs ioredis (an optional peer) and loads nothing of the client', () => {
    const { bare, files } = importGraph(resolve(root, 'dist/engines/redis/index.js'));
    expect([...new Set(bare.filter((s) => !s.startsWith('node:')))]).toEqual(['ioredis']);
    expect([...files].filter((f) => /[\\/]client[\\/]/.test(f))).toEqual([]);
  });

  it('metrics, pino and otel each need their own optional peer only, and the core entries reach none of them', () => {
    const peers = ['prom-client', 'pino', '@opentelemetry/api'];
    const own = { 'dist/metrics/index.js': 'prom-client', 'dist/logs/index.js': 'pino', 'dist/otel/index.js': '@opentelemetry/api', 'dist/otel/index.d.ts': '@opentelemetry/api' };
    for (const [entry, peer] of Object.entries(own)) {
      const { bare, files } = importGraph(resolve(root, entry), entry.endsWith('.d.ts'));
      expect([...new Set(bare)], entry).toEqual([peer]);
      // The otel entry runs in browsers too (traceContext): nothing of the server but the observer contract.
      expect([...files].filter((f) => /[\\/](client|transport)[\\/]/.test(f) || /server[\\/](server|connection|dispatch)\./.test(f)), entry).toEqual([]);
    }
    for (const entry of ['dist/server/index.js', 'dist/client/index.js', 'dist/client/node.js', 'dist/engines/redis/index.js', 'dist/bridge/node.js', 'dist/server/index.d.ts']) {
      const { bare } = importGraph(resolve(root, entry), true);
      expect(bare.filter((s) => peers.some((p) => s === p || s.startsWith(`${p}/`))), entry).toEqual([]);
    }
  });

  it('switchboard/nats needs the @nats-io packages (optional peers) and loads nothing of the client or of ioredis', () => {
    const { bare, files } = importGraph(resolve(root, 'dist/engines/nats/index.js'));
    expect([...new Set(bare.filter((s) => !s.startsWith('node:')))].sort()).toEqual(['@nats-io/jetstream', '@nats-io/kv', '@nats-io/transport-node']);
    expect([...files].filter((f) => /[\\/]client[\\/]/.test(f))).toEqual([]);
  });

  it('exports map subpaths with types, importable from plain Node JS by package name', async () => {
    const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string> | string> };
    for (const sub of ['./server', './client', './msgpack', './sse', './protocol', './bridge', './bridge/server', './redis', './nats', './react', './metrics', './pino', './otel']) {
      const e = pkg.exports[sub] as Record<string, string>;
      expect(Object.keys(e)[0]).toBe('types');
      for (const target of Object.values(e)) expect(existsSync(resolve(root, target))).toBe(true);
    }
    const script = `
      const { createServer } = await import('switchboard/server');
      const { connect } = await import('switchboard/client');
      const { msgpack } = await import('switchboard/msgpack');
      const s = createServer({ port: 0, host: '127.0.0.1' }).command('hi', () => 'hello');
      const { port } = await s.listen();
      const c = connect('ws://127.0.0.1:' + port + '/ws');
      const m = connect('ws://127.0.0.1:' + port + '/ws', { codec: msgpack() });
      console.log(await c.call('hi'), await m.call('hi'));
      c.close(); m.close(); await s.close();`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: root, timeout: 10_000 });
    expect(stdout.trim()).toBe('hello hello');
  });

  it('switchboard/bridge and switchboard/bridge/server import by package name', async () => {
    const script = `
      const bridge = await import('switchboard/bridge');
      const server = await import('switchboard/bridge/server');
      console.log(typeof bridge.createResourceClient, typeof bridge.createResourceHost, typeof bridge.connectWithRetry,
        typeof server.createResourceServer, typeof server.createEgressRelay, bridge.BridgeErrorCode.CAPABILITY_DENIED);`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: root, timeout: 10_000 });
    expect(stdout.trim()).toBe('function function function function function CAPABILITY_DENIED');
  });
});
