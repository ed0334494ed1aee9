/**
 * Crash-safe file replacement used by every weight writer: write to a temp file in the target's directory,
 * fsync it, rename it over the target, then fsync the directory (best effort: some filesystems refuse).
 * Invariant: a reader never sees a half-written target; on failure the temp file is removed.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CheckpointError } from '../../errors.js';

/**
 * Atomically replace `path` with the concatenation of `chunks`.
 * @throws CheckpointError naming the file when any write, fsync or rename fails.
 */
export function writeFileAtomic(path: string, chunks: readonly Uint8Array[]): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w', 0o644);
    for (const c of chunks) {
      let off = 0;
      while (off < c.length) off += writeSync(fd, c, off, c.length - off);
    }
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // already failing; the original error is the one to report
      }
    }
    rmSync(tmp, { force: true });
    throw new CheckpointError(`${path}: could not write file: ${(e as Error).message}`);
  }
  try {
    const dfd = openSync(dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // directory fsync is best effort (not supported on every platform / filesystem)
  }
}
