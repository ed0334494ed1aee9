// Issue 23 cases 2-4 (no silent wrong answers on the training path): NaN weights never validate as right
// (a NaN logit row is wrong; the loss NaN is reported; exit 3), non-finite weights are refused at load time
// unless --allow_nonfinite, infer/validate name the head they use and refuse a random one unless
// --allow_random_head, --model cannot be silently ignored for a training checkpoint, and a folder holding a
// run is refused unless --resume or --overwrite (a failing start writes nothing, config.yaml included).
// Commands run in-process through main() (exit code and stderr as a user sees them).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { embeddedMnist } from '../../src/data/index.js';
import { CheckpointError, ConfigError } from '../../src/errors.js';
import { encodeSafetensors } from '../../src/models/weights/index.js';
import { readSafetensors } from '../../src/models/weights/node-io.js';
import { countNonFiniteRows, rankOf, topK } from '../../src/train/evaluate.js';
import { train } from '../../src/train/trainer.js';
import { captureConsole } from '../cli/console-capture.js';
import { tinyConfig, tmpRun } from './helpers.js';

const root = tmpRun('silent-wrong');
const runDir = path.join(root, 'run');
const ckpt = path.join(runDir, 'latest.safetensors');
const MODEL = ['--model', 'bit-tiny', '--model_base_width', '8', '--model_gn_groups', '4'];
const SMALL = ['--image_resize', '32', '--backend', 'wasm', '--progress', 'none'];
let png = '';

/** A copy of `src` (a training checkpoint) with tensor `name` poisoned by `v`; `plain` drops the bit_ts metadata. */
function poisoned(src: string, out: string, name: string, v: number, plain = false): string {
  const st = readSafetensors(src);
  const arrays = [...st.weights].map(([n, a]) => {
    const data = Float32Array.from(a.data as Float32Array);
    if (n === name || name === '*') data.fill(v, 0, name === '*' ? data.length : 1);
    return { name: n, shape: a.shape, dtype: 'float32' as const, data };
  });
  fs.writeFileSync(out, encodeSafetensors(arrays, plain ? {} : st.metadata));
  return out;
}

beforeAll(async () => {
  const r = await train(tinyConfig(runDir, { num_classes: 10, stop_after_steps: 2, train_limit: 64 }), {
    log: () => {},
  });
  expect(r.status).toBe('completed');
  const { image } = embeddedMnist({ split: 'test', limit: 1 }).get(0);
  const p = new PNG({ width: image.width, height: image.height });
  for (let i = 0; i < image.width * image.height; i++) {
    for (let c = 0; c < 3; c++) p.data[i * 4 + c] = image.data[i * image.channels];
    p.data[i * 4 + 3] = 255;
  }
  png = path.join(root, 'digit.png');
  fs.writeFileSync(png, PNG.sync.write(p));
}, 120_000);

const io = captureConsole();

describe('case 2: NaN weights never give right answers', () => {
  it('a row holding NaN or Inf ranks its label last (never Top-1/Top-5); topK puts NaN last', () => {
    const row = Float32Array.from([Number.NaN, Number.NaN, Number.NaN]);
    expect(rankOf(row, 0, 3, 1)).toBe(3);
    expect(rankOf(Float32Array.from([0.1, Number.POSITIVE_INFINITY, 0.3]), 0, 3, 1)).toBe(3);
    expect(rankOf(Float32Array.from([0.1, 0.5, 0.3]), 0, 3, 1)).toBe(0);
    expect(countNonFiniteRows(Float32Array.from([0, 1, Number.NaN, 2]), 2, 2)).toBe(1);
    expect(topK(Float32Array.from([Number.NaN, 2, 1]), 3, 0, 3)).toEqual([1, 2, 0]);
  });

  it('an all-NaN checkpoint is refused at load time, naming the tensor; --allow_nonfinite scores 0 and exits 3', async () => {
    const bad = poisoned(ckpt, path.join(root, 'nan.safetensors'), '*', Number.NaN);
    expect(
      await main(['validate', '--ckpt_path', bad, '--dataset', 'mnist', '--val_split', 'test', '--val_limit', '32']),
    ).toBe(1);
    expect(io.err.at(-1)).toMatch(
      /CheckpointError: .*nan\.safetensors: \d+ of \d+ tensors hold non-finite values, first '/,
    );
    expect(io.err.at(-1)).toContain('--allow_nonfinite');
    io.clear();
    const args = [
      'validate',
      '--ckpt_path',
      bad,
      '--dataset',
      'mnist',
      '--val_split',
      'test',
      '--val_limit',
      '32',
      '--allow_nonfinite',
    ];
    expect(await main([...args, '--json'])).toBe(3);
    const j = JSON.parse(io.out.at(-1)!) as Record<string, unknown>;
    expect(j.Top_1_Accuracy).toBe(0);
    expect(j.Top_5_Accuracy).toBe(0);
    expect(j.loss).toBe('NaN');
    expect(j.non_finite).toBe(j.count);
    expect(io.err.join('\n')).toMatch(/warning: .*loaded anyway \(--allow_nonfinite\)/);
    expect(io.err.at(-1)).toMatch(/error: the model's outputs are not finite: 32 of 32 images gave NaN\/Inf logits/);
  }, 60_000);

  it('one NaN in stem.conv.weight is refused; infer with --allow_nonfinite prints no NaN% and exits 3', async () => {
    const bad = poisoned(ckpt, path.join(root, 'stem-nan.safetensors'), 'stem.conv.weight', Number.NaN);
    expect(await main(['infer', '--ckpt_path', bad, png])).toBe(1);
    expect(io.err.at(-1)).toMatch(/'stem\.conv\.weight' \(1 NaN, 0 infinite of 1176 values\)/);
    io.clear();
    const inf = poisoned(ckpt, path.join(root, 'stem-inf.safetensors'), 'stem.conv.weight', Number.POSITIVE_INFINITY);
    expect(await main(['infer', '--ckpt_path', inf, png, '--allow_nonfinite'])).toBe(3);
    expect(io.out.join('\n')).not.toContain('NaN%');
    expect(io.err.at(-1)).toMatch(/error: the model's outputs are not finite \(NaN\/Inf logits\) for 1 of 1 images/);
  }, 60_000);

  it('training or fine-tuning from NaN weights is refused before anything is written', async () => {
    const bad = poisoned(
      ckpt,
      path.join(root, 'plain-nan.safetensors'),
      'stages.0.blocks.0.conv1.weight',
      Number.NaN,
      true,
    );
    const dir = path.join(root, 'from-nan');
    await expect(
      train(tinyConfig(dir, { num_classes: 10, ckpt_path: bad, stop_after_steps: 1 }), { log: () => {} }),
    ).rejects.toThrow(CheckpointError);
    expect(fs.existsSync(dir)).toBe(false);
    const logs: string[] = [];
    const r = await train(
      tinyConfig(dir, { num_classes: 10, ckpt_path: bad, stop_after_steps: 1, allow_nonfinite: true }),
      { log: (m) => logs.push(m) },
    );
    expect(logs.join('\n')).toMatch(/warning: .*stages\.0\.blocks\.0\.conv1\.weight.*loaded anyway/);
    expect(r.status).toBe('nan'); // the NaN reaches the loss, which stops the run before the update
  }, 60_000);
});

describe('case 3: infer/validate name their head and refuse a random one', () => {
  it('plain weights with another class count: refused (exit 1) unless --allow_random_head; the head is named', async () => {
    const plain = poisoned(ckpt, path.join(root, 'plain.safetensors'), 'none', 0, true);
    const base = ['infer', '--ckpt_path', plain, ...MODEL, ...SMALL, png];
    expect(await main([...base, '--num_classes', '7'])).toBe(1);
    expect(io.err.at(-1)).toMatch(
      /head has 10 classes, the model 7: predictions would come from a randomly initialized head/,
    );
    expect(io.err.at(-1)).toContain('--allow_random_head');
    io.clear();
    expect(await main([...base, '--num_classes', '7', '--allow_random_head'])).toBe(0);
    expect(io.err.join('\n')).toContain('head: file has 10 classes, model 7: RANDOM init');
    io.clear();
    expect(await main([...base, '--num_classes', '10'])).toBe(0);
    expect(io.err.join('\n')).toContain('head: from the file (10 classes)');
  }, 60_000);

  it('--model or --num_classes that differ from a training checkpoint are an error, not ignored', async () => {
    expect(await main(['validate', '--ckpt_path', ckpt, '--dataset', 'mnist', '--model', 'BiT-R50x1'])).toBe(2);
    expect(io.err.at(-1)).toMatch(
      /ConfigError: .*training checkpoint of bit-tiny with 10 classes.*model BiT-R50x1 would be ignored/,
    );
    expect(await main(['infer', '--ckpt_path', ckpt, '--num_classes', '3', png])).toBe(2);
    expect(io.err.at(-1)).toMatch(/num_classes 3 would be ignored/);
    io.clear();
    expect(await main(['infer', '--ckpt_path', ckpt, '--model', 'bit-tiny', png])).toBe(0);
    expect(io.err.join('\n')).toContain('head: from the checkpoint (10 classes)');
  }, 60_000);
});

describe('case 4: a folder holding a run is never replaced by accident', () => {
  it('the same train command again is refused and leaves latest and metrics as they were; --overwrite starts over', async () => {
    const dir = path.join(root, 'rerun');
    const cfg = tinyConfig(dir, { num_classes: 10, stop_after_steps: 3, train_limit: 64 });
    await train(cfg, { log: () => {}, shouldStop: (s) => s === 2 });
    const latest = fs.readFileSync(path.join(dir, 'latest.safetensors'));
    const metrics = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8');
    const config = fs.readFileSync(path.join(dir, 'config.yaml'), 'utf8');
    const e = await train({ ...cfg, lr: 0.01 }, { log: () => {} }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toMatch(
      /already holds a run \(latest\.safetensors, metrics\.jsonl \(step 2\)\): continue it with --resume/,
    );
    expect(fs.readFileSync(path.join(dir, 'latest.safetensors')).equals(latest)).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')).toBe(metrics);
    expect(fs.readFileSync(path.join(dir, 'config.yaml'), 'utf8')).toBe(config);
    const again = await train({ ...cfg, stop_after_steps: 1 }, { log: () => {}, overwrite: true });
    expect(again.steps).toBe(1);
    expect(fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(1);
  }, 60_000);

  it('the CLI says so (exit 2), and a start that fails on its data writes no config.yaml', async () => {
    const dir = path.join(root, 'cli-run');
    const args = ['train', '--dataset', 'mnist', ...MODEL, ...SMALL, '--stop_after_steps', '1', '--train_limit', '32'];
    expect(await main([...args, '--val_split', '0', '--ckpt_save_dir', dir])).toBe(0);
    const before = fs.readFileSync(path.join(dir, 'config.yaml'), 'utf8');
    expect(await main([...args, '--val_split', '0', '--ckpt_save_dir', dir])).toBe(2);
    expect(io.err.at(-1)).toContain('--overwrite');
    const empty = path.join(root, 'empty-run');
    fs.mkdirSync(empty);
    const missing = ['train', '--data_dir', path.join(root, 'no-such-data'), ...MODEL, ...SMALL];
    expect(await main([...missing, '--ckpt_save_dir', empty])).not.toBe(0);
    expect(fs.readdirSync(empty)).toEqual([]);
    expect(await main([...missing, '--ckpt_save_dir', path.join(dir, 'sub')])).not.toBe(0);
    expect(fs.existsSync(path.join(dir, 'sub'))).toBe(false);
    expect(fs.readFileSync(path.join(dir, 'config.yaml'), 'utf8')).toBe(before);
  }, 60_000);
});

describe('case 10: the counts printed are the counts run', () => {
  it('the progress counts to stop_after_steps (the demo said 300 steps while its bar counted to 468)', async () => {
    const dir = path.join(root, 'progress');
    const cfg = tinyConfig(dir, { train_limit: 64, stop_after_steps: 2, progress: 'plain', log_interval: 1 });
    const r = await train(cfg, { log: () => {} });
    expect(r.steps).toBe(2);
    const lines = io.out.filter((l) => /^train step \d+\/\d+/.test(l));
    expect(lines.map((l) => /step (\d+\/\d+)/.exec(l)![1])).toEqual(['1/2', '2/2']);
  }, 60_000);
});
