/**
 * `npm run web`: builds the study page (./build.ts) and serves it on 127.0.0.1 only, with the headers that make
 * the page cross-origin isolated (COOP same-origin, COEP require-corp: needed for SharedArrayBuffer, i.e. the wasm
 * backend's thread pool). Port: `--port N` or PORT (default 8080; 0 picks a free one); the URL is printed.
 * `serveStatic` is also what the browser test uses (it stops the server with `close()`).
 * Invariants: no request can stop the server (a malformed URL such as `GET /%` is a 400, any other failure a
 * 500 for that request only); a bad --port or a port in use is one line on stderr (exit 2 / 1), never a stack.
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
    const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
    if (isolate) {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
      headers['Cross-Origin-Resource-Policy'] = 'same-origin';
    }
    const fail = (code: number, text: string) => {
      if (!res.headersSent) res.writeHead(code, { ...headers, 'Content-Type': 'text/plain' });
      res.end(text);
    };
    let rel: string;
    try {
      const u = new URL(req.url ?? '/', 'http://127.0.0.1');
      rel = decodeURIComponent(u.pathname === '/' ? '/index.html' : u.pathname);
    } catch {
      fail(400, `bad request: malformed URL ${JSON.stringify(req.url)}`);
      return;
    }
    try {
      const file = path.resolve(base, `.${rel}`);
      if (!file.startsWith(base + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
        fail(404, `not found: ${rel}`);
        return;
      }
      const stream = fs.createReadStream(file);
      stream.once('error', (e) => fail(500, `cannot read ${rel}: ${e.message}`));
      stream.once('open', () => {
        res.writeHead(200, { ...headers, 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
        stream.pipe(res);
      });
    } catch (e) {
      fail(500, `cannot serve ${rel}: ${(e as Error).message}`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new Error(
              `port ${port} on 127.0.0.1 is in use (another server?): choose another with --port N (0 picks a free one)`,
            )
          : e.code === 'EACCES'
            ? new Error(`port ${port} on 127.0.0.1 needs privileges: choose one above 1023 with --port N`)
            : e,
      ),
    );
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

/**
 * The port from argv (`--port N` / `--port=N`), else npm's swallowed `npm run web --port N` (npm keeps it as
 * npm_config_port; a note says to write `npm run web -- --port N`), else PORT, else 8080.
 * @returns the port and notes to print. @throws Error (one line) for anything but an integer in 0..65535 or an
 *   unknown argument.
 */
export function parseServeArgs(
  argv: readonly string[],
  env: Record<string, string | undefined>,
): { port: number; notes: string[] } {
  const notes: string[] = [];
  let raw: string | undefined;
  let from = '--port';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--port') raw = argv[++i] ?? '';
    else if (a.startsWith('--port=')) raw = a.slice('--port='.length);
    else throw new Error(`unknown argument '${a}' (npm run web -- --port N is the only option)`);
  }
  if (raw === undefined && env.npm_config_port !== undefined) {
    raw = env.npm_config_port;
    from = '--port (taken by npm)';
    notes.push(`note: npm took '--port ${raw}' as its own option; write npm run web -- --port ${raw}`);
  }
  if (raw === undefined && env.PORT !== undefined) {
    raw = env.PORT;
    from = 'PORT';
  }
  if (raw === undefined) return { port: 8080, notes };
  const port = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(port >= 0 && port <= 65535)) throw new Error(`${from} must be an integer in 0..65535, got '${raw}'`);
  return { port, notes };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  try {
    const { port, notes } = parseServeArgs(process.argv.slice(2), process.env);
    for (const n of notes) console.error(n);
    const b = await buildWeb();
    console.log(describeBuild(b));
    const { url } = await serveStatic(b.outDir, port);
    console.log(`study page: ${url}  (127.0.0.1 only, COOP/COEP set; Ctrl-C stops)`);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    process.exit(/must be an integer|unknown argument/.test((e as Error).message) ? 2 : 1);
  }
}
