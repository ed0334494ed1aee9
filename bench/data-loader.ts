/**
 * Data-loader throughput: images/s decoded (JPEG from the shared tars, read in place) + augmented (BiT train
 * transform) + collated to NCHW, for CIFAR-10 (32 px JPEGs -> bit-train 36/32) and Imagenette (224 px JPEGs ->
 * bit-train 146/128), with 1 and 2 worker threads (0 = in-process optional). `runDataBench(opts)` returns rows
 * for the main bench runner; `npx tsx bench/data-loader.ts` prints them with the machine's CPU model and cores.
 * Datasets whose tar is missing are skipped with a message.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DataLoader, ImageFolder, Rng, Subset, type TransformSpec } from '../src/data/index.js';

/** One benchmark result row. */
export interface DataBenchRow {
  bench: string;
  backend: 'data';
  shape: string;
  /** time to the first batch (includes worker start-up and the dataset reopen) */
  first_ms: number;
  /** mean time per batch after the first */
  ms: number;
  images_per_s: number;
}

/** Options of `runDataBench`. */
export interface DataBenchOptions {
  /** which datasets (default both) */
  datasets?: ('cifar10' | 'imagenette')[];
  /** worker counts to try (default [1, 2]) */
  workers?: number[];
  batchSize?: number;
  /** images per run (default 2048 for CIFAR, 512 for Imagenette) */
  images?: number;
  /** folder holding cifar10/train.tar and imagenette/train.tar (default ../shared/data from the repo root) */
  dataDir?: string;
  log?: (msg: string) => void;
}

const here = path.dirname(fileURLToPath(import.meta.url));

const CASES: Record<'cifar10' | 'imagenette', { tar: string; spec: TransformSpec; images: number }> = {
  cifar10: { tar: 'cifar10/train.tar', spec: { kind: 'bit-train', precrop: 36, crop: 32 }, images: 2048 },
  imagenette: { tar: 'imagenette/train.tar', spec: { kind: 'bit-train', precrop: 146, crop: 128 }, images: 512 },
};

/** Runs the loader benchmark and returns one row per (dataset, worker count). */
export async function runDataBench(opts: DataBenchOptions = {}): Promise<DataBenchRow[]> {
  const log = opts.log ?? ((m: string) => console.log(m));
  const dataDir = opts.dataDir ?? path.resolve(here, '..', '..', 'shared', 'data');
  const bs = opts.batchSize ?? 64;
  const rows: DataBenchRow[] = [];
  for (const name of opts.datasets ?? ['cifar10', 'imagenette']) {
    const c = CASES[name];
    const tar = path.join(dataDir, c.tar);
    if (!fs.existsSync(tar)) {
      log(`[skip] data bench ${name}: ${tar} not found`);
      continue;
    }
    const full = ImageFolder.open(tar, { prefix: 'train/' });
    const n = Math.min(opts.images ?? c.images, full.length);
    const pick = new Rng(0).permutation(full.length).subarray(0, n).sort();
    const ds = new Subset(full, pick);
    for (const nw of opts.workers ?? [1, 2]) {
      const loader = new DataLoader({
        dataset: ds,
        batchSize: bs,
        numWorkers: nw,
        shuffle: true,
        seed: 0,
        transform: c.spec,
      });
      const t0 = performance.now();
      let first = 0;
      let t1 = t0;
      let shape = '';
      let after = 0;
      for await (const b of loader) {
        if (first === 0) {
          t1 = performance.now();
          first = t1 - t0;
          shape = `[${b.shape.join(',')}]`;
        } else after += b.labels.length;
      }
      const t2 = performance.now();
      await loader.close();
      const batchesAfter = Math.max(1, loader.numBatches() - 1);
      const row: DataBenchRow = {
        bench: `data-${name}-w${nw}`,
        backend: 'data',
        shape,
        first_ms: Math.round(first * 10) / 10,
        ms: Math.round(((t2 - t1) / batchesAfter) * 10) / 10,
        images_per_s: Math.round(after / ((t2 - t1) / 1000)),
      };
      log(
        `${row.bench.padEnd(22)} ${shape.padEnd(16)} first ${row.first_ms} ms, ${row.ms} ms/batch, ${row.images_per_s} img/s`,
      );
      rows.push(row);
    }
    full.close();
  }
  return rows;
}

const direct = process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href;
if (direct) {
  const cpus = os.cpus();
  console.log(
    `machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, node ${process.version}, ${os.platform()}`,
  );
  const rows = await runDataBench();
  console.log(JSON.stringify(rows, null, 2));
}
