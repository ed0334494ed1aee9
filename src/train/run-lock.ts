/**
 * One writer per run folder. `acquireRunLock(dir)` creates `dir/.bit-ts.lock` exclusively (O_EXCL) holding
 * {pid, host, started}; a second run into the folder fails at once naming the holder. A lock whose process is
 * gone (same host, pid not alive) is stale: it is taken over with a notice. Once the lock is held, temp files
 * left by dead writers (`.NAME.PID.STAMP.tmp`, see node-io's writeFileAtomic) are removed.
 * Invariants: the lock is released (deleted) only by its owner; a lock from another host is never taken over
 * automatically (its pid cannot be checked from here).
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../errors.js';

/** Name of the lock file inside a run folder. */
export const LOCK_FILE = '.bit-ts.lock';

/** Content of a lock file. */
export interface LockInfo {
  pid: number;
  host: string;
  started: string;
}

/** A held lock. */
export interface RunLock {
  file: string;
  /** What happened on the way in (stale lock taken over, temp files removed). */
  notices: string[];
  /** Delete the lock if it is still ours. Idempotent. */
  release(): void;
}

/** Whether a process with `pid` exists on this host. */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

function readLock(file: string): LockInfo | null {
  try {
    const j = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<LockInfo>;
    if (typeof j.pid === 'number' && typeof j.host === 'string') {
      return { pid: j.pid, host: j.host, started: String(j.started ?? '?') };
    }
  } catch {
    // unreadable or half-written lock: treated as stale below
  }
  return null;
}

/** Remove `.NAME.PID.STAMP.tmp` files in `dir` whose writer pid is not alive; returns their names. */
export function removeStaleTemps(dir: string): string[] {
  const removed: string[] = [];
  for (const f of fs.readdirSync(dir)) {
    const m = /^\..+\.(\d+)\.[0-9a-z]+\.tmp$/.exec(f);
    if (!m || pidAlive(Number(m[1]))) continue;
    fs.rmSync(path.join(dir, f), { force: true });
    removed.push(f);
  }
  return removed;
}

/**
 * Take the run folder's lock (creating the folder), then clear dead writers' temp files.
 * @throws ConfigError naming the holder when a live process (or another host) holds the lock.
 */
export function acquireRunLock(dir: string): RunLock {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(
      code === 'EEXIST' || code === 'ENOTDIR'
        ? `ckpt_save_dir ${dir} is a file (or lies under one), not a folder: choose a folder for the run`
        : `ckpt_save_dir ${dir}: cannot create the run folder: ${(e as Error).message}`,
    );
  }
  const file = path.join(dir, LOCK_FILE);
  const me: LockInfo = { pid: process.pid, host: os.hostname(), started: new Date().toISOString() };
  const notices: string[] = [];
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(file, `${JSON.stringify(me)}\n`, { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw e;
    }
    const held = readLock(file);
    if (held && held.pid === me.pid && held.host === me.host) {
      throw new ConfigError(`${dir}: this process already runs a training in this folder`);
    }
    if (held && (held.host !== me.host || pidAlive(held.pid))) {
      throw new ConfigError(
        `${dir} is in use by another training run (pid ${held.pid} on ${held.host}, started ${held.started}): ` +
          `choose another ckpt_save_dir, or wait for that run to end` +
          (held.host !== me.host ? ` (if it is gone, delete ${file})` : ''),
      );
    }
    notices.push(
      held
        ? `note: took over a stale lock of ${dir} (pid ${held.pid} on ${held.host}, started ${held.started}, no longer running)`
        : `note: replaced an unreadable lock file ${file}`,
    );
    fs.rmSync(file, { force: true });
  }
  const temps = removeStaleTemps(dir);
  if (temps.length) notices.push(`note: removed ${temps.length} temp file(s) of dead writers: ${temps.join(', ')}`);
  let released = false;
  return {
    file,
    notices,
    release() {
      if (released) return;
      released = true;
      const held = readLock(file);
      if (held && held.pid === me.pid && held.host === me.host && held.started === me.started) {
        fs.rmSync(file, { force: true });
      }
    },
  };
}
