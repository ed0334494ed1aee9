/**
 * The only Node-specific module of the weight-file layer: reads weight files from paths and writes them
 * atomically. Every parser (npz, npy, safetensors, ckpt, the format detector) works on bytes and imports no
 * `node:*` module, so `bit-ts/models` bundles for browsers; Node callers import the path-based helpers from
 * here (`bit-ts/models/node`).
 * Invariants: a path that is missing, a directory or larger than `maxFileBytes` is a CheckpointError naming it
 * before any read; writes go to a temp file in the target's directory (`.NAME.PID.STAMP.tmp`), are fsynced
 * and renamed over the target, so a reader never sees a half-written file; on failure the temp is removed.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CheckpointError } from '../../errors.js';
import { type CkptContent, type CkptWriteOptions, decodeCkpt, encodeCkpt } from './ckpt.js';
import { decodeWeights, type LoadedWeights } from './load.js';
import { decodeNpz, encodeNpzChunks } from './npz.js';
import { decodeSafetensors, encodeSafetensorsChunks, type SafetensorsContent } from './safetensors.js';
import type { DecodeOptions, NamedArray, WeightMap } from './types.js';

/**
 * The decode limits of `opts`, with the NPZ cap taken from the environment variable BIT_TS_MAX_DECODED_BYTES
 * when the caller gives none (how CLI users raise it for a genuine, highly compressed archive).
 * @throws CheckpointError when the variable is not a positive integer.
 */
export function decodeOptions(opts: DecodeOptions = {}): DecodeOptions {
  const env = process.env.BIT_TS_MAX_DECODED_BYTES;
  if (opts.maxDecodedBytes !== undefined || !env) return opts;
  const n = Number(env);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new CheckpointError(`BIT_TS_MAX_DECODED_BYTES must be a positive integer (bytes), got '${env}'`);
  }
  return { ...opts, maxDecodedBytes: n };
}

/** Options of the path-based readers: the decode limits plus a cap on the file itself. */
export interface ReadOptions extends DecodeOptions {
  /** Refuse files larger than this many bytes before reading them (default: no cap beyond the readers'). */
  maxFileBytes?: number;
}

/**
 * Read a whole file into memory, checking first that it exists, is a regular file and fits the cap.
 * @throws CheckpointError naming the path: missing, a directory, too large, or unreadable.
 */
export function readWeightBytes(path: string, opts: ReadOptions = {}): Uint8Array {
  let size: number;
  try {
    const st = statSync(path);
    if (st.isDirectory()) throw new CheckpointError(`${path}: is a directory, not a weight or checkpoint file`);
    size = st.size;
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : (e as Error).message;
    throw new CheckpointError(`${path}: cannot read file: ${why}`);
  }
  if (opts.maxFileBytes !== undefined && size > opts.maxFileBytes) {
    throw new CheckpointError(`${path}: file is ${size} bytes, over the ${opts.maxFileBytes}-byte limit`);
  }
  try {
    return readFileSync(path);
  } catch (e) {
    throw new CheckpointError(`${path}: cannot read file: ${(e as Error).message}`);
  }
}

/** Read an .npz file (bounded: see {@link DecodeOptions}). */
export function readNpz(path: string, opts: ReadOptions = {}): WeightMap {
  return decodeNpz(readWeightBytes(path, opts), path, decodeOptions(opts));
}

/** Read a .safetensors file. */
export function readSafetensors(path: string, opts: ReadOptions = {}): SafetensorsContent {
  return decodeSafetensors(readWeightBytes(path, opts), path);
}

/** Read a MindSpore .ckpt file. */
export function readCkpt(path: string, opts: ReadOptions = {}): CkptContent {
  return decodeCkpt(readWeightBytes(path, opts), path);
}

/**
 * Load a .npz (official BiT), .safetensors (timm / ours) or .ckpt (MindCV) file into our names.
 * Optimizer state is in `skipped`, unknown names in `unexpected`.
 * @throws CheckpointError naming the file, entry and problem.
 */
export function loadWeightsFile(path: string, opts: ReadOptions = {}): LoadedWeights {
  return decodeWeights(readWeightBytes(path, opts), path, decodeOptions(opts));
}

/**
 * Atomically replace `path` with the concatenation of `chunks`: temp file in the same directory, fsync,
 * rename, directory fsync (best effort: some filesystems refuse).
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

/** Write an NPZ file atomically (stored members, as np.savez). */
export function writeNpzAtomic(path: string, weights: Iterable<NamedArray> | WeightMap): void {
  writeFileAtomic(path, encodeNpzChunks(weights));
}

/** Write a safetensors file atomically. */
export function writeSafetensorsAtomic(
  path: string,
  weights: Iterable<NamedArray> | WeightMap,
  metadata?: Record<string, string>,
): void {
  writeFileAtomic(path, encodeSafetensorsChunks(weights, metadata));
}

/** Write a MindSpore checkpoint atomically. */
export function writeCkptAtomic(
  path: string,
  weights: Iterable<NamedArray> | WeightMap,
  opts?: CkptWriteOptions,
): void {
  writeFileAtomic(path, [encodeCkpt(weights, opts)]);
}
