// The bit-ts command as a child process: models/backends output, unknown-key error with suggestion, a tiny
// train run followed by validate (text and JSON), and Ctrl-C (SIGINT -> exit 130 with a valid checkpoint).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint } from '../../src/train/checkpoint.js';

const ROOT = path.join(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin/bit-ts.js');
const TINY = ['--dataset', 'mnist', '--model', 'bit-tiny', '--model_base_width', '8', '--model_gn_groups', '4'];
const TINY2 = [...TINY, '--mnist_digits', '0,1', '--num_classes', '2', '--image_resize', '32', '--augment', 'plain'];

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function tmp(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `bit-ts-cli-${name}-`));
}

describe('bit-ts CLI', () => {
  it('models lists names, parameters and GFLOPs', () => {
    const r = cli(['models']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/BiT-R50x1\s+25,549,352\s+23,500,352\s+8\.46/);
    expect(r.out).toContain('bit-tiny');
  });

  it('backends reports what is available and why not', () => {
    const r = cli(['backends', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out) as {
      default: string;
      backends: { name: string; available: boolean; reason: string }[];
    };
    expect(j.backends.find((b) => b.name === 'reference')?.available).toBe(true);
    expect(j.backends.find((b) => b.name === 'wasm')?.available).toBe(true);
    for (const b of j.backends) expect(b.reason.length).toBeGreaterThan(0);
  });

  it('an unknown key is a ConfigError naming the closest key', () => {
    const dir = tmp('cfg');
    fs.writeFileSync(path.join(dir, 'c.yaml'), 'model: bit-tiny\nlearning_rat: 0.1\n');
    const r = cli(['train', '-c', path.join(dir, 'c.yaml')]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/ConfigError: .*unknown key 'learning_rat'; did you mean/);
    const f = cli(['train', '--epochs_size', '3']);
    expect(f.code).toBe(2);
    expect(f.err).toContain('train: unknown option --epochs_size; did you mean --epoch_size?');
  });

  it('train then validate prints Top_1_Accuracy, Top_5_Accuracy and loss', () => {
    const dir = tmp('tv');
    const t = cli([
      'train',
      ...TINY2,
      '--max_steps',
      '12',
      '--batch_size',
      '16',
      '--train_limit',
      '400',
      '--val_split',
      '0.2',
      '--val_limit',
      '100',
      '--lr',
      '0.05',
      '--scheduler',
      'constant',
      '--warmup_epochs',
      '0',
      '--plots',
      'false',
      '--ckpt_save_dir',
      dir,
    ]);
    expect(t.code, t.err).toBe(0);
    expect(fs.existsSync(path.join(dir, 'config.yaml'))).toBe(true);
    const ck = path.join(dir, 'latest.safetensors');
    const v = cli(['validate', '--ckpt_path', ck]);
    expect(v.code, v.err).toBe(0);
    expect(v.out).toMatch(/Top_1_Accuracy: 0\.\d{4}|Top_1_Accuracy: 1\.0000/);
    expect(v.out).toMatch(/Top_5_Accuracy: /);
    expect(v.out).toMatch(/loss: \d/);
    const j = cli(['validate', '-c', path.join(dir, 'config.yaml'), '--ckpt_path', ck, '--json']);
    const m = JSON.parse(j.out) as Record<string, number>;
    expect(Object.keys(m)).toEqual(expect.arrayContaining(['Top_1_Accuracy', 'Top_5_Accuracy', 'loss']));
    expect(m.Top_1_Accuracy).toBeGreaterThan(0.6);
  });

  it('Ctrl-C finishes the step, writes a checkpoint and exits 130', async () => {
    const dir = tmp('sigint');
    const child: ChildProcess = spawn(
      process.execPath,
      [
        BIN,
        'train',
        ...TINY2,
        '--max_steps',
        '100000',
        '--epoch_size',
        '1000',
        '--batch_size',
        '8',
        '--train_limit',
        '200',
        '--val_split',
        '0',
        '--progress',
        'plain',
        '--log_interval',
        '1',
        '--ckpt_save_interval',
        '100000',
        '--ckpt_save_dir',
        dir,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const code = await new Promise<number | null>((resolve) => {
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (/step 3\//.test(out) && !child.killed) child.kill('SIGINT');
      });
      child.on('exit', (c) => resolve(c));
    });
    expect(code, out).toBe(130);
    expect(out).toMatch(/interrupted after step \d+/);
    const ck = loadCheckpoint(path.join(dir, 'latest.safetensors'));
    expect(ck.meta.reason).toBe('interrupt');
    expect(ck.meta.step).toBeGreaterThanOrEqual(3);
  });
});
