/**
 * `bit-ts export-torch` without PyTorch: the contract files say what bit-ts does. plan.json lists exactly the
 * model's parameters (names and shapes) and its BiT settings; recipe.json's lr samples are the schedule's;
 * data.json holds the exact members of each split (a tar's member names, a seeded held-out fraction); the run
 * mode exports a run's trained weights with its head; a missing mode or --out is a ConfigError.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { exportTorch } from '../../src/interop/export-torch.js';
import type { DataJson, PlanJson, RecipeJson } from '../../src/interop/torch-contract.js';
import { parameterShapes } from '../../src/models/index.js';
import { disposeBackends } from '../../src/tensor/backends/registry.js';
import { setupBackend } from '../../src/train/backend-setup.js';
import { loadConfig } from '../../src/train/config.js';
import { setupData } from '../../src/train/data-setup.js';
import { buildSchedule } from '../../src/train/schedule.js';
import { train } from '../../src/train/trainer.js';
import { haveTar, makeTar } from '../data/helpers.js';
import { makeStripes, readArrays, tmp } from './torch-harness.js';

const readJson = <T>(f: string): T => JSON.parse(fs.readFileSync(f, 'utf8')) as T;

describe('bit-ts export-torch: the contract files', () => {
  let data = '';
  const dirs: string[] = [];
  beforeAll(async () => {
    data = tmp('export-data');
    dirs.push(data);
    makeStripes(data, 'train', 3, 10, 32, 1);
    await setupBackend('wasm', 0);
  });
  afterAll(() => {
    disposeBackends();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('plan, recipe and data say what bit-ts builds, schedules and reads', async () => {
    const out = tmp('export-plain');
    dirs.push(out);
    const cfg = loadConfig(null, {
      data_dir: data,
      val_split: '0.2',
      model: 'bit-small',
      num_classes: '3',
      batch_size: '4',
      scheduler: 'multi_step_decay',
      multi_step_decay_milestones: '[1, 2]',
      warmup_epochs: '1',
      epoch_size: '4',
      image_resize: '32',
      progress: 'none',
    });
    const r = await exportTorch(cfg, out);
    expect(r.files).toEqual(expect.arrayContaining(['model.safetensors', 'plan.json', 'recipe.json', 'data.json']));
    const plan = readJson<PlanJson>(path.join(out, 'plan.json'));
    expect(plan.parameters).toEqual(parameterShapes('bit-small', 3));
    expect(plan.norm).toEqual({ kind: 'gn', groups: 16, eps: 1e-5 });
    expect(plan.ws).toEqual({ enabled: true, eps: 1e-10 });
    expect(plan.units.map((u) => u.layers.some((l) => l.name === 'downsample.conv'))).toEqual([
      true,
      false,
      true,
      false,
      true,
      false,
      true,
      false,
    ]);
    const weights = readArrays(path.join(out, 'model.safetensors'));
    expect([...weights.keys()]).toEqual(plan.parameters.map(([n]) => n));
    const recipe = readJson<RecipeJson>(path.join(out, 'recipe.json'));
    const d = setupData(cfg);
    const sched = buildSchedule(cfg, Math.floor(d.train.length / 4), d.train.length);
    expect(recipe.schedule.kind).toBe('table');
    expect(recipe.steps).toBe(sched.totalSteps);
    for (const [s, lr] of recipe.schedule.lr_samples) expect(lr).toBe(sched.lr(s));
    if (recipe.schedule.kind === 'table') expect(recipe.schedule.lr[recipe.steps - 1]).toBe(sched.lr(recipe.steps - 1));
    expect(recipe.optimizer).toMatchObject({
      name: 'sgd',
      momentum: 0.9,
      weight_decay: 1e-4,
      filter_bias_and_bn: true,
    });
    const dj = readJson<DataJson>(path.join(out, 'data.json'));
    expect(dj.train.labels).toEqual(Array.from(d.train.labels()));
    expect(dj.val!.labels).toEqual(Array.from(d.val!.labels()));
    expect(dj.train.labels.length + dj.val!.labels.length).toBe(30);
    if (dj.train.kind !== 'image-folder' || dj.val!.kind !== 'image-folder') throw new Error('expected image folders');
    const all = new Set([...dj.train.members, ...dj.val!.members]);
    expect(all.size).toBe(30); // the held-out fraction never overlaps training
    expect(dj.train.root_rel).toBe('train');
    expect(fs.existsSync(path.join(dj.train.root, dj.train.members[0]!))).toBe(true);
  }, 300_000);

  it.skipIf(!haveTar())(
    'a tar source: data.json names the tar members',
    async () => {
      const out = tmp('export-tar');
      dirs.push(out);
      const tarFile = path.join(out, 'data.tar');
      makeTar(tarFile, data, ['train']);
      const cfg = loadConfig(null, {
        data_dir: tarFile,
        val_split: '0',
        model: 'bit-tiny',
        num_classes: '3',
        batch_size: '4',
      });
      await exportTorch(cfg, path.join(out, 'x'));
      const dj = readJson<DataJson>(path.join(out, 'x', 'data.json'));
      if (dj.train.kind !== 'image-folder') throw new Error('expected an image folder');
      expect(dj.train.tar).toBe(true);
      expect(dj.train.members.every((m) => m.startsWith('train/class'))).toBe(true);
      expect(dj.val).toBeNull();
    },
    300_000,
  );

  it('run mode exports the trained weights (head kept); no mode or no --out is a config error', async () => {
    const run = tmp('export-run');
    const out = tmp('export-run-out');
    dirs.push(run, out);
    const cfg = loadConfig(null, {
      data_dir: data,
      val_split: '0',
      model: 'bit-tiny',
      num_classes: '3',
      batch_size: '4',
      max_steps: '2',
      lr: '0.1',
      ckpt_save_dir: run,
      progress: 'none',
      plots: 'false',
    });
    const r = await train(cfg, { log: () => {} });
    expect(r.status).toBe('completed');
    expect(await main(['export-torch', 'run', run, '--out', out])).toBe(0);
    const trained = readArrays(path.join(run, 'latest.safetensors'));
    const exported = readArrays(path.join(out, 'model.safetensors'));
    for (const [k, v] of exported) expect(v, k).toEqual(trained.get(k));
    expect([...exported.get('head.fc.weight')!].some((x) => x !== 0)).toBe(true);
    expect(await main(['export-torch', '--out', out])).toBe(2);
    expect(await main(['export-torch', 'train', '--model', 'bit-tiny'])).toBe(2);
  }, 300_000);
});
