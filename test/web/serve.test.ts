// Issue 23 case 7: the study server survives malformed URLs (`GET /%` threw a URIError and killed it: any page
// could do that with <img src="http://127.0.0.1:8080/%">), a busy port or a bad --port is one line, and
// `npm run web --port N` (npm swallows the flag as npm_config_port) is honoured with a note.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseServeArgs, serveStatic } from '../../web/serve.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bit-ts-serve-'));
fs.writeFileSync(path.join(root, 'index.html'), '<p>hello</p>');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** GET a raw path (no client-side URL normalisation), resolving with status and body. */
function get(url: string, rawPath: string): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: rawPath, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('web/serve.ts (case 7)', () => {
  it('malformed URLs are a 400 and the server keeps serving', async () => {
    const s = await serveStatic(root, 0);
    try {
      for (const bad of ['/%', '/%E0%A4%A', '/a%zz']) {
        const r = await get(s.url, bad);
        expect(r.status, bad).toBe(400);
        expect(r.body).toContain('malformed URL');
      }
      expect(await get(s.url, '/')).toEqual({ status: 200, body: '<p>hello</p>' });
      expect((await get(s.url, '/../etc/passwd')).status).toBe(404);
    } finally {
      await s.close();
    }
  });

  it('a port in use is one line naming it, not a stack trace', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const e = await serveStatic(root, port).catch((x: unknown) => x as Error);
      expect(e).toBeInstanceOf(Error);
      expect((e as Error).message).toBe(
        `port ${port} on 127.0.0.1 is in use (another server?): choose another with --port N (0 picks a free one)`,
      );
    } finally {
      blocker.close();
    }
  });

  it('--port is checked; npm run web --port N is honoured with a note', () => {
    expect(parseServeArgs([], {})).toEqual({ port: 8080, notes: [] });
    expect(parseServeArgs(['--port', '9001'], {}).port).toBe(9001);
    expect(parseServeArgs(['--port=0'], {}).port).toBe(0);
    expect(() => parseServeArgs(['--port', 'abc'], {})).toThrow("--port must be an integer in 0..65535, got 'abc'");
    expect(() => parseServeArgs(['--port', '70000'], {})).toThrow(/0\.\.65535/);
    expect(() => parseServeArgs(['--prot', '1'], {})).toThrow(/unknown argument '--prot'/);
    const npm = parseServeArgs([], { npm_config_port: '9002' });
    expect(npm.port).toBe(9002);
    expect(npm.notes[0]).toContain('npm run web -- --port 9002');
    expect(parseServeArgs([], { PORT: '9003' }).port).toBe(9003);
  });
});
