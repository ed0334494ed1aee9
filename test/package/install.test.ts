/**
 * bit-ts installs like a real npm package (issue 26). A staged copy of the working tree (the files git would clone,
 * the repository's node_modules linked in) is packed with `npm pack`, which runs `prepack` (the build into the
 * stage's dist/, never the repository's, which other tests may be running from). The tarball is checked by publint,
 * @arethetypeswrong/cli and `npm publish --dry-run`, then installed into an empty project with `npm ci --offline`
 * from the npm cache (lockfile derived from the repository's: ./consumer-lock.ts). There, with no tsx and no
 * devDependency of bit-ts installed: `npx bit-ts --help`, `models`, a 3-step `train -c` on a bundled preset, a plain
 * JavaScript consumer that trains one step (./consumer/train-one-step.mjs), `tsc --noEmit` on typed consumers under
 * node16, nodenext, bundler and bundler + browser resolution, and an esbuild browser bundle of a wasm consumer.
 */

import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOL } from '../tolerances.js';
import { consumerLock } from './consumer-lock.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CONSUMER_FILES = path.join(import.meta.dirname, 'consumer');
/** The consumer's own tools, installed at the repository's locked versions. */
const DEV_TOOLS = ['typescript', '@types/node', 'esbuild'];
const MAX_TARBALL_BYTES = 3 * 2 ** 20;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The environment for child npm/node processes: without the npm_* variables of an enclosing `npm test` (its
 * npm_config_local_prefix would point npm at the repository instead of the stage or the consumer), keeping only
 * the cache and registry settings.
 */
function childEnv(): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig']);
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) || keep.has(k.toLowerCase())) env[k] = v;
  return { ...env, CI: 'true', NO_COLOR: '1' };
}

/** Runs a command to its end; never throws (the exit code is the caller's to check). */
function run(cmd: string, args: string[], cwd: string, timeoutMs = 240_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd, env: childEnv(), timeout: timeoutMs, maxBuffer: 64 * 2 ** 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({
          code,
          stdout: String(stdout),
          stderr: String(stderr) + (err && code !== 0 ? `\n${err.message}` : ''),
        });
      },
    );
  });
}

/** A failed run's output, for the assertion message. */
const show = (r: Run) => `exit ${r.code}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}`;

/** Copies the files a clone would have (tracked, plus untracked not ignored) into `stage`. */
async function stageWorkingTree(stage: string): Promise<void> {
  const ls = await run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], ROOT);
  if (ls.code !== 0) throw new Error(`git ls-files failed (the install test stages a git working tree)\n${show(ls)}`);
  for (const rel of ls.stdout.split('\0').filter(Boolean)) {
    const from = path.join(ROOT, rel);
    if (!fs.existsSync(from)) continue; // deleted in the working tree
    fs.mkdirSync(path.dirname(path.join(stage, rel)), { recursive: true });
    fs.copyFileSync(from, path.join(stage, rel));
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(stage, 'node_modules'), 'dir');
}

interface PackResult {
  filename: string;
  size: number;
  entryCount: number;
  files: { path: string }[];
}

let tmp = '';
let consumer = '';
let tarball = '';
let pack: PackResult;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bit-ts-install-'));
  const stage = path.join(tmp, 'stage');
  await stageWorkingTree(stage);
  // the repository's .npmrc sets ignore-scripts (for dependencies), which also skips prepack unless overridden
  const packed = await run('npm', ['pack', '--ignore-scripts=false', '--json', '--pack-destination', tmp], stage);
  if (packed.code !== 0) throw new Error(`npm pack failed\n${show(packed)}`);
  pack = (JSON.parse(packed.stdout) as PackResult[])[0]!;
  tarball = path.join(tmp, pack.filename);
  console.log(
    `tarball ${pack.filename}: ${(pack.size / 2 ** 20).toFixed(2)} MiB, ${pack.entryCount} files; ` +
      `${fs.readdirSync(path.join(stage, 'dist')).join(', ')} built in the stage by prepack`,
  );

  consumer = path.join(tmp, 'consumer');
  fs.mkdirSync(consumer);
  fs.copyFileSync(tarball, path.join(consumer, pack.filename));
  const { manifest, lock } = consumerLock(path.join(ROOT, 'package-lock.json'), tarball, pack.filename, DEV_TOOLS);
  fs.writeFileSync(path.join(consumer, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  fs.writeFileSync(path.join(consumer, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`);
  for (const f of fs.readdirSync(CONSUMER_FILES)) fs.copyFileSync(path.join(CONSUMER_FILES, f), path.join(consumer, f));
  const installed = await run('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], consumer);
  if (installed.code !== 0) throw new Error(`npm ci --offline in the consumer failed\n${show(installed)}`);
}, 480_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('is small and ships dist, declarations, bin, configs, README and LICENSE, no tests or checkpoints', () => {
    expect(pack.size).toBeLessThan(MAX_TARBALL_BYTES);
    const files = pack.files.map((f) => f.path);
    for (const f of ['LICENSE', 'README.md', 'package.json', 'bin/bit-ts.js', 'configs/cpu-mnist-tiny.yaml']) {
      expect(files, f).toContain(f);
    }
    expect(files).toContain('dist/src/cli/main.js');
    expect(files).toContain('dist/src/data/loader-worker.js');
    expect(files).toContain('dist/src/tensor/backends/wasm/host-node.js');
    expect(files).toContain('dist/src/tensor/backends/wasm/host-browser.js');
    // the PyTorch side of `bit-ts export-torch` (issue 22), copied into each export folder
    expect(files).toContain('interop/torch/bit_torch/train.py');
    expect(files.filter((f) => f.includes('__pycache__'))).toEqual([]);
    const outside = files.filter(
      (f) => !/^(dist|bin|configs|interop\/torch)\//.test(f) && !/^(LICENSE|README\.md|package\.json)$/.test(f),
    );
    expect(outside).toEqual([]);
    expect(
      files.filter((f) => /\.(safetensors|npz|ckpt|tsbuildinfo)$/.test(f) || /^dist\/(test|bench)\//.test(f)),
    ).toEqual([]);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('has a file for every export target and condition, declarations included', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { exports: unknown };
    const targets: string[] = [];
    const walk = (t: unknown) => {
      if (typeof t === 'string') targets.push(t.replace(/^\.\//, ''));
      else if (t && typeof t === 'object') for (const v of Object.values(t)) walk(v);
    };
    walk(pkg.exports);
    expect(targets.filter((t) => t.endsWith('.d.ts')).length).toBeGreaterThanOrEqual(6);
    const files = new Set(pack.files.map((f) => f.path));
    expect(targets.filter((t) => !files.has(t))).toEqual([]);
  });

  it('passes publint with no errors or warnings', async () => {
    const r = await run('npx', ['--no', '--', 'publint', 'run', tarball, '--strict'], ROOT);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).not.toMatch(/Errors:|Warnings:/);
  });

  it('passes @arethetypeswrong/cli (ESM-only profile: node16 from ESM, bundler)', async () => {
    // esm-only: the package is ESM, so node10 and node16-from-CJS are not rated (Node >= 20.19 require()s every
    // entry but bit-ts/data, whose JPEG decoder initializes with a top-level await)
    const r = await run('npx', ['--no', '--', 'attw', tarball, '--profile', 'esm-only', '--format', 'json'], ROOT);
    expect(r.code, show(r)).toBe(0);
    const { analysis } = JSON.parse(r.stdout) as {
      analysis: { entrypoints: Record<string, unknown>; problems: { kind: string; resolutionKind?: string }[] };
    };
    expect(Object.keys(analysis.entrypoints)).toEqual([
      '.',
      './nn',
      './models',
      './models/node',
      './data',
      './package.json',
    ]);
    const rated = analysis.problems.filter(
      (p) => !p.resolutionKind || ['node16-esm', 'bundler'].includes(p.resolutionKind),
    );
    expect(rated).toEqual([]);
  });

  it('passes npm publish --dry-run with no warning about the package', async () => {
    const r = await run('npm', ['publish', '--dry-run', '--offline', tarball], tmp);
    expect(r.code, show(r)).toBe(0);
    const warnings = `${r.stdout}\n${r.stderr}`
      .split('\n')
      .filter((l) => /npm warn/i.test(l) && !/requires you to be logged in/.test(l));
    expect(warnings).toEqual([]);
  });
});

describe('installed into an empty project', () => {
  it('has no tsx, and no devDependency of bit-ts that its runtime dependencies do not bring', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    const runtime = consumerLock(path.join(ROOT, 'package-lock.json'), tarball, pack.filename, []).lock.packages;
    const present = Object.keys(pkg.devDependencies).filter(
      (d) => !DEV_TOOLS.includes(d) && fs.existsSync(path.join(consumer, 'node_modules', d)),
    );
    expect(present.filter((d) => !runtime[`node_modules/${d}`])).toEqual([]);
    expect(fs.existsSync(path.join(consumer, 'node_modules', 'tsx'))).toBe(false);
  });

  it('npx bit-ts --help lists the commands', async () => {
    const r = await run('npx', ['--no', '--', 'bit-ts', '--help'], consumer);
    expect(r.code, show(r)).toBe(0);
    for (const c of ['train', 'finetune', 'fewshot', 'validate', 'infer', 'models', 'convert', 'backends']) {
      expect(r.stdout).toContain(`bit-ts ${c}`);
    }
  });

  it('npx bit-ts models prints the zoo', async () => {
    const r = await run('npx', ['--no', '--', 'bit-ts', 'models'], consumer);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/BiT-R50x1\s+25,549,352\s+23,500,352/);
    expect(r.stdout).toContain('bit-tiny');
  });

  it('npx bit-ts train -c on the bundled CPU preset runs 3 steps with a loader worker and checkpoints', async () => {
    const cfg = path.join('node_modules', 'bit-ts', 'configs', 'cpu-mnist-tiny.yaml');
    const cut = ['--max_steps', '3', '--train_limit', '96', '--val_limit', '64', '--num_parallel_workers', '1'];
    const r = await run(
      'npx',
      ['--no', '--', 'bit-ts', 'train', '-c', cfg, ...cut, '--ckpt_save_dir', 'runs/t'],
      consumer,
    );
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('finished 3 steps');
    const metrics = fs
      .readFileSync(path.join(consumer, 'runs/t/metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; step: number; loss: number });
    const train = metrics.filter((m) => m.type === 'train');
    expect(train.map((m) => m.step)).toEqual([1, 2, 3]);
    expect(train.every((m) => Number.isFinite(m.loss) && m.loss > 0)).toBe(true);
    expect(fs.statSync(path.join(consumer, 'runs/t/latest.safetensors')).size).toBeGreaterThan(100_000);
  });

  it('a JavaScript consumer imports every entry and trains one step (zero head: loss ln 10, then lower)', async () => {
    const r = await run('node', ['train-one-step.mjs'], consumer);
    expect(r.code, show(r)).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      backend: string;
      shape: number[];
      labels: number[];
      before: number;
      after: number;
    };
    console.log(`consumer: ${JSON.stringify(out)}`);
    expect(out.backend).toBe('wasm');
    expect(out.shape).toEqual([8, 3, 32, 32]);
    expect(out.labels).toEqual([5, 0, 4, 1, 9, 2, 1, 3]); // the first 8 MNIST training digits
    expect(Math.abs(out.before - Math.log(10))).toBeLessThanOrEqual(
      TOL.elementwise.atol + TOL.elementwise.rtol * Math.log(10),
    );
    expect(out.after).toBeLessThan(out.before);
  });

  it('typed consumers pass tsc --noEmit under node16, nodenext, bundler and bundler + browser condition', async () => {
    const tsc = path.join('node_modules', 'typescript', 'bin', 'tsc');
    const configs = ['node16', 'nodenext', 'bundler', 'browser'];
    const runs = await Promise.all(configs.map((c) => run('node', [tsc, '-p', `tsconfig.${c}.json`], consumer)));
    const failed = runs.map((r, i) => (r.code === 0 ? '' : `${configs[i]}: ${show(r)}`)).filter(Boolean);
    expect(failed).toEqual([]);
  }, 300_000);

  it('esbuild bundles a wasm consumer for browsers with the browser files and no Node modules', async () => {
    const esbuild = path.join('node_modules', 'esbuild', 'bin', 'esbuild');
    const args = ['browser.ts', '--bundle', '--platform=browser', '--format=esm', '--splitting', '--outdir=out'];
    const r = await run('node', [esbuild, ...args, '--metafile=meta.json', '--log-level=warning'], consumer);
    expect(r.code, show(r)).toBe(0);
    const meta = JSON.parse(fs.readFileSync(path.join(consumer, 'meta.json'), 'utf8')) as {
      inputs: Record<string, { imports: { path: string }[] }>;
    };
    const inputs = Object.keys(meta.inputs);
    const lib = 'node_modules/bit-ts/dist/src/';
    for (const f of ['data/browser.js', 'tensor/backends/wasm/host-browser.js', 'data/png-browser.js']) {
      expect(inputs).toContain(lib + f);
    }
    expect(inputs.filter((p) => /-node\.js$/.test(p) || p === `${lib}data/index.js`)).toEqual([]);
    expect(inputs.filter((p) => /node_modules\/(pngjs|webgpu)\//.test(p))).toEqual([]);
    const imports = Object.values(meta.inputs).flatMap((i) => i.imports.map((x) => x.path));
    expect(imports.filter((p) => p.startsWith('node:'))).toEqual([]);
  });
});
