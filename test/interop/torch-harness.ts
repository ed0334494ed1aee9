/**
 * Shared pieces of the PyTorch interop tests: Debian's interpreter (/usr/bin/python3, where python3-torch and
 * python3-torchvision install; BIT_TORCH_PYTHON overrides), the require-or-skip rule (BIT_REQUIRE_TORCH=1, set
 * by .ci/run, turns a missing torch into a failure, as BIT_REQUIRE_WEBGPU does for WebGPU), running
 * interop/torch's modules, a small learnable ImageFolder (JPEG class folders), and safetensors comparisons.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSafetensors } from '../../src/models/node.js';
import { Rng } from '../../src/tensor/index.js';
import { encodeJpeg, repoRoot } from '../data/helpers.js';

export const PYTHON = process.env.BIT_TORCH_PYTHON ?? '/usr/bin/python3';
export const REQUIRE_TORCH_ENV = 'BIT_REQUIRE_TORCH';

/** Why torch cannot run here (null when it can). */
export function torchUnavailable(): string | null {
  if (!fs.existsSync(PYTHON)) return `${PYTHON} not found (install Debian's python3-torch python3-torchvision)`;
  const r = spawnSync(PYTHON, ['-c', 'import torch, torchvision, numpy, PIL'], { encoding: 'utf8' });
  if (r.status !== 0) return `${PYTHON} cannot import torch/torchvision: ${r.stderr.trim().split('\n').pop()}`;
  return null;
}

/** The skip reason to use: null when torch runs, or when BIT_REQUIRE_TORCH=1 (then the tests fail instead). */
export function torchSkip(): string | null {
  const why = torchUnavailable();
  if (why && process.env[REQUIRE_TORCH_ENV] !== '1') {
    console.warn(`skipping the PyTorch interop tests: ${why} (set ${REQUIRE_TORCH_ENV}=1 to fail instead)`);
    return why;
  }
  return null;
}

/**
 * Longest a bit_torch run may take (ms) before it is killed and the test fails (they take 5-60 s; the call is
 * synchronous, so vitest's own timeout could not stop a hung process).
 */
export const BIT_TORCH_TIMEOUT_MS = 8 * 60 * 1000;

/** Run `python3 -m bit_torch.<mod> args` from interop/torch; returns stdout (throws with stderr on failure or timeout). */
export function runBitTorch(mod: string, args: string[]): string {
  try {
    return execFileSync(PYTHON, ['-m', `bit_torch.${mod}`, ...args], {
      cwd: path.join(repoRoot, 'interop', 'torch'),
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', OMP_NUM_THREADS: '1' },
      encoding: 'utf8',
      maxBuffer: 64 << 20,
      timeout: BIT_TORCH_TIMEOUT_MS,
      killSignal: 'SIGKILL',
    });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string; signal?: string | null; code?: string };
    const why =
      err.signal === 'SIGKILL' || err.code === 'ETIMEDOUT' ? ` (killed after ${BIT_TORCH_TIMEOUT_MS / 1000} s)` : '';
    throw new Error(`bit_torch.${mod} ${args.join(' ')} failed${why}:\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  }
}

export function tmp(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `bit-ts-${tag}-`));
}

/**
 * An ImageFolder of `side` x `side` JPEGs in `root/<split>/<class>/`: class c is a vertical (c even) or
 * horizontal stripe pattern of its own colour, with seeded Gaussian noise of std `noise` grey levels.
 */
export function makeStripes(
  root: string,
  split: string,
  classes: number,
  perClass: number,
  side: number,
  seed: number,
  noise = 40,
) {
  const rng = new Rng(seed);
  for (let c = 0; c < classes; c++) {
    const dir = path.join(root, split, `class${c}`);
    fs.mkdirSync(dir, { recursive: true });
    for (let i = 0; i < perClass; i++) {
      const rgb = new Uint8Array(side * side * 3);
      const period = 2 + (c % 3) * 2;
      for (let y = 0; y < side; y++)
        for (let x = 0; x < side; x++) {
          const on = Math.floor((c % 2 === 0 ? x : y) / period) % 2 === 0;
          for (let ch = 0; ch < 3; ch++) {
            const base = on ? (ch === c % 3 ? 220 : 60) : 30;
            rgb[(y * side + x) * 3 + ch] = Math.max(0, Math.min(255, Math.round(base + noise * rng.normal())));
          }
        }
      fs.writeFileSync(path.join(dir, `${i}.jpg`), encodeJpeg(rgb, side, side, 90));
    }
  }
}

/** The float32 arrays of a safetensors file by name. */
export function readArrays(file: string): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [n, a] of readSafetensors(file).weights) out.set(n, Float32Array.from(a.data as ArrayLike<number>));
  return out;
}

/** max |a - b| and max |b| over two arrays. */
export function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): { abs: number; scale: number } {
  let abs = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    abs = Math.max(abs, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return { abs, scale };
}
