// The transfer-side commands as child processes on embedded MNIST with the tiniest model: a short upstream
// `train` on digits 0-4, then `finetune` (HyperRule, few-shot, zero head) from its checkpoint on digits 5-9,
// `fewshot` over two k and two seeds, `infer` on PNG files written here, and `convert` through every format
// (safetensors -> npz -> ckpt -> safetensors keeps every model tensor bit for bit).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { embeddedMnist } from '../../src/data/index.js';
import { loadWeightsFile } from '../../src/models/weights/node-io.js';

const ROOT = path.join(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/bit-ts.js');
const MODEL = ['--model', 'bit-tiny', '--model_base_width', '8', '--model_gn_groups', '4'];

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bit-ts-transfer-'));
const upstream = path.join(dir, 'up', 'latest.safetensors');

beforeAll(() => {
  const t = cli([
    'train',
    '--dataset',
    'mnist',
    ...MODEL,
    '--mnist_digits',
    '0,1,2,3,4',
    '--num_classes',
    '5',
    '--image_resize',
    '32',
    '--augment',
    'plain',
    '--max_steps',
    '10',
    '--batch_size',
    '16',
    '--train_limit',
    '300',
    '--val_split',
    '0',
    '--plots',
    'false',
    '--ckpt_save_dir',
    path.join(dir, 'up'),
  ]);
  expect(t.code, t.err).toBe(0);
});

describe('transfer commands', () => {
  it('finetune applies the HyperRule, loads the upstream body, zero-inits the head and trains', () => {
    const out = path.join(dir, 'ft');
    const r = cli([
      'finetune',
      ...MODEL,
      '--weights',
      upstream,
      '--dataset',
      'mnist',
      '--mnist_digits',
      '5,6,7,8,9',
      '--examples_per_class',
      '5',
      '--seed',
      '0',
      '--scale',
      '0.02',
      '--crop',
      '32',
      '--batch_size',
      '16',
      '--lr',
      '0.01',
      '--val_limit',
      '100',
      '--plots',
      'false',
      '--ckpt_save_dir',
      out,
    ]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/5-shot \(seed 0\)/);
    expect(r.out).toMatch(/hyperrule N=25/);
    expect(r.out).toMatch(/head: zero-initialized/);
    expect(r.out).toMatch(/Top_1_Accuracy/);
    expect(fs.existsSync(path.join(out, 'latest.safetensors'))).toBe(true);
  });

  it('fewshot reports median and range per k over seeds', () => {
    const out = path.join(dir, 'fs');
    const r = cli([
      'fewshot',
      ...MODEL,
      '--weights',
      upstream,
      '--dataset',
      'mnist',
      '--mnist_digits',
      '5,6,7,8,9',
      '--shots',
      '1,2',
      '--seeds',
      '2',
      '--scale',
      '0.02',
      '--crop',
      '32',
      '--batch_size',
      '8',
      '--val_limit',
      '50',
      '--plots',
      'false',
      '--ckpt_save_dir',
      out,
    ]);
    expect(r.code, r.err).toBe(0);
    const res = JSON.parse(fs.readFileSync(path.join(out, 'fewshot.json'), 'utf8')) as {
      summary: { k: number; median: number; min: number; max: number; seeds: number }[];
      results: { k: number; seed: number; top1: number }[];
    };
    expect(res.results).toHaveLength(4);
    expect(res.summary.map((q) => [q.k, q.seeds])).toEqual([
      [1, 2],
      [2, 2],
    ]);
    for (const q of res.summary) {
      const v = res.results.filter((x) => x.k === q.k).map((x) => x.top1);
      expect(q.min).toBe(Math.min(...v));
      expect(q.max).toBe(Math.max(...v));
      expect(q.median).toBeCloseTo((v[0] + v[1]) / 2, 10);
    }
    expect(r.out).toMatch(/^1\s+\d+\.\d+\s+\d+\.\d+\s+\d+\.\d+\s+2$/m);
    expect(r.out).toMatch(/^2\s+\d+\.\d+\s+\d+\.\d+\s+\d+\.\d+\s+2$/m);
  });

  it('infer prints top-5 labels per image', () => {
    const ds = embeddedMnist({ split: 'test', digits: [0, 1, 2, 3, 4], limit: 2 });
    const files = [0, 1].map((i) => {
      const { image } = ds.get(i);
      const png = new PNG({ width: image.width, height: image.height });
      for (let p = 0; p < image.width * image.height; p++) {
        for (let c = 0; c < 3; c++)
          png.data[p * 4 + c] = image.data[p * image.channels + (image.channels === 3 ? c : 0)];
        png.data[p * 4 + 3] = 255;
      }
      const f = path.join(dir, `digit${i}.png`);
      fs.writeFileSync(f, PNG.sync.write(png));
      return f;
    });
    const r = cli(['infer', '--ckpt_path', upstream, ...files]);
    expect(r.code, r.err).toBe(0);
    for (const f of files) expect(r.out).toContain(f);
    expect(r.out.match(/\d+\.\d+%/g)?.length).toBe(10);
  });

  it('convert: safetensors -> npz -> ckpt -> safetensors keeps every model tensor exactly', () => {
    const npz = path.join(dir, 'w.npz');
    const ckpt = path.join(dir, 'w.ckpt');
    const back = path.join(dir, 'w.safetensors');
    for (const [a, b] of [
      [upstream, npz],
      [npz, ckpt],
      [ckpt, back],
    ]) {
      const r = cli(['convert', a, b]);
      expect(r.code, r.err).toBe(0);
    }
    const orig = loadWeightsFile(upstream).weights;
    const round = loadWeightsFile(back).weights;
    const modelNames = [...orig.keys()].filter((n) => !n.startsWith('optimizer'));
    expect(modelNames.length).toBeGreaterThan(20);
    for (const n of modelNames) {
      expect(round.get(n)?.shape, n).toEqual(orig.get(n)!.shape);
      expect(Array.from(round.get(n)!.data as Float32Array), n).toEqual(Array.from(orig.get(n)!.data as Float32Array));
    }
  });
});
