/**
 * The Node RunStore (src/train/node-store.ts): an epoch end is ONE save (the state is serialized once, into the
 * epoch file, and latest.safetensors is an atomic copy of its bytes), epoch files rotate by policy, 'best' and
 * 'latest' go to their own files, and metric records are appended to metrics.jsonl.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/data/rng.js';
import { Flatten, Linear, Sequential, SGD } from '../../src/nn/index.js';
import { useBackend } from '../../src/tensor/backends/registry.js';
import { CHECKPOINT_FORMAT, type CheckpointMeta, loadCheckpoint } from '../../src/train/checkpoint.js';
import { defaultConfig } from '../../src/train/config.js';
import { readMetrics } from '../../src/train/metrics.js';
import { RunFolderStore } from '../../src/train/node-store.js';
import { tmpRun } from './helpers.js';

describe('RunFolderStore', () => {
  it('an epoch end serializes once: the epoch file, copied to latest; rotation keeps the newest', async () => {
    await useBackend('reference');
    const dir = tmpRun('store');
    const model = new Sequential(new Flatten(), new Linear(4, 2, { rng: new Rng(1) }));
    const opt = new SGD(model, { lr: 0.1, momentum: 0.9 });
    const reasons: string[] = [];
    let step = 0;
    const meta = (reason: string): CheckpointMeta => {
      reasons.push(reason);
      return {
        format: CHECKPOINT_FORMAT,
        step,
        epoch: 0,
        optimizerStep: 0,
        config: defaultConfig(),
        spec: { name: 'tiny' } as unknown as CheckpointMeta['spec'],
        classes: ['a', 'b'],
        rng: new Rng(0).state(),
        loader: { epoch: 0, position: 0 } as CheckpointMeta['loader'],
        bestTop1: null,
        best: null,
        reason,
      };
    };
    const store = new RunFolderStore(dir, { model, opt, meta }, { model: 'tiny', keep: 2, policy: 'latest_k' });
    expect(store.latest).toBeNull();
    for (const epoch of [1, 2, 3]) {
      step = 10 * epoch;
      const f = await store.save('epoch', { reason: 'epoch', step, epoch, top1: null });
      expect(path.basename(f)).toBe(`tiny-${epoch}_${step}.safetensors`);
      expect(fs.readFileSync(path.join(dir, 'latest.safetensors'))).toEqual(fs.readFileSync(f));
    }
    expect(reasons).toEqual(['epoch', 'epoch', 'epoch']); // one serialization per epoch end
    expect(store.latest).toBe(path.join(dir, 'latest.safetensors'));
    expect(loadCheckpoint(store.latest!).meta.step).toBe(30);
    expect(
      fs
        .readdirSync(dir)
        .filter((f) => f.startsWith('tiny-'))
        .sort(),
    ).toEqual(['tiny-2_20.safetensors', 'tiny-3_30.safetensors']);
    expect(await store.save('best', { reason: 'best', step, epoch: 3, top1: 50 })).toBe(
      path.join(dir, 'best.safetensors'),
    );
    store.append({ type: 'eval', step: 30, epoch: 3, top1: 50, top5: 100, loss: 0.5 });
    expect(readMetrics(path.join(dir, 'metrics.jsonl'))).toEqual([
      { type: 'eval', step: 30, epoch: 3, top1: 50, top5: 100, loss: 0.5 },
    ]);
    expect(reasons).toEqual(['epoch', 'epoch', 'epoch', 'best']);
    opt.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
