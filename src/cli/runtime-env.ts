/**
 * Process environment fixes applied once when the `bit-ts` command starts, before any backend loads native
 * code. Vulkan/Wayland libraries that Dawn (the WebGPU backend) loads print "error: XDG_RUNTIME_DIR is invalid
 * or not set in the environment." to stderr when the variable is missing or not a private directory (common in
 * containers and CI); we point it at a fresh private (0700) temp directory instead. Nothing else changes.
 * Invariants: a valid XDG_RUNTIME_DIR (a directory owned by us with mode 0700) is never replaced; a directory we
 * create is removed when the process exits.
 */

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Whether `dir` is usable as XDG_RUNTIME_DIR (exists, is ours, mode 0700), as the XDG spec requires. */
export function validRuntimeDir(dir: string | undefined): boolean {
  if (!dir) return false;
  try {
    const st = fs.statSync(dir);
    const uid = process.getuid?.();
    return st.isDirectory() && (st.mode & 0o777) === 0o700 && (uid === undefined || st.uid === uid);
  } catch {
    return false;
  }
}

/** Set XDG_RUNTIME_DIR to a private temp directory when it is missing or invalid; returns the value used. */
export function ensureRuntimeDir(env: NodeJS.ProcessEnv = process.env): string {
  if (validRuntimeDir(env.XDG_RUNTIME_DIR)) return env.XDG_RUNTIME_DIR!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bit-ts-xdg-'));
  fs.chmodSync(dir, 0o700);
  env.XDG_RUNTIME_DIR = dir;
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}
