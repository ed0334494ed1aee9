// Issue 15 cases 1, 5 and 8 (validate's data source): validate/infer report the real loading error (missing
// file, directory, corrupt checkpoint), convert refuses to write a partial output unless --allow_partial, and
// validate without a data source is an error instead of silently scoring on the built-in MNIST. The commands
// run in-process through main() (exit code and stderr as a user sees them).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { encodeSafetensors } from '../../src/models/weights/index.js';
import { tinyWeights } from '../models/weights/helpers.js';

let dir = '';
let err: string[] = [];
let out: string[] = [];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bit-ts-honest-'));
  err = [];
  out = [];
  vi.spyOn(console, 'error').mockImplementation((m: unknown) => void err.push(String(m)));
  vi.spyOn(console, 'log').mockImplementation((m: unknown) => void out.push(String(m)));
});
afterEach(() => {
  vi.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A timm-named tiny state dict; `rename` swaps one tensor's name as a bit flip would. */
function weightsFile(name: string, rename?: [string, string]): string {
  const w = [...tinyWeights().values()].map((a) => (rename && a.name === rename[0] ? { ...a, name: rename[1] } : a));
  const f = path.join(dir, name);
  fs.writeFileSync(f, encodeSafetensors(w));
  return f;
}

describe('validate / infer report the real loading error (case 1)', () => {
  for (const cmd of ['validate', 'infer']) {
    it(`${cmd}: missing file, directory, corrupt checkpoint`, async () => {
      const extra = cmd === 'infer' ? ['x.png'] : ['--data_dir', dir];
      const missing = path.join(dir, 'nope.safetensors');
      expect(await main([cmd, '--ckpt_path', missing, ...extra])).toBe(1);
      expect(err.at(-1)).toMatch(/CheckpointError: .*nope\.safetensors: cannot read file: no such file/);
      expect(await main([cmd, '--ckpt_path', dir, ...extra])).toBe(1);
      expect(err.at(-1)).toContain('is a directory');
      const good = fs.readFileSync(weightsFile('w.safetensors'));
      const corrupt = path.join(dir, 'corrupt.safetensors');
      fs.writeFileSync(corrupt, good.subarray(0, good.length - 100)); // truncated
      expect(await main([cmd, '--ckpt_path', corrupt, ...extra])).toBe(1);
      expect(err.at(-1)).toMatch(/corrupt\.safetensors: .*(data block|tensors cover)/);
      for (const e of err) expect(e).not.toContain('is not a bit-ts training checkpoint');
    });
  }
});

describe('convert fails instead of writing a partial file (case 5)', () => {
  it('an unmappable entry is named, nothing is written, exit 1; --allow_partial writes the rest', async () => {
    const f = weightsFile('flip.safetensors', ['stages.1.blocks.0.conv2.weight', 'stages.1.blocks.0.cnv2.weight']);
    const o = path.join(dir, 'out.npz');
    expect(await main(['convert', f, o])).toBe(1);
    expect(err.at(-1)).toMatch(
      /CheckpointError: .*1 model entry cannot be mapped .*'stages\.1\.blocks\.0\.cnv2\.weight'/,
    );
    expect(fs.existsSync(o)).toBe(false);
    expect(await main(['convert', f, o, '--allow_partial'])).toBe(0);
    expect(fs.existsSync(o)).toBe(true);
    expect(out.join('\n')).toContain('stages.1.blocks.0.cnv2.weight');
    // a complete file converts without the flag
    expect(await main(['convert', weightsFile('ok.safetensors'), path.join(dir, 'ok.ckpt')])).toBe(0);
  });
});

describe('validate needs a data source (case 8)', () => {
  it('--model X without --data_dir or --dataset is a ConfigError (exit 2)', async () => {
    const f = weightsFile('w.safetensors');
    expect(await main(['validate', '--model', 'bit-tiny', '--ckpt_path', f])).toBe(2);
    expect(err.at(-1)).toMatch(/ConfigError: validate: no data source: give --data_dir DIR \(or --dataset mnist/);
    const cfg = path.join(dir, 'c.yaml');
    fs.writeFileSync(cfg, 'model: bit-tiny\n');
    expect(await main(['validate', '-c', cfg, '--ckpt_path', f])).toBe(2);
    expect(err.at(-1)).toContain('c.yaml names neither data_dir nor dataset');
  });
});
