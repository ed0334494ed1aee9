/**
 * `npm run web`: builds the study page (./build.ts) and serves it on 127.0.0.1 only, with the headers that make
 * the page cross-origin isolated (COOP same-origin, COEP require-corp: needed for SharedArrayBuffer, i.e. the wasm
 * backend's thread pool). Port: `--port N` or PORT (default 8080; 0 picks a free one); the URL is printed.
 * `serveStatic` is also what the browser test uses (it stops the server with `close()`).
 */

import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWeb, describeBuild } from './build.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
  '.json': 'application/json',
};

/**
 * Serve `root` on 127.0.0.1:`port`; resolves with the URL and a close function. `isolate: false` leaves out
 * COOP/COEP (the page then runs the wasm backend on one thread: what a plain static host gives).
 */
export async function serveStatic(
  root: string,
  port = 0,
  opts: { isolate?: boolean } = {},
): Promise<{ url: string; close: () => Promise<void> }> {
  const isolate = opts.isolate ?? true;
  const base = path.resolve(root);
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const rel = decodeURIComponent(u.pathname === '/' ? '/index.html' : u.pathname);
    const file = path.resolve(base, `.${rel}`);
    const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
    if (isolate) {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
      headers['Cross-Origin-Resource-Policy'] = 'same-origin';
    }
    if (!file.startsWith(base + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' });
      res.end(`not found: ${rel}`);
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const { port: p } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${p}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const i = process.argv.indexOf('--port');
  const port = Number(i > 0 ? process.argv[i + 1] : (process.env.PORT ?? 8080));
  const b = await buildWeb();
  console.log(describeBuild(b));
  const { url } = await serveStatic(b.outDir, port);
  console.log(`study page: ${url}  (127.0.0.1 only, COOP/COEP set; Ctrl-C stops)`);
}
