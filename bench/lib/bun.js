/**
 * The Bun binary of the devDependency `@oven/bun-linux-x64`, for the stacks whose server runs under
 * Bun (the load generator stays on Node). `bunBinary()` says where it is and whether it runs here;
 * when it does not (another platform, a musl libc, the package not installed), the Bun stacks are
 * skipped with that reason printed.
 */
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** `{ path, version }` of a Bun binary that answered `--version`, or `{ skip: reason }`. */
export function bunBinary() {
  let path;
  try {
    path = join(dirname(require.resolve('@oven/bun-linux-x64/package.json')), 'bin', 'bun');
  } catch {
    return { skip: 'the devDependency @oven/bun-linux-x64 is not installed (it exists for Linux x64 with glibc only)' };
  }
  try {
    const version = execFileSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    return { path, version };
  } catch (err) {
    return { skip: `${path} does not run here (${String(err?.message ?? err).split('\n')[0]})` };
  }
}
