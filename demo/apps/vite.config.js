/**
 * Vite config of the three demo apps (a multi-page build: the landing page and one page per app).
 * `switchboard/*` resolves to the compiled package (`dist/`) through the package's own `exports`,
 * exactly as an app that installed Switchboard from npm would import it; `npm start` builds this
 * (demo/lib/build-apps.js) and serves the result.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const pkg = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8'));

/** `switchboard/x` → the file the package's `exports['./x']` gives a browser (its `default`). */
const aliases = Object.entries(pkg.exports)
  .filter(([key, target]) => key !== './package.json' && typeof target === 'object' && typeof target.default === 'string')
  .map(([key, target]) => ({ find: new RegExp(`^${pkg.name}/${key.slice(2)}$`), replacement: path.join(repo, target.default) }));

export default defineConfig({
  root: here,
  base: '/',
  plugins: [react()],
  resolve: { alias: aliases, dedupe: ['react', 'react-dom'] },
  build: {
    target: 'es2022',
    // uPlot and React together are ~250 KB minified; one chunk per page is the simplest to serve.
    chunkSizeWarningLimit: 600,
    rolldownOptions: {
      // The warning that plugins took long says nothing useful to someone running `npm start`
      // on a busy machine.
      checks: { bundlerTimings: false },
      input: {
        index: path.join(here, 'index.html'),
        chat: path.join(here, 'chat/index.html'),
        dashboard: path.join(here, 'dashboard/index.html'),
        notifications: path.join(here, 'notifications/index.html'),
      },
    },
  },
});
