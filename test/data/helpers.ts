/**
 * Test helpers for the data layer: temporary directories, tar creation with the system `tar`, synthetic
 * PNG/JPEG encoding, and the location of the shared real-data tars (tests skip with a logged reason when absent).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');
export const CIFAR_TAR = path.resolve(repoRoot, '..', 'shared', 'data', 'cifar10', 'train.tar');
export const IMAGENETTE_TAR = path.resolve(repoRoot, '..', 'shared', 'data', 'imagenette', 'train.tar');

/** True when `file` exists; otherwise logs why the dependent tests are skipped. */
export function haveFile(file: string, what: string): boolean {
  if (fs.existsSync(file)) return true;
  console.warn(`[skip] ${what}: ${file} not found (shared data is only present in the dev workplace)`);
  return false;
}

/** True when a `tar` command is available. */
export function haveTar(): boolean {
  try {
    execFileSync('tar', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    console.warn('[skip] tar tests: no `tar` command on PATH');
    return false;
  }
}

export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `bit-data-${tag}-`));
}

/** Creates `out` from `members` (relative to `cwd`) with the given tar format. */
export function makeTar(out: string, cwd: string, members: string[], format: 'gnu' | 'pax' | 'ustar' = 'gnu'): void {
  execFileSync('tar', [`--format=${format}`, '-cf', out, '-C', cwd, ...members]);
}

/** Member names as `tar tf` prints them (literal quoting). */
export function tarList(file: string): string[] {
  const out = execFileSync('tar', ['--quoting-style=literal', '-tf', file], { maxBuffer: 64 << 20 }).toString('utf8');
  return out.split('\n').filter((s) => s.length > 0);
}

/** PNG bytes of an image given as RGBA pixels (colorType 0 gray, 2 RGB, 6 RGBA). */
export function encodePng(rgba: Uint8Array, width: number, height: number, colorType: 0 | 2 | 6 = 6): Buffer {
  const png = new PNG({ width, height });
  png.data = Buffer.from(rgba);
  return PNG.sync.write(png, { colorType, inputColorType: 6 });
}

/** Baseline JPEG bytes of an RGB image. */
export function encodeJpeg(rgb: Uint8Array, width: number, height: number, quality = 95): Buffer {
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    rgba.set(rgb.subarray(3 * i, 3 * i + 3), 4 * i);
    rgba[4 * i + 3] = 255;
  }
  return jpeg.encode({ data: rgba, width, height }, quality).data;
}

/** Solid RGBA image. */
export function solidRgba(width: number, height: number, rgba: [number, number, number, number]): Uint8Array {
  const d = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) d.set(rgba, 4 * i);
  return d;
}
