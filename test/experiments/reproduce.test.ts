/**
 * CI check of the reproduction machinery (experiments/reproduce.ts --quick) on the shared data: every run of
 * the quick protocol trains through src/train (its result carries the trainer's effective config and run
 * folder checkpoint) and writes a well-formed result JSON, the report, plot and published checkpoint table
 * are written, a second invocation skips every finished run, and a run whose result is deleted resumes from
 * its checkpoint to the same accuracy. Tiny step counts: this proves the pipeline, not the paper's claims.
 * Skipped, with the reason logged, where ../shared/data is absent.
 */

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { estimate } from '../../experiments/lib/estimate.js';
import { stats } from '../../experiments/lib/report.js';
import { protocolRuns } from '../../experiments/lib/runs.js';
import { FULL, QUICK } from '../../experiments/lib/settings.js';

const data = path.resolve('..', 'shared', 'data');
const tars = ['cifar10/train.tar', 'imagenette/train.tar', 'tiny-imagenet/train.tar', 'tiny-imagenet/val.tar'];
const present = tars.every((f) => fs.existsSync(path.join(data, f)));
if (!present) console.warn(`skipping reproduce --quick: ${data} (${tars.join(', ')}) is absent`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bit-repro-'));
const results = path.join(tmp, 'results');
const run = (name = 'all') =>
  spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      'experiments/reproduce.ts',
      name,
      '--quick',
      '--out',
      results,
      '--work',
      path.join(tmp, 'work'),
    ],
    { encoding: 'utf8', timeout: 240_000 }, // generous: a loaded CI machine runs the quick protocol in 40-80 s
  );

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('stats', () => {
  it('median and range', () => {
    expect(stats([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, n: 3 });
    expect(stats([4, 1, 2, 3]).median).toBe(2.5);
    expect(stats([]).n).toBe(0);
  });
});

describe('estimate', () => {
  it('counts every protocol run; the upstream costs its images over the speed plus evaluation and overhead', () => {
    const runs = protocolRuns(FULL);
    const sp = { up: 500, ft: 400, t4: 800, t4bn: 400 };
    const all = estimate(FULL, runs, sp, 3);
    expect(all.text).toMatch(new RegExp(`\\| total \\| ${runs.length} \\|`));
    const up = estimate(
      FULL,
      runs.filter((r) => r.id === 'up-tiny'),
      sp,
      3,
    );
    const u = FULL.upstreams.tiny;
    expect(up.min).toBeCloseTo((u.steps * u.batch) / 500 + 10_100 / (400 * 3) + 3, 6);
    expect(up.max).toBe(up.min);
    // the scratch baseline's length depends on its grid: a range from the shortest to the extended schedule
    const sc = estimate(
      FULL,
      runs.filter((r) => r.id === 'fewshot-scratch-k1-s0'),
      sp,
      3,
    );
    const b = FULL.finetune.batch;
    const [lo, hi] = [Math.min(...FULL.scratch.steps), Math.max(...FULL.scratch.steps)];
    expect(sc.max - sc.min).toBeCloseTo((hi * FULL.scratch.extend * b - lo * b) / 400, 6);
  });
});

describe.skipIf(!present)('reproduce --quick', () => {
  it('runs every quick run through src/train, writes well-formed results, resumes, and publishes', () => {
    const r = run();
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const ids = protocolRuns(QUICK).map((x) => x.id);
    const read = (id: string) => JSON.parse(fs.readFileSync(path.join(results, `${id}.json`), 'utf8'));
    for (const id of ids) {
      const j = read(id);
      expect(j.id).toBe(id);
      expect(j.backend).toBe('wasm');
      if (j.skipped) {
        expect(id).toMatch(/-ext$/);
        continue;
      }
      expect(j.accuracy).toBeGreaterThanOrEqual(0);
      expect(j.accuracy).toBeLessThanOrEqual(100);
      expect(j.evalCount).toBeGreaterThan(0);
      expect(j.train.steps).toBeGreaterThan(0);
      expect(j.train.imagesPerS).toBeGreaterThan(0);
      // the trainer's effective config (src/train's schema) and its run folder's final checkpoint
      expect(typeof j.config.scheduler).toBe('string');
      expect(j.config.batch_size).toBe(j.train.batch);
      expect(fs.existsSync(j.checkpoint)).toBe(true);
      expect(Number.isInteger(j.seed)).toBe(true);
    }
    // transfer runs start from their upstream's checkpoint with a zero head; table 4's BN runs use ghost BN
    expect(read('fewshot-tiny-k1-s0').config.ckpt_path).toMatch(/up-tiny/);
    expect(read('fewshot-tiny-k1-s0').config.zero_head).toBe(true);
    expect(read('fewshot-scratch-k1-s0').config.ckpt_path).toBe('');
    expect(read('t4-up-bn').config.bn_ghost_batch).toBe(QUICK.table4.variants[0]!.ghostBatch);
    expect(read('t4-tr-bn-k1-s0').config.model).toBe(QUICK.table4.model);
    expect(read('up-tiny').config.model).toBe(QUICK.model);
    expect(read('full-tiny-s0').config.mixup).toBe(0.1);
    expect(read('up-tiny').evalCount).toBe(QUICK.cacheLimit.tinyVal * 202);
    expect(fs.readFileSync(path.join(results, 'summary.md'), 'utf8')).toMatch(/Few-shot CIFAR-10/);
    expect(fs.statSync(path.join(results, 'fewshot-accuracy-vs-k.png')).size).toBeGreaterThan(1000);
    expect(fs.readFileSync(path.join(results, 'checkpoints', 'checkpoints.md'), 'utf8')).toMatch(
      /npx bit-ts validate --data_dir \S+tiny-imagenet\/val.tar --ckpt_path/,
    );
    const again = run();
    expect(again.status, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(
      new RegExp(`all ${ids.length} runs of 'all' already have results in .*nothing rewritten`),
    );
    // a finished run whose result is lost resumes from its final checkpoint to the same number
    const before = read('up-tiny');
    fs.rmSync(path.join(results, 'up-tiny.json'));
    const third = run('upstream');
    expect(third.status, third.stdout + third.stderr).toBe(0);
    expect(third.stdout).toMatch(
      new RegExp(`\\[up-tiny\\] resumed from \\S+up-tiny\\S+ at step ${QUICK.upstreams.tiny.steps}`),
    );
    expect(read('up-tiny').accuracy).toBe(before.accuracy);
    expect(read('up-tiny').train.steps).toBe(before.train.steps);
  }, 600_000);
});
