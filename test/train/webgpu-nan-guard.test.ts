// The trainer's NaN guard on gpujs-webgpu (issue 20, point 4; the Backend contract's "Non-finite values"): a run
// at lr 1e35 diverges within a few steps, and training stops with status 'nan' (exit code 3) naming the step,
// before the update, keeping a checkpoint whose weights are all finite, exactly as on the CPU backends
// (test/train/train.test.ts). WGSL compilers may assume no NaN; this is the end-to-end check that a diverging run
// is still caught on webgpu. Skipped (with the reason) where no adapter exists, unless BIT_REQUIRE_WEBGPU=1.
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { releaseBackends, setupBackend } from '../../src/train/backend-setup.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { train } from '../../src/train/trainer.js';
import { webgpuRequired, webgpuUnavailableReason } from '../webgpu-required.js';
import { DIVERGING_RUN, tinyConfig, tmpRun } from './helpers.js';

const reason = await webgpuUnavailableReason();
if (reason && webgpuRequired()) throw new Error(`BIT_REQUIRE_WEBGPU=1 but WebGPU is unavailable: ${reason}`);
if (reason) console.log(`skipping the webgpu NaN-guard test: ${reason}`);
afterAll(() => releaseBackends());

describe.skipIf(reason !== null)('the NaN guard on gpujs-webgpu', () => {
  it('stops a diverging run with status nan, naming the step, keeping a finite checkpoint', async () => {
    await setupBackend('gpujs-webgpu');
    const dir = tmpRun('nan-webgpu');
    const cfg = tinyConfig(dir, { ...DIVERGING_RUN, backend: 'gpujs-webgpu' });
    const r = await train(cfg, { log: () => {} });
    expect(r.status).toBe('nan');
    expect(r.exitCode).toBe(3);
    expect(r.message).toMatch(/non-finite loss .* at step \d+/);
    // It diverged after at least one update at lr 1e35 and long before the 20 scheduled steps.
    expect(r.steps).toBeGreaterThanOrEqual(1);
    expect(r.steps).toBeLessThan(20);
    const ck = loadCheckpoint(path.join(dir, 'latest.safetensors'));
    for (const [, v] of ck.weights) expect(v.data.every(Number.isFinite)).toBe(true);
    expect(ck.meta.step).toBeLessThanOrEqual(r.steps);
  });
});
