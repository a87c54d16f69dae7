/**
 * Builds the apps (demo/apps, Vite + React) when their production build is missing or stale, and
 * says where it is. "Stale" is by content: a hash of the apps' sources, the compiled package they
 * import (`dist/`) and the lockfile names the build folder, so an unchanged tree is never rebuilt
 * and any change is. Builds go to a temporary folder renamed into place, so two servers starting
 * at once (parallel tests) never serve a half-written build.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(fileURLToPath(new URL('../..', import.meta.url)));
/** The apps' Vite root. */
export const APPS_DIR = path.join(REPO, 'demo', 'apps');
/** Where builds live, one folder per input hash. */
const BUILDS_DIR = path.join(APPS_DIR, 'dist');
/** A temporary build folder older than this is left over from a killed build and removed. */
const STALE_TMP_MS = 10 * 60_000;

/** Every file below `dir` (sorted, so the hash does not depend on directory order), skipping `skip`. */
async function filesBelow(dir, skip = () => false) {
  const out = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out; // missing: hashed as empty
  }
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, e.name);
    if (skip(full)) continue;
    if (e.isDirectory()) out.push(...(await filesBelow(full, skip)));
    else if (e.isFile()) out.push(full);
  }
  return out;
}

/** The hash of everything a build depends on. */
export async function inputHash() {
  const files = [
    ...(await filesBelow(APPS_DIR, (f) => f === BUILDS_DIR || path.basename(f) === 'node_modules')),
    ...(await filesBelow(path.join(REPO, 'dist'), (f) => f.endsWith('.d.ts') || f.endsWith('.map'))),
    path.join(REPO, 'package-lock.json'),
  ];
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(path.relative(REPO, file)).update('\0');
    hash.update(await readFile(file).catch(() => Buffer.alloc(0))).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

async function exists(p) {
  return stat(p).then(
    () => true,
    () => false,
  );
}

/**
 * Resolves the folder of an up-to-date production build of the apps, building it first when
 * needed (5–10 s on two cores).
 *
 * @param {{ log?: (line: string) => void }} [options] `log` hears "building…" (default: nothing)
 * @returns {Promise<{ dir: string, built: boolean, ms: number }>}
 */
export async function ensureAppsBuilt({ log = () => {} } = {}) {
  const started = performance.now();
  if (!(await exists(path.join(REPO, 'dist', 'client', 'index.js')))) {
    throw new Error('dist/ is missing: run `npm run build` first (`npm start` does it)');
  }
  const hash = await inputHash();
  const dir = path.join(BUILDS_DIR, hash);
  if (await exists(path.join(dir, 'index.html'))) return { dir, built: false, ms: performance.now() - started };

  log('building the apps (Vite)…');
  const tmp = path.join(BUILDS_DIR, `${hash}.tmp-${process.pid}`);
  // In a child process: the server that starts next should not carry the bundler's memory (the
  // dashboard shows the server's own RSS).
  await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), tmp], { stdio: ['ignore', 'inherit', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(err.trim() || `the Vite build exited with ${code}`));
      if (err.trim()) log(err.trim()); // Vite's warnings
      resolve();
    });
  });
  try {
    await rename(tmp, dir);
  } catch (err) {
    // Another process finished the same build first: theirs is identical; use it.
    await rm(tmp, { recursive: true, force: true });
    if (!(await exists(path.join(dir, 'index.html')))) throw err;
  }
  await pruneOthers(hash);
  return { dir, built: true, ms: performance.now() - started };
}

/** Removes builds of other inputs, and temporary folders of builds that were killed. */
async function pruneOthers(keep) {
  const now = Date.now();
  for (const name of await readdir(BUILDS_DIR).catch(() => [])) {
    if (name === keep) continue;
    const full = path.join(BUILDS_DIR, name);
    if (name.includes('.tmp-')) {
      const info = await stat(full).catch(() => undefined);
      if (!info || now - info.mtimeMs < STALE_TMP_MS) continue; // maybe another build still running
    }
    await rm(full, { recursive: true, force: true });
  }
}

/** Runs one Vite build into `outDir` (the child process of {@link ensureAppsBuilt}). */
async function buildInto(outDir) {
  let vite;
  try {
    vite = await import('vite');
  } catch {
    throw new Error('the apps are built with Vite, a devDependency: run `npm ci` (or `npm install`) in the repository first');
  }
  await vite.build({ configFile: path.join(APPS_DIR, 'vite.config.js'), logLevel: 'warn', build: { outDir, emptyOutDir: true } });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  buildInto(process.argv[2]).catch((err) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
}
