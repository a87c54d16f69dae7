/**
 * The demo's static files: the apps' production build and the compiled browser client (for pages
 * that load it as plain ES modules, without a bundler). Nothing else on disk is ever served.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DIST_DIR = path.resolve(fileURLToPath(new URL('../../dist', import.meta.url)));
/**
 * The browser client imports only files under these `dist/` folders (the `node` entry and the
 * server are never loaded by a browser), so nothing else of `dist/` is served.
 */
const CLIENT_DIRS = ['client', 'protocol', 'shared'].map((d) => path.join(DIST_DIR, d));

const CONTENT_TYPES = new Map([
  ['.html', 'text/html; charset=utf-8'],
  ['.js', 'text/javascript; charset=utf-8'],
  ['.css', 'text/css; charset=utf-8'],
  ['.map', 'application/json; charset=utf-8'],
  ['.svg', 'image/svg+xml'],
  ['.png', 'image/png'],
  ['.ico', 'image/x-icon'],
]);

/**
 * The pages load only their own scripts and styles and talk only to this origin; even if user text
 * ever reached the DOM as markup, no injected script could run. (React and uPlot set styles through
 * the CSSOM, which `style-src` does not restrict.)
 */
const PAGE_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

/**
 * Resolves a URL path below `root`, or `undefined` when it would escape it: `..` segments, encoded
 * slashes (`..%2f`), absolute paths, NUL bytes and symlinks that point outside all end here.
 */
async function resolveInside(root, urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined; // malformed percent-encoding
  }
  if (decoded.includes('\0')) return undefined;
  const file = path.resolve(root, decoded.replace(/^[/\\]+/, ''));
  if (file !== root && !file.startsWith(root + path.sep)) return undefined;
  try {
    // A symlink inside the folder could still point anywhere; check where it really leads.
    const [realFile, realRoot] = await Promise.all([realpath(file), realpath(root)]);
    if (realFile !== realRoot && !realFile.startsWith(realRoot + path.sep)) return undefined;
    // A folder is served as its index.html: `/chat` and `/chat/` are the chat app.
    return (await stat(file)).isDirectory() ? resolveInside(root, path.join(decoded, 'index.html')) : file;
  } catch {
    return undefined; // does not exist
  }
}

/** Writes a one-line text response. */
export function sendText(res, status, text, headers = {}) {
  const body = `${text}\n`;
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(body);
}

/**
 * Creates the request handler that serves `appsDir` (the apps' build) and the browser client under
 * `/switchboard/`; every other path is a 404.
 *
 * @param {string} appsDir absolute path of the apps' production build
 * @returns {(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => Promise<void>}
 */
export function createStatic(appsDir) {
  const root = path.resolve(appsDir);
  async function fileFor(pathname) {
    if (pathname.startsWith('/switchboard/')) {
      const file = await resolveInside(DIST_DIR, pathname.slice('/switchboard/'.length));
      return file && CLIENT_DIRS.some((dir) => file.startsWith(dir + path.sep)) ? file : undefined;
    }
    return resolveInside(root, pathname);
  }
  return async function serveStatic(req, res) {
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
    let pathname;
    try {
      pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      return sendText(res, 400, 'Bad Request');
    }
    const file = await fileFor(pathname);
    const type = file && CONTENT_TYPES.get(path.extname(file));
    if (!file || !type) return sendText(res, 404, 'Not Found');
    let body;
    try {
      body = await readFile(file);
    } catch {
      return sendText(res, 404, 'Not Found'); // removed meanwhile
    }
    res.writeHead(200, { ...PAGE_HEADERS, 'Content-Type': type, 'Content-Length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}
