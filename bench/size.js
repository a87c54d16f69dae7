/**
 * `npm run size`: the browser bundle of each client, built the same way in the same run — esbuild
 * `--bundle --minify --format=esm` of an entry that imports and uses the library (bench/size-entries/),
 * then gzip -9 — printed as a Markdown table (docs/performance.md, "Bundle size"). Switchboard is
 * built from dist/ (the script compiles first); the others from node_modules (devDependencies).
 * `npm run size -- --files` prints, for the full JSON client only, its minified bytes per input
 * file (esbuild's metafile `bytesInOutput`): where to look when cutting.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entries = join(root, 'bench', 'size-entries');

/** The libraries, in table order: the label, its entry file, and the packages whose version is shown. */
const SUBJECTS = [
  ['Switchboard JSON', 'switchboard-json.js', []],
  ['Switchboard + MessagePack', 'switchboard-msgpack.js', ['msgpackr']],
  ['socket.io-client', 'socket.io-client.js', ['socket.io-client']],
  ['centrifuge', 'centrifuge.js', ['centrifuge']],
  ['phoenix', 'phoenix.js', ['phoenix']],
  ['partysocket', 'partysocket.js', ['partysocket']],
];

/** Bytes of the minified bundle and of its gzip -9. */
async function bundleSize(entry) {
  const out = await build({ entryPoints: [entry], bundle: true, minify: true, format: 'esm', write: false, logLevel: 'silent' });
  const code = out.outputFiles[0].contents;
  return { min: code.byteLength, gzip: gzipSync(code, { level: 9 }).byteLength };
}

const version = (pkg) => JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')).version;
const fmt = (n) => n.toLocaleString('en-US');

const commit = (() => {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: root, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${sha} with uncommitted changes in src/` : sha;
  } catch {
    return 'unknown';
  }
})();

if (process.argv.includes('--files')) {
  const out = await build({ entryPoints: [join(entries, 'switchboard-json.js')], bundle: true, minify: true, format: 'esm', write: false, metafile: true, logLevel: 'silent' });
  const code = out.outputFiles[0].contents;
  console.log(`Switchboard JSON on ${commit}: ${fmt(code.byteLength)} bytes minified, ${fmt(gzipSync(code, { level: 9 }).byteLength)} gzip -9\n`);
  const inputs = Object.entries(Object.values(out.metafile.outputs)[0].inputs).sort((a, b) => b[1].bytesInOutput - a[1].bytesInOutput);
  for (const [file, { bytesInOutput }] of inputs) console.log(`${String(bytesInOutput).padStart(6)}  ${file}`);
  process.exit(0);
}

const rows = [];
for (const [label, file, pkgs] of SUBJECTS) {
  const { min, gzip } = await bundleSize(join(entries, file));
  const versions = pkgs.map((p) => `${p} ${version(p)}`).join(', ');
  rows.push(`| ${label}${versions ? ` (${versions})` : ''} | ${fmt(min)} | ${fmt(gzip)} |`);
}
console.log(`Measured on ${commit}, esbuild ${version('esbuild')}, Node ${process.versions.node}\n`);
console.log('| client | minified bytes | gzip -9 bytes |\n|---|---:|---:|');
for (const row of rows) console.log(row);
