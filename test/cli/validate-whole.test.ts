/**
 * `bit-ts validate --data_dir DIR --ckpt_path FILE` with no -c and no split flag scores EVERY image of an
 * ImageFolder directory or tar (a single top folder such as val/ is descended into), not the checkpoint's
 * stored split; split flags keep the split; the data's class folders must be the checkpoint's classes.
 * The whole-set numbers are checked against a direct evaluation of the same model on every image.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateCheckpoint } from '../../src/cli/validate.js';
import { DataLoader, ImageFolder } from '../../src/data/index.js';
import { ConfigError } from '../../src/errors.js';
import { createModel } from '../../src/models/index.js';
import { CHECKPOINT_FORMAT, saveCheckpoint } from '../../src/train/checkpoint.js';
import { applyConfig, defaultConfig } from '../../src/train/config.js';
import { evaluate } from '../../src/train/evaluate.js';
import { modelSpecOfModel } from '../../src/train/model-setup.js';
import { encodePng, haveTar, makeTar, solidRgba, tmpDir } from '../data/helpers.js';

const root = tmpDir('validate-whole');
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** `<dir>/<top>/<class>/<i>.png`: 5 images per class, colour by class and index. */
function folder(dir: string, top: string, classes: string[]): string {
  classes.forEach((c, ci) => {
    const d = path.join(dir, top, c);
    fs.mkdirSync(d, { recursive: true });
    for (let i = 0; i < 5; i++) {
      const px = solidRgba(32, 32, [40 * ci + 10 * i, 200 - 30 * ci, 17 * i, 255]);
      fs.writeFileSync(path.join(d, `${i}.png`), encodePng(px, 32, 32));
    }
  });
  return dir;
}

const classes = ['ant', 'bee', 'cat'];
const data = folder(path.join(root, 'data'), 'val', classes);
const ckpt = path.join(root, 'model.safetensors');

async function makeCheckpoint(): Promise<void> {
  const model = createModel('bit-tiny', { numClasses: 3, seed: 5 });
  // the stored training config splits off 20%: the old behaviour scored 3 of the 15 images
  const config = applyConfig(
    defaultConfig(),
    { dataset: 'imagefolder', data_dir: data, val_split: 0.2, augment: 'bit', image_resize: 32, num_classes: 3 },
    'test',
  );
  await saveCheckpoint(ckpt, model, null, {
    format: CHECKPOINT_FORMAT,
    step: 0,
    epoch: 0,
    optimizerStep: 0,
    config: config as unknown as Record<string, unknown>,
    spec: modelSpecOfModel('bit-tiny', model),
    classes,
    rng: [0, 0, 0, 0],
    loader: { epoch: 0, position: 0 },
    bestTop1: null,
    reason: 'test',
  });
  // expected: the same model on every image, eval transform resize to 32, [-1, 1]
  const ds = ImageFolder.open(path.join(data, 'val'));
  const loader = new DataLoader({
    dataset: ds,
    batchSize: 4,
    transform: { kind: 'bit-eval', crop: 32 },
    shuffle: false,
  });
  expected = await evaluate(model, loader);
  await loader.close();
  model.dispose();
}
let expected: Awaited<ReturnType<typeof evaluate>>;

describe('validate --data_dir without split flags', () => {
  it('scores every image of a directory (descending into its single top folder)', async () => {
    await makeCheckpoint();
    const r = await validateCheckpoint({ ckpt_path: ckpt, data_dir: data });
    expect(r.count).toBe(15);
    expect(r.top1).toBe(expected.top1);
    expect(r.loss).toBeCloseTo(expected.loss, 5);
    expect(r.describe).toMatch(/every image \(15, 3 classes\)/);
  });

  it('scores every image of a tar of class folders; split flags keep the split', async () => {
    if (!haveTar()) return;
    const tar = path.join(root, 'data.tar');
    makeTar(tar, data, ['val']);
    const r = await validateCheckpoint({ ckpt_path: ckpt, data_dir: tar });
    expect(r.count).toBe(15);
    expect(r.top1).toBe(expected.top1);
    const split = await validateCheckpoint({ ckpt_path: ckpt, data_dir: path.join(data, 'val'), val_split: '0.2' });
    expect(split.count).toBe(3);
  });

  it('a class-name mismatch between checkpoint and folder is a ConfigError naming both sides', async () => {
    const other = folder(path.join(root, 'other'), 'val', ['ant', 'bee', 'dog']);
    const e = await validateCheckpoint({ ckpt_path: ckpt, data_dir: other }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect(String(e)).toMatch(/not in the data: cat.*not in the checkpoint: dog/);
    const two = folder(path.join(root, 'two'), 'val', ['ant', 'bee']);
    await expect(validateCheckpoint({ ckpt_path: ckpt, data_dir: two })).rejects.toThrow(/not in the data: cat/);
  });
});
