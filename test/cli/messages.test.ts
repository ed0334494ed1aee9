// Issue 23 cases 9 and 10 (messages that must be true): `train --resume` on an npz says what the file is and
// what to use instead (it printed "header length 576460838270094160 ..."); a tar holding its class folders at
// the top says that `--train_split .` reads them; a ckpt_save_dir that is a file is one ConfigError (was a raw
// EEXIST trace); class names equal up to Unicode normalization are the same class, and names that still differ
// print their code points; with no Vulkan driver (ICD) installed the WebGPU probe says so, without loading Dawn,
// so Dawn's "vkCreateInstance: Found no drivers!" no longer prints on every command.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkClasses } from '../../src/cli/validate.js';
import { ImageFolder } from '../../src/data/index.js';
import { CheckpointError, ConfigError, DataError } from '../../src/errors.js';
import { encodeNpz } from '../../src/models/weights/index.js';
import { vulkanDriverFiles } from '../../src/tensor/backends/gpujs/webgpu-node.js';
import { resumeConfig } from '../../src/train/resume.js';
import { train } from '../../src/train/trainer.js';
import { encodePng, haveTar, makeTar, solidRgba, tmpDir } from '../data/helpers.js';
import { tinyConfig } from '../train/helpers.js';

const dir = tmpDir('messages');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const ROOT = path.join(import.meta.dirname, '../..');

describe('messages that say what is wrong (cases 9, 10)', () => {
  it('--resume on an npz names the format and what to use', () => {
    const npz = path.join(dir, 'w.npz');
    fs.writeFileSync(npz, encodeNpz([{ name: 'a', shape: [2], dtype: 'float32', data: Float32Array.from([1, 2]) }]));
    const e = (() => {
      try {
        resumeConfig(npz, null, {});
      } catch (x) {
        return x as Error;
      }
      return null;
    })();
    expect(e).toBeInstanceOf(CheckpointError);
    expect(e!.message).toContain('w.npz is an npz weight file: a bit-ts training checkpoint');
    expect(e!.message).toContain('--ckpt_path FILE');
    expect(e!.message).not.toMatch(/header length/);
  });

  it.skipIf(!haveTar())('a tar with class folders at its top suggests --train_split .', () => {
    const src = path.join(dir, 'flat');
    for (const c of ['cat', 'dog']) {
      fs.mkdirSync(path.join(src, c), { recursive: true });
      fs.writeFileSync(path.join(src, c, 'a.png'), encodePng(solidRgba(2, 2, [9, 9, 9, 255]), 2, 2));
    }
    const tar = path.join(dir, 'flat.tar');
    makeTar(tar, src, ['cat', 'dog']);
    expect(() => ImageFolder.open(tar, { prefix: 'train/' })).toThrow(DataError);
    expect(() => ImageFolder.open(tar, { prefix: 'train/' })).toThrow(
      /no class folders under prefix 'train\/'.*top level holds image folders \(cat, dog\).*--train_split \./,
    );
    expect(ImageFolder.open(tar, { prefix: './' }).classes).toEqual(['cat', 'dog']);
  });

  it('a ckpt_save_dir that is a file is a ConfigError, not an EEXIST trace', async () => {
    const file = path.join(dir, 'not-a-folder');
    fs.writeFileSync(file, 'x');
    const e = await train(tinyConfig(file, { stop_after_steps: 1 }), { log: () => {} }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).message).toBe(
      `ckpt_save_dir ${file} is a file (or lies under one), not a folder: choose a folder for the run`,
    );
    expect(fs.readFileSync(file, 'utf8')).toBe('x');
  });

  it('class names equal up to Unicode normalization are one class; others print their code points', () => {
    const nfd = 'cafe\u0301';
    const nfc = 'caf\u00e9';
    expect(() => checkClasses('data', [nfd, 'tea'], [nfc, 'tea'], 2)).not.toThrow();
    let msg = '';
    try {
      checkClasses('data', [nfd, 'tee'], [nfc, 'tea'], 2);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toContain('not in the data: tea; not in the checkpoint: tee');
    try {
      checkClasses('data', ['cafe', 'tea'], [nfc, 'tea'], 2);
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toContain(`not in the data: ${nfc} (caf\\u{e9}); not in the checkpoint: cafe`);
  });

  it('Vulkan drivers are looked up where the loader looks', () => {
    const icd = path.join(dir, 'xdg', 'vulkan', 'icd.d');
    fs.mkdirSync(icd, { recursive: true });
    const empty = path.join(dir, 'empty');
    fs.mkdirSync(empty, { recursive: true });
    const base = { XDG_CONFIG_DIRS: empty, XDG_DATA_DIRS: empty, HOME: empty };
    const etc = vulkanDriverFiles(base, 'linux')!; // only /etc/vulkan/icd.d is left
    fs.writeFileSync(path.join(icd, 'x.json'), '{}');
    expect(vulkanDriverFiles({ ...base, XDG_DATA_DIRS: path.join(dir, 'xdg') }, 'linux')).toEqual([
      ...etc,
      path.join(icd, 'x.json'),
    ]);
    expect(vulkanDriverFiles({ ...base, VK_ICD_FILENAMES: path.join(dir, 'none.json') }, 'linux')).toEqual([]);
    expect(vulkanDriverFiles({ VK_ICD_FILENAMES: path.join(icd, 'x.json') }, 'linux')).toEqual([
      path.join(icd, 'x.json'),
    ]);
    expect(vulkanDriverFiles({}, 'darwin')).toBeNull();
  });

  const etcDrivers =
    fs.existsSync('/etc/vulkan/icd.d') && fs.readdirSync('/etc/vulkan/icd.d').some((f) => f.endsWith('.json'));
  if (etcDrivers) console.warn('[skip] quiet WebGPU probe: /etc/vulkan/icd.d holds a Vulkan driver on this machine');
  it.skipIf(etcDrivers)(
    'with no Vulkan driver, bit-ts backends says so and Dawn prints nothing',
    () => {
      const empty = path.join(dir, 'empty2');
      fs.mkdirSync(empty, { recursive: true });
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        XDG_CONFIG_DIRS: empty,
        XDG_DATA_DIRS: empty,
        HOME: empty,
        BIT_REQUIRE_WEBGPU: '',
      };
      delete env.VK_ICD_FILENAMES;
      delete env.VK_DRIVER_FILES;
      delete env.VK_ADD_DRIVER_FILES;
      const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/bit-ts.js'), 'backends'], {
        cwd: ROOT,
        env,
        encoding: 'utf8',
        timeout: 120_000,
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/gpujs-webgpu +no +.*no Vulkan driver: no ICD manifest/);
      expect(r.stdout).not.toContain('libvulkan.so.1 or a GPU driver is missing');
      expect(r.stderr).not.toMatch(/vkCreateInstance|VulkanError/);
    },
    120_000,
  );
});
