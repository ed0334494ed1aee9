// Issue 15 cases 6, 8 and 9 (dataset detection): an unreadable image stops training with a checkpoint of the
// work so far (exit 1), skip_bad_images skips and logs such images up to 1% of the set; max_steps fits the
// lr schedule (warm-up and decay) to the run's length while stop_after_steps only stops early; a folder of
// class folders is detected as an ImageFolder without --dataset.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { loadConfig } from '../../src/train/config.js';
import { resolveDataset, setupData } from '../../src/train/data-setup.js';
import { buildSchedule, hyperRuleBoundaries } from '../../src/train/schedule.js';
import { train } from '../../src/train/trainer.js';
import { tinyConfig, tmpRun } from './helpers.js';

/** root/<a|b>/NN.png: 50 dark and 50 bright 8x8 images; `bad` names get garbage JPEG bytes instead. */
function imageFolder(bad: string[]): string {
  const root = tmpRun('imgs');
  for (const [c, v] of [
    ['a', 40],
    ['b', 210],
  ] as const) {
    fs.mkdirSync(path.join(root, c));
    for (let i = 0; i < 50; i++) {
      const png = new PNG({ width: 8, height: 8 });
      for (let p = 0; p < 64; p++) png.data.set([v + ((p * 7 + i) % 30), v, 255 - v, 255], p * 4);
      fs.writeFileSync(path.join(root, c, `${String(i).padStart(2, '0')}.png`), PNG.sync.write(png));
    }
  }
  for (const b of bad) fs.writeFileSync(path.join(root, b), Uint8Array.of(0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5));
  return root;
}

const cfgFor = (root: string, dir: string, over: Record<string, unknown> = {}) =>
  tinyConfig(dir, { dataset: '', data_dir: root, num_classes: 2, image_resize: 8, epoch_size: 2, ...over });

describe('unreadable images during training (case 6)', () => {
  it('without skip_bad_images: stops with exit 1 naming the file, after writing a resumable checkpoint', async () => {
    const root = imageFolder(['b/zz-corrupt.jpg']);
    const dir = tmpRun('bad-stop');
    const logs: string[] = [];
    const r = await train(cfgFor(root, dir), { log: (m) => logs.push(m) });
    expect(logs.join('\n')).toContain('(imagefolder, detected)'); // case 9: no --dataset needed
    expect(r.status).toBe('data');
    expect(r.exitCode).toBe(1);
    expect(r.message).toContain('zz-corrupt.jpg');
    expect(r.message).toContain('skip_bad_images');
    const ck = loadCheckpoint(path.join(dir, 'latest.safetensors')).meta;
    expect(ck.reason).toBe('data-error');
    expect(ck.step).toBe(r.steps); // the work done before the bad batch is kept
    expect(r.steps).toBeGreaterThan(0);
    // resuming with skip_bad_images (a harmless change) finishes the run
    const rest = await train(
      { ...cfgFor(root, dir, { skip_bad_images: true }), resume: path.join(dir, 'latest.safetensors') },
      { log: () => {} },
    );
    expect(rest.status).toBe('completed');
    expect(rest.steps).toBe(12); // 2 epochs x floor(101 / 16) batches
  });

  it('with skip_bad_images: logs each skipped file once, records it, and completes', async () => {
    const root = imageFolder(['a/zz-corrupt.jpg']);
    const dir = tmpRun('bad-skip');
    const logs: string[] = [];
    const r = await train(cfgFor(root, dir, { skip_bad_images: true }), { log: (m) => logs.push(m) });
    expect(r.status).toBe('completed');
    expect(logs.join('\n')).toContain('skipped 1 unreadable image(s)');
    const skips = fs
      .readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; message?: string })
      .filter((x) => x.type === 'skip');
    expect(skips.length).toBe(2); // once per epoch
    expect(skips[0]!.message).toContain('zz-corrupt.jpg');
  });

  it('more than 1% unreadable images stops the run (checkpoint written)', async () => {
    const root = imageFolder(['a/zz-1.jpg', 'b/zz-2.jpg']);
    const dir = tmpRun('bad-cap');
    const r = await train(cfgFor(root, dir, { skip_bad_images: true, epoch_size: 1 }), { log: () => {} });
    expect(r.status).toBe('data');
    expect(r.message).toMatch(/2 unreadable images, over the skip_bad_images cap of 1 \(1% of 102\)/);
    expect(fs.existsSync(path.join(dir, 'latest.safetensors'))).toBe(true);
  });
});

describe('max_steps defines the schedule, stop_after_steps stops early (case 8)', () => {
  const cfg = (over: Record<string, unknown>) => loadConfig(null, { lr: 0.1, ...over });

  it('a 40-step run of a 3-warm-up-epoch schedule ends its warm-up at step 12, not after the run', () => {
    const s = buildSchedule(cfg({ scheduler: 'constant', warmup_epochs: 3, epoch_size: 10, max_steps: 40 }), 100, 0);
    expect(s.totalSteps).toBe(40);
    expect(s.lr(11)).toBeLessThan(0.1);
    expect(s.lr(12)).toBe(0.1);
    expect(s.lr(39)).toBe(0.1);
    expect(s.describe).toContain('fitted to max_steps 40 (its natural length: 1000 steps), warm-up 12 steps');
    // without max_steps the same schedule would still be warming up at step 39
    expect(buildSchedule(cfg({ scheduler: 'constant', warmup_epochs: 3, epoch_size: 10 }), 100, 0).lr(39)).toBeLessThan(
      0.02,
    );
  });

  it('cosine decays to its floor by max_steps; HyperRule boundaries end at max_steps', () => {
    const s = buildSchedule(cfg({ scheduler: 'cosine_decay', warmup_epochs: 0, epoch_size: 1, max_steps: 40 }), 312, 0);
    expect(s.lr(0)).toBeCloseTo(0.1, 6);
    expect(s.lr(20)).toBeCloseTo(0.05, 2);
    expect(s.lr(39)).toBeLessThan(0.001);
    const b = hyperRuleBoundaries(50_000, 1, 40);
    expect(b[4]).toBe(40);
    expect(b[0]).toBe(2); // 500/10000 of 40 steps
    for (let i = 1; i < 5; i++) expect(b[i]!).toBeGreaterThan(b[i - 1]!);
    const h = buildSchedule(cfg({ scheduler: 'hyperrule', hyperrule_dataset_size: 50_000, max_steps: 40 }), 10, 0);
    expect(h.totalSteps).toBe(40);
    expect(h.lr(39)).toBeCloseTo(0.1 / 1000, 9); // the run ends in the last decay phase
  });

  it('stop_after_steps stops a run early on the unchanged schedule', async () => {
    const dir = tmpRun('stop-after');
    const logs: string[] = [];
    const r = await train(
      tinyConfig(dir, { mnist_digits: [0, 1], num_classes: 2, train_limit: 64, epoch_size: 2, stop_after_steps: 3 }),
      {
        log: (m) => logs.push(m),
      },
    );
    expect(r.status).toBe('completed');
    expect(r.steps).toBe(3);
    expect(r.message).toContain('stopped after 3 of 8 steps (stop_after_steps)');
    expect(logs.join('\n')).toContain('8 steps; lr constant');
  });
});

describe('dataset detection (case 9)', () => {
  it('`--data_dir X.tar` of class folders without --dataset opens an ImageFolder, not MNIST', () => {
    const root = imageFolder([]);
    const stage = tmpRun('tar-stage');
    fs.mkdirSync(path.join(stage, 'train'));
    fs.renameSync(path.join(root, 'a'), path.join(stage, 'train', 'a'));
    fs.renameSync(path.join(root, 'b'), path.join(stage, 'train', 'b'));
    const tar = path.join(stage, 'x.tar');
    execFileSync('tar', ['-cf', tar, '-C', stage, 'train']);
    const cfg = loadConfig(null, { data_dir: tar, num_classes: 2, val_split: 0 });
    expect(cfg.dataset).toBe('');
    expect(resolveDataset(cfg)).toBe('imagefolder');
    const d = setupData(cfg);
    expect(d.train.length).toBe(100);
    expect(d.describe).toContain('(imagefolder, detected)');
    expect(resolveDataset(loadConfig(null, {}))).toBe('mnist'); // no data_dir: the embedded MNIST
    expect(resolveDataset(loadConfig(null, { data_dir: tar, dataset: 'cifar10' }))).toBe('cifar10'); // explicit wins
  });
});
