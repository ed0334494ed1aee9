/**
 * JPEG decode speed before/after issue 15: jpeg-js (the previous pure-JS decoder) against the libjpeg-turbo
 * decoder in WebAssembly that `decodeImage` now uses (src/data/jpeg-node.ts), on the first members of the
 * shared CIFAR-10 (32 px, 4:2:0) and Imagenette (224 px) tars, read in place. Reports ms per image for each,
 * the speed-up, and how far jpeg-js's pixels are from libjpeg-turbo's (mean and max absolute difference).
 * `npx tsx bench/jpeg-decode.ts [--json]`; a missing tar is skipped with a message.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import { decodeJpegRgba } from '../src/data/jpeg-node.js';
import { TarFile } from '../src/data/tar.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const DATA = path.resolve(here, '..', '..', 'shared', 'data');
const CASES = [
  { name: 'cifar10', tar: 'cifar10/train.tar', images: 2000 },
  { name: 'imagenette', tar: 'imagenette/train.tar', images: 200 },
];

function time(fn: () => void, reps: number): number {
  fn(); // warm-up pass (JIT, wasm tier-up)
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) fn();
  return (performance.now() - t0) / reps;
}

const rows: Record<string, unknown>[] = [];
for (const c of CASES) {
  let tar: TarFile;
  try {
    tar = TarFile.open(path.join(DATA, c.tar));
  } catch {
    console.log(`[skip] ${c.name}: ${path.join(DATA, c.tar)} not found`);
    continue;
  }
  const files = tar.entries
    .filter((e) => /\.jpe?g$/i.test(e.name))
    .slice(0, c.images)
    .map((e) => tar.read(e));
  tar.close();
  const jsMs = time(() => {
    for (const f of files) jpeg.decode(f, { useTArray: true, formatAsRGBA: true });
  }, 2);
  const turboMs = time(() => {
    for (const f of files) decodeJpegRgba(f);
  }, 2);
  let sum = 0;
  let n = 0;
  let max = 0;
  for (const f of files) {
    const a = jpeg.decode(f, { useTArray: true, formatAsRGBA: true }).data;
    const b = decodeJpegRgba(f).data;
    for (let i = 0; i < a.length; i++) {
      if ((i & 3) === 3) continue; // alpha
      const d = Math.abs(a[i]! - b[i]!);
      sum += d;
      n++;
      if (d > max) max = d;
    }
  }
  rows.push({
    bench: `jpeg decode ${c.name}`,
    images: files.length,
    jpeg_js_ms_per_image: +(jsMs / files.length).toFixed(4),
    libjpeg_turbo_wasm_ms_per_image: +(turboMs / files.length).toFixed(4),
    speedup: +(jsMs / turboMs).toFixed(2),
    jpeg_js_vs_turbo_mean_abs_diff: +(sum / n).toFixed(3),
    jpeg_js_vs_turbo_max_abs_diff: max,
  });
}
if (process.argv.includes('--json')) {
  console.log(
    JSON.stringify({ cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, rows }, null, 1),
  );
} else {
  console.log(`${os.cpus()[0]?.model} x${os.cpus().length}, Node ${process.version}`);
  for (const r of rows) console.log(r);
}
