/**
 * CI check of the reproduction machinery (experiments/reproduce.ts --quick) on the shared data: every run of
 * the quick protocol finishes and writes a well-formed result JSON, the report and plot are written, and a
 * second invocation skips every finished run (resumability). Tiny step counts: this proves the pipeline, not
 * the paper's claims. Skipped, with the reason logged, where ../shared/data is absent.
 */

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stats } from '../../experiments/lib/report.js';
import { protocolRuns } from '../../experiments/lib/runs.js';
import { QUICK } from '../../experiments/lib/settings.js';

const data = path.resolve('..', 'shared', 'data');
const present = ['cifar10/train.tar', 'imagenette/train.tar'].every((f) => fs.existsSync(path.join(data, f)));
if (!present) console.warn(`skipping reproduce --quick: ${data} (cifar10/imagenette train.tar) is absent`);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bit-repro-'));
const results = path.join(tmp, 'results');
const run = () =>
  spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      'experiments/reproduce.ts',
      'all',
      '--quick',
      '--out',
      results,
      '--work',
      path.join(tmp, 'work'),
    ],
    { encoding: 'utf8', timeout: 85_000 },
  );

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('stats', () => {
  it('median and range', () => {
    expect(stats([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, n: 3 });
    expect(stats([4, 1, 2, 3]).median).toBe(2.5);
    expect(stats([]).n).toBe(0);
  });
});

describe.skipIf(!present)('reproduce --quick', () => {
  it('runs every quick run, writes well-formed results, and resumes by skipping them', () => {
    const r = run();
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const ids = protocolRuns(QUICK).map((x) => x.id);
    for (const id of ids) {
      const j = JSON.parse(fs.readFileSync(path.join(results, `${id}.json`), 'utf8'));
      expect(j.id).toBe(id);
      expect(j.accuracy).toBeGreaterThanOrEqual(0);
      expect(j.accuracy).toBeLessThanOrEqual(100);
      expect(j.evalCount).toBeGreaterThan(0);
      expect(j.train.wallS).toBeGreaterThan(0);
      expect(j.train.imagesPerS).toBeGreaterThan(0);
      expect(j.backend).toBe('wasm');
      expect(typeof j.config).toBe('object');
      expect(Number.isInteger(j.seed)).toBe(true);
    }
    expect(fs.readFileSync(path.join(results, 'summary.md'), 'utf8')).toMatch(/transfer vs scratch/);
    expect(fs.statSync(path.join(results, 'fewshot-transfer-vs-scratch.png')).size).toBeGreaterThan(1000);
    const again = run();
    expect(again.status, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`0 runs finished, ${ids.length} were already done`));
  }, 120_000);
});
