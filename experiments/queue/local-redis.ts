/**
 * A throwaway Redis for the queue tests and bench/queue-scale.ts: Debian's `redis-server` on a free 127.0.0.1 port, append-only persistence
 * in a temp folder (as BullMQ's docs require for durability), `maxmemory-policy noeviction`, no RDB saves.
 * `kill()` SIGKILLs it (data since the last fsync may be lost: appendfsync always is set so none is),
 * `start()` restarts it on the same port and folder; `stop()` kills it and removes the folder (call in
 * afterAll / finally). No mocks: tests talk to this server through bullmq/ioredis. Not for production Redis
 * (README "Many machines" says how to run that one).
 */

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

/** Whether `redis-server` runs here (the precondition of the queue tests). */
export function redisAvailable(): boolean {
  return spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0;
}

/** A free TCP port on 127.0.0.1 (the OS picks it; released before returning). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.setTimeout(1000);
    s.once('connect', () => s.write('PING\r\n'));
    s.once('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

/** A throwaway Redis. */
export interface TestRedis {
  url: string;
  port: number;
  dir: string;
  /** SIGKILL the server (no shutdown save). */
  kill(): Promise<void>;
  /** (Re)start it on the same port and folder; resolves when it answers PING. */
  start(): Promise<void>;
  /** Kill it and remove its folder. Idempotent. */
  stop(): Promise<void>;
}

/** Start a Redis on a free port (resolves once it answers). */
export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bit-redis-'));
  let proc: ChildProcess | null = null;
  const r: TestRedis = {
    url: `redis://127.0.0.1:${port}/0`,
    port,
    dir,
    async kill() {
      const p = proc;
      proc = null;
      if (!p || p.exitCode !== null) return;
      const gone = new Promise((res) => p.once('exit', res));
      p.kill('SIGKILL');
      await gone;
    },
    async start() {
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''];
      args.push('--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction');
      const p = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      proc = p;
      let log = '';
      p.stdout?.on('data', (d) => {
        log += d;
      });
      const until = Date.now() + 20_000;
      while (!(await ping(port))) {
        if (p.exitCode !== null || Date.now() > until)
          throw new Error(`redis-server did not start on ${port}:\n${log}`);
        await new Promise((res) => setTimeout(res, 50));
      }
    },
    async stop() {
      await r.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  await r.start();
  return r;
}
