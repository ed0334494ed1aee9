/**
 * DataLoader: every index exactly once per epoch for any batch size and worker count 0/1/2 (property), dropLast,
 * replacement for small sets, seeded per-epoch shuffling, identical batches regardless of worker count, exact
 * mid-epoch resume via state()/setState(), named errors crossing the worker boundary, Node exiting without
 * close() when run under tsx, and the shared CIFAR-10 tar through workers.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ArrayDataset, type Dataset, Subset } from '../../src/data/dataset.js';
import type { Batch } from '../../src/data/image.js';
import { ImageFolder } from '../../src/data/image-folder.js';
import { DataLoader, type DataLoaderOptions } from '../../src/data/loader.js';
import { Rng } from '../../src/data/rng.js';
import { fewShot } from '../../src/data/sampling.js';
import { ConfigError, DataError } from '../../src/errors.js';
import { CIFAR_TAR, haveFile, repoRoot, tmpDir } from './helpers.js';

function synthetic(n: number, h = 6, w = 5, classes = 3): ArrayDataset {
  const r = new Rng(n);
  const pixels = new Uint8Array(new SharedArrayBuffer(n * h * w * 3));
  for (let i = 0; i < pixels.length; i++) pixels[i] = r.nextInt(256);
  const labels = Int32Array.from({ length: n }, (_, i) => i % classes);
  const names = Array.from({ length: classes }, (_, i) => `c${i}`);
  return new ArrayDataset({
    pixels,
    labels,
    height: h,
    width: w,
    channels: 3,
    classes: names,
    toRgb: false,
    source: 'synthetic',
  });
}

async function epoch(loader: DataLoader): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader) out.push(b);
  return out;
}

const loaders: DataLoader[] = [];
function make(opts: DataLoaderOptions): DataLoader {
  const l = new DataLoader(opts);
  loaders.push(l);
  return l;
}
afterAll(async () => {
  await Promise.all(loaders.map((l) => l.close()));
});

describe('DataLoader', () => {
  it('visits every index exactly once per epoch, labels and shapes kept (property, 0/1/2 workers)', async () => {
    const ds = synthetic(23);
    const check = async (bs: number, nw: number, shuffle: boolean, seed: number) => {
      const l = make({
        dataset: ds,
        batchSize: bs,
        numWorkers: nw,
        shuffle,
        seed,
        replacement: false,
        transform: { kind: 'plain' },
      });
      for (let e = 0; e < 2; e++) {
        const batches = await epoch(l);
        const seen = batches.flatMap((b) => Array.from(b.indices));
        if (seen.length !== 23 || [...seen].sort((a, b) => a - b).some((v, i) => v !== i)) return false;
        if (batches.length !== Math.ceil(23 / bs)) return false;
        for (const b of batches) {
          if (b.shape[1] !== 3 || b.shape[2] !== 6 || b.shape[3] !== 5 || b.shape[0] !== b.labels.length) return false;
          if (!b.indices.every((idx, j) => ds.label(idx) === b.labels[j])) return false;
          if (!b.images.every((v) => v >= -1 && v <= 1)) return false;
        }
      }
      await l.close();
      return true;
    };
    for (const [nw, runs] of [
      [0, 40],
      [1, 4],
      [2, 4],
    ] as const) {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 30 }), fc.boolean(), fc.integer(), (bs, sh, seed) =>
          check(bs, nw, sh, seed),
        ),
        { numRuns: runs },
      );
    }
  });

  it('dropLast drops the incomplete batch', async () => {
    const l = make({ dataset: synthetic(10), batchSize: 4, dropLast: true, transform: { kind: 'plain' } });
    const b = await epoch(l);
    expect(b.map((x) => x.labels.length)).toEqual([4, 4]);
    expect(l.numBatches()).toBe(2);
  });

  it('samples with replacement when the set is smaller than a batch (few-shot)', async () => {
    const l = make({ dataset: synthetic(5), batchSize: 8, shuffle: true, seed: 3, transform: { kind: 'plain' } });
    expect(l.replacement).toBe(true);
    const b = await epoch(l);
    expect(b.length).toBe(1);
    expect(b[0]!.labels.length).toBe(8);
    expect(b[0]!.indices.every((i) => i >= 0 && i < 5)).toBe(true);
  });

  it('shuffles per epoch from (seed, epoch): reproducible, different across epochs and seeds', () => {
    const opts = { dataset: synthetic(50), batchSize: 7, shuffle: true, transform: { kind: 'plain' as const } };
    const a = make({ ...opts, seed: 1 });
    const b = make({ ...opts, seed: 1 });
    const c = make({ ...opts, seed: 2 });
    expect(Array.from(a.epochOrder(0))).toEqual(Array.from(b.epochOrder(0)));
    expect(Array.from(a.epochOrder(0))).not.toEqual(Array.from(a.epochOrder(1)));
    expect(Array.from(a.epochOrder(0))).not.toEqual(Array.from(c.epochOrder(0)));
  });

  it('augmented batches are identical for 0, 1 and 2 workers', async () => {
    const ds = synthetic(13, 9, 11);
    const run = async (nw: number) => {
      const l = make({
        dataset: ds,
        batchSize: 4,
        numWorkers: nw,
        shuffle: true,
        seed: 7,
        transform: { kind: 'bit-train', precrop: 10, crop: 8 },
      });
      const out = [...(await epoch(l)), ...(await epoch(l))];
      await l.close();
      return out;
    };
    const [b0, b1, b2] = [await run(0), await run(1), await run(2)];
    expect(b0.length).toBe(8);
    expect(b0[0]!.shape).toEqual([4, 3, 8, 8]);
    for (const other of [b1, b2]) {
      other.forEach((b, i) => {
        expect(Array.from(b.indices)).toEqual(Array.from(b0[i]!.indices));
        expect(Buffer.from(b.images.buffer).equals(Buffer.from(b0[i]!.images.buffer))).toBe(true);
      });
    }
    // epochs differ in augmentation even for the same image order
    expect(Buffer.from(b0[0]!.images.buffer).equals(Buffer.from(b0[4]!.images.buffer))).toBe(false);
  });

  it('state()/setState() resume exactly mid-epoch', async () => {
    const ds = synthetic(20);
    const opts = {
      dataset: ds,
      batchSize: 3,
      shuffle: true,
      seed: 5,
      transform: { kind: 'bit-train' as const, precrop: 6, crop: 4 },
    };
    const full = make(opts);
    const ref = [...(await epoch(full)), ...(await epoch(full))];
    const first = make(opts);
    await epoch(first);
    const part: Batch[] = [];
    for await (const b of first) {
      part.push(b);
      if (part.length === 3) break;
    }
    const st = first.state();
    expect(st).toEqual({ epoch: 1, position: 3 });
    const resumed = make({ ...opts, numWorkers: 1 });
    resumed.setState(st);
    const rest = await epoch(resumed);
    const got = [...part, ...rest];
    const want = ref.slice(7);
    expect(got.length).toBe(want.length);
    got.forEach((b, i) => {
      expect(b.position).toBe(want[i]!.position);
      expect(Array.from(b.images)).toEqual(Array.from(want[i]!.images));
    });
    expect(resumed.state()).toEqual({ epoch: 2, position: 0 });
    expect(() => resumed.setState({ epoch: 0, position: 99 })).toThrow(ConfigError);
  });

  it('mixed-size images without a resize are a DataError; bad options are ConfigErrors', async () => {
    const base = synthetic(2);
    const odd: Dataset = {
      ...base,
      length: 2,
      numClasses: base.numClasses,
      classes: base.classes,
      get: (i) =>
        i === 0
          ? base.get(0)
          : { image: { data: new Uint8Array(4 * 4 * 3), height: 4, width: 4, channels: 3 }, label: 0 },
      label: (i) => base.label(i),
      labels: () => base.labels(),
      descriptor: () => base.descriptor(),
    };
    await expect(epoch(make({ dataset: odd, batchSize: 2, transform: { kind: 'plain' } }))).rejects.toThrow(
      /mixed-size batch: dataset index 1/,
    );
    const ok = await epoch(make({ dataset: odd, batchSize: 2, transform: { kind: 'plain', size: 4 } }));
    expect(ok[0]!.shape).toEqual([2, 3, 4, 4]);
    expect(() => new DataLoader({ dataset: base, batchSize: 0, transform: { kind: 'plain' } })).toThrow(ConfigError);
    expect(() => new DataLoader({ dataset: base, batchSize: 2, numWorkers: -1, transform: { kind: 'plain' } })).toThrow(
      ConfigError,
    );
  });

  it('a decode error inside a worker arrives as a DataError naming the file', async () => {
    const d = tmpDir('loaderr');
    try {
      fs.mkdirSync(path.join(d, 'k'));
      fs.writeFileSync(path.join(d, 'k', 'bad.png'), 'garbage');
      const l = make({ dataset: ImageFolder.open(d), batchSize: 1, numWorkers: 1, transform: { kind: 'plain' } });
      const err = await epoch(l).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DataError);
      expect((err as Error).message).toMatch(/k\/bad\.png: not a JPEG or PNG/);
      await l.close();
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });

  it('workers run from TypeScript under tsx and Node exits without close()', () => {
    const d = tmpDir('tsxexit');
    try {
      const entry = path.join(repoRoot, 'src', 'data', 'index.ts');
      const script = path.join(d, 'run.mts');
      fs.writeFileSync(
        script,
        `import { ArrayDataset, DataLoader } from ${JSON.stringify(entry)};
const pixels = new Uint8Array(new SharedArrayBuffer(6 * 2 * 2 * 3)).fill(255);
const ds = new ArrayDataset({ pixels, labels: new Int32Array(6), height: 2, width: 2, channels: 3, classes: ['x'], toRgb: false, source: 's' });
const l = new DataLoader({ dataset: ds, batchSize: 4, numWorkers: 2, transform: { kind: 'plain' } });
let n = 0;
for await (const b of l) n += b.labels.length + b.images[0];
console.log('seen', n);
`,
      );
      const tsx = path.join(repoRoot, 'node_modules', '.bin', 'tsx');
      const out = execFileSync(tsx, [script], { cwd: d, timeout: 30_000 }).toString();
      expect(out.trim()).toBe('seen 8');
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!haveFile(CIFAR_TAR, 'DataLoader on CIFAR-10 tar'))('DataLoader on the shared CIFAR-10 tar', () => {
  it('few-shot subset through 2 workers equals the in-process result', async () => {
    const ds = ImageFolder.open(CIFAR_TAR, { prefix: 'train/' });
    const shots = new Subset(ds, fewShot(ds.labels(), 2, 0));
    const spec = { kind: 'bit-train' as const, precrop: 40, crop: 32 };
    const a = await epoch(
      make({ dataset: shots, batchSize: 8, numWorkers: 2, shuffle: true, seed: 1, transform: spec }),
    );
    const b = await epoch(
      make({ dataset: shots, batchSize: 8, numWorkers: 0, shuffle: true, seed: 1, transform: spec }),
    );
    expect(a.map((x) => x.labels.length)).toEqual([8, 8, 4]);
    expect(a[0]!.shape).toEqual([8, 3, 32, 32]);
    const counts = new Array(10).fill(0);
    for (const x of a) for (const l of x.labels) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(2));
    for (const [i, x] of a.entries()) expect(Array.from(x.images)).toEqual(Array.from(b[i]!.images));
    ds.close();
  });
});
