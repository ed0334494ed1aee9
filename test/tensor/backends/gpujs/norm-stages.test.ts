// Two-stage GroupNorm / weight-standardization statistics (issue 20, GPU-grade reductions; kernels/norm-stages.ts):
// one thread per (row, block) then a combine per row, with the per-row kernels' arithmetic split between the two
// launches. Checked on every gpu.js mode: bit for bit equal to the per-row path (forward y / mean / rstd, backward
// dx / dgamma / dbeta, WS forward and backward) on random shapes, also at chunk limit 64 (groups of samples and blocks
// of groups per launch), close to the reference, and the launch plan (2 + 2 statistics launches forward, 3 + 4
// backward, instead of 1 + 1 and 2 + 2). The large-mean accuracy case is numerics.test.ts (webgpu's default path).
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend, BackendBuffer, GroupNormGeom } from '../../../../src/tensor/backend.js';
import type { GpujsBackend } from '../../../../src/tensor/backends/gpujs/index.js';
import { expectClose, TOL } from '../../../tolerances.js';
import { backendPool, MODES, rand, ref, same, up } from './helpers.js';

const pools = {
  two: backendPool({ reductions: 'two-stage' }),
  one: backendPool({ reductions: 'per-row' }),
  twoSmall: backendPool({ reductions: 'two-stage', chunkLimit: 64 }),
  oneSmall: backendPool({ reductions: 'per-row', chunkLimit: 64 }),
};
afterAll(() => {
  for (const p of Object.values(pools)) p.dispose();
});

/**
 * Bit for bit on webasm and webgpu (float32 kernels). gpu.js's cpu mode runs a kernel body in float64 and stores
 * float32 only between launches, so there the per-row path keeps its partial sums in float64 while the two-stage
 * path rounds them to float32 once: equal within groupNormFwd there.
 */
async function identical(a: Backend, ab: BackendBuffer, b: Backend, bb: BackendBuffer, what: string) {
  if (a.name === 'gpujs-cpu') return same(a, ab, b === ref ? bb : await reupload(b, bb), TOL.groupNormFwd, what);
  const [x, y] = [await a.read(ab), await b.read(bb)];
  expect(x.length, what).toBe(y.length);
  let diff = 0;
  for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) diff++;
  expect(diff, `${what}: elements differing between two-stage and per-row`).toBe(0);
}

/** `bb` of backend `b` as a reference buffer (`same` compares against the reference backend). */
async function reupload(b: Backend, bb: BackendBuffer): Promise<BackendBuffer> {
  return up(ref, await b.read(bb));
}

const arbGn = fc.record({
  n: fc.integer({ min: 1, max: 3 }),
  groups: fc.integer({ min: 1, max: 4 }),
  cg: fc.integer({ min: 1, max: 3 }),
  hw: fc.integer({ min: 1, max: 40 }),
  mean: fc.constantFrom(0, 1000),
  seed: fc.integer({ min: 1, max: 1e6 }),
});

for (const mode of MODES)
  describe.skipIf(mode.skip !== null)(`gpujs-${mode.name} two-stage norm statistics`, () => {
    for (const small of [false, true])
      it(`GroupNorm forward and backward equal the per-row path bit for bit${small ? ' (limit 64)' : ''}`, async () => {
        const two = await (small ? pools.twoSmall : pools.two).get(mode);
        const one = await (small ? pools.oneSmall : pools.one).get(mode);
        await fc.assert(
          fc.asyncProperty(arbGn, async (c) => {
            const gg: GroupNormGeom = { n: c.n, c: c.groups * c.cg, hw: c.hw, groups: c.groups, eps: 1e-5 };
            const size = gg.n * gg.c * gg.hw;
            const x = rand(size, c.seed, c.mean - 2, c.mean + 3);
            const gamma = rand(gg.c, c.seed + 1, 0.5, 1.5);
            const beta = rand(gg.c, c.seed + 2);
            const dy = rand(size, c.seed + 3);
            const run = (b: Backend) => {
              const f = b.groupNorm(up(b, x), up(b, gamma), up(b, beta), gg);
              return { f, g: b.groupNormBackward(up(b, dy), up(b, x), up(b, gamma), f.mean, f.rstd, gg) };
            };
            const [t, o, r] = [run(two), run(one), run(ref)];
            for (const k of ['y', 'mean', 'rstd'] as const) await identical(two, t.f[k], one, o.f[k], `gn ${k}`);
            for (const k of ['dx', 'dgamma', 'dbeta'] as const) await identical(two, t.g[k], one, o.g[k], `gn ${k}`);
            await same(two, t.f.y, r.f.y, TOL.groupNormFwd, 'gn y vs reference');
            await same(two, t.g.dgamma, r.g.dgamma, TOL.groupNormGrad, 'gn dgamma vs reference');
            await same(two, t.g.dx, r.g.dx, TOL.groupNormGrad, 'gn dx vs reference');
          }),
          { numRuns: 5, seed: small ? 31 : 30 },
        );
      }, 60_000);

    it('weight standardization forward and backward equal the per-row path bit for bit', async () => {
      const two = await pools.two.get(mode);
      const one = await pools.one.get(mode);
      for (const [o, fanIn] of [
        [3, 27],
        [5, 300],
        [2, 49 * 3],
      ] as const) {
        const w = rand(o * fanIn, o + fanIn, 999, 1001);
        const dy = rand(o * fanIn, o * fanIn);
        const run = (b: Backend) => {
          const f = b.weightStandardize(up(b, w), o, fanIn, 1e-10);
          return { f, dw: b.weightStandardizeBackward(up(b, dy), up(b, w), f.mean, f.rstd, o, fanIn) };
        };
        const [t, p, r] = [run(two), run(one), run(ref)];
        for (const k of ['y', 'mean', 'rstd'] as const)
          await identical(two, t.f[k], one, p.f[k], `ws ${k} [${o}, ${fanIn}]`);
        await identical(two, t.dw, one, p.dw, `ws dw [${o}, ${fanIn}]`);
        await same(two, t.dw, r.dw, TOL.groupNormGrad, 'ws dw vs reference');
      }
    });

    it('launch plan: statistics in two stages', async () => {
      const two = (await pools.two.get(mode)) as GpujsBackend;
      const one = (await pools.one.get(mode)) as GpujsBackend;
      const gg: GroupNormGeom = { n: 2, c: 8, hw: 50, groups: 4, eps: 1e-5 };
      const size = gg.n * gg.c * gg.hw;
      const count = async (b: GpujsBackend) => {
        const [x, gamma, beta, dy] = [rand(size, 1), rand(8, 2), rand(8, 3), rand(size, 4)].map((d) => up(b, d));
        const l0 = b.transfers().launches;
        const f = b.groupNorm(x!, gamma!, beta!, gg);
        await b.read(f.y);
        const l1 = b.transfers().launches;
        const g = b.groupNormBackward(dy!, x!, gamma!, f.mean, f.rstd, gg);
        await b.read(g.dx);
        return [l1 - l0, b.transfers().launches - l1];
      };
      // forward: mean (1 -> runs + combine), rstd (1 -> blocks + combine), apply; backward: m1 and m2 (2 -> blocks +
      // 2 combines), dx, dgamma and dbeta (2 -> runs + per-sample sums + 2 combines over samples).
      expect(await count(one)).toEqual([3, 5]);
      expect(await count(two)).toEqual([5, 8]);
    });
  });

describe('reductions option', () => {
  it('rejects an unknown value', async () => {
    const { createGpujsBackend } = await import('../../../../src/tensor/backends/gpujs/index.js');
    await expect(createGpujsBackend('cpu', { reductions: 'tree' as 'two-stage' })).rejects.toThrow(/reductions 'tree'/);
  });
});

const webgpu = MODES.find((m) => m.name === 'webgpu')!;
const full = backendPool();
afterAll(() => full.dispose());
describe.skipIf(webgpu.skip !== null)('gpujs-webgpu: one GroupNorm group above 2^23 elements at full size', () => {
  it('2 planes of 2049 x 2049 in one group (8.4M > 2^23; each plane in 2 segments) equal the reference', async () => {
    const b = await full.get(webgpu);
    const gg: GroupNormGeom = { n: 1, c: 2, hw: 2049 * 2049, groups: 1, eps: 1e-5 };
    const size = gg.c * gg.hw;
    const [x, gamma, beta, dy] = [rand(size, 41, 9, 11), rand(2, 42, 0.5, 1.5), rand(2, 43), rand(size, 44)];
    const t0 = performance.now();
    const l0 = (b as GpujsBackend).transfers().launches;
    const go = b.groupNorm(up(b, x), up(b, gamma), up(b, beta), gg);
    const gb = b.groupNormBackward(up(b, dy), up(b, x), up(b, gamma), go.mean, go.rstd, gg);
    const got = { y: await b.read(go.y), dx: await b.read(gb.dx), dgamma: await b.read(gb.dgamma) };
    const launches = (b as GpujsBackend).transfers().launches - l0;
    console.log(
      `GroupNorm of one 8.4M-element group on webgpu: ${launches} launches, ${(performance.now() - t0).toFixed(0)} ms`,
    );
    const ro = ref.groupNorm(up(ref, x), up(ref, gamma), up(ref, beta), gg);
    const rb = ref.groupNormBackward(up(ref, dy), up(ref, x), up(ref, gamma), ro.mean, ro.rstd, gg);
    expectClose(got.y, await ref.read(ro.y), TOL.groupNormFwd, 'gn y');
    expectClose(got.dx, await ref.read(rb.dx), TOL.groupNormGrad, 'gn dx');
    expectClose(got.dgamma, await ref.read(rb.dgamma), TOL.groupNormGrad, 'gn dgamma');
  }, 120_000);
});
