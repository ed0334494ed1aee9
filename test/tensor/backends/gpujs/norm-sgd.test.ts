/**
 * gpu.js backend fused BiT primitives: GroupNorm and weight standardization forward/backward and the SGD update vs
 * the reference backend, and each fused primitive vs the composite of this backend's own basic primitives
 * (reduce, binary with broadcast views, unary), which is what autograd would compute without the fused kernels.
 */

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend, BackendBuffer, GroupNormGeom, SgdParams } from '../../../../src/tensor/backend.js';
import { expectClose, TOL } from '../../../tolerances.js';
import { backendPool, MODES, rand, ref, same, up } from './helpers.js';

const pool = backendPool();
afterAll(() => pool.dispose());

/** Row normalization [rows, L] composed from basic primitives: (x - mean) * rsqrt(var + eps). */
function compositeNormalize(b: Backend, x: BackendBuffer, rows: number, L: number, eps: number) {
  const sum = b.reduce('sum', x, rows, L);
  const invL = b.upload([1 / L], 'float32');
  const s0 = { buf: invL, shape: [rows], strides: [0], offset: 0 };
  const mean = b.binary('mul', { buf: sum, shape: [rows], strides: [1], offset: 0 }, s0, [rows]);
  const meanB = { buf: mean, shape: [rows, L], strides: [1, 0], offset: 0 };
  const xc = b.binary('sub', { buf: x, shape: [rows, L], strides: [L, 1], offset: 0 }, meanB, [rows, L]);
  const sq = b.unary('square', xc);
  const v = b.binary('mul', { buf: b.reduce('sum', sq, rows, L), shape: [rows], strides: [1], offset: 0 }, s0, [rows]);
  const epsB = b.upload([eps], 'float32');
  const ve = b.binary('add', { buf: v, shape: [rows], strides: [1], offset: 0 }, { ...s0, buf: epsB }, [rows]);
  const rstd = b.unary('rsqrt', ve);
  const y = b.binary('mul', { buf: xc, shape: [rows, L], strides: [L, 1], offset: 0 }, { ...meanB, buf: rstd }, [
    rows,
    L,
  ]);
  return { y, mean, rstd };
}

const arbGn = fc.record({
  n: fc.integer({ min: 1, max: 3 }),
  groups: fc.integer({ min: 1, max: 3 }),
  cg: fc.integer({ min: 1, max: 3 }),
  hw: fc.integer({ min: 1, max: 12 }),
  seed: fc.integer({ min: 1, max: 1e6 }),
});

for (const mode of MODES)
  describe.skipIf(mode.skip !== null)(`gpujs-${mode.name} fused primitives`, () => {
    it('GroupNorm forward and backward match the reference', async () => {
      const g = await pool.get(mode);
      await fc.assert(
        fc.asyncProperty(arbGn, async (c) => {
          const gg: GroupNormGeom = { n: c.n, c: c.groups * c.cg, hw: c.hw, groups: c.groups, eps: 1e-5 };
          const size = gg.n * gg.c * gg.hw;
          const x = rand(size, c.seed, -2, 3);
          const gamma = rand(gg.c, c.seed + 1, 0.5, 1.5);
          const beta = rand(gg.c, c.seed + 2);
          const dy = rand(size, c.seed + 3);
          const go = g.groupNorm(up(g, x), up(g, gamma), up(g, beta), gg);
          const ro = ref.groupNorm(up(ref, x), up(ref, gamma), up(ref, beta), gg);
          await same(g, go.y, ro.y, TOL.groupNormFwd, 'gn y');
          await same(g, go.mean, ro.mean, TOL.groupNormFwd, 'gn mean');
          await same(g, go.rstd, ro.rstd, { rtol: 1e-5, atol: 1e-5 }, 'gn rstd');
          const gb = g.groupNormBackward(up(g, dy), up(g, x), up(g, gamma), go.mean, go.rstd, gg);
          const rb = ref.groupNormBackward(up(ref, dy), up(ref, x), up(ref, gamma), ro.mean, ro.rstd, gg);
          await same(g, gb.dx, rb.dx, TOL.groupNormGrad, 'gn dx');
          await same(g, gb.dgamma, rb.dgamma, TOL.groupNormGrad, 'gn dgamma');
          await same(g, gb.dbeta, rb.dbeta, TOL.groupNormGrad, 'gn dbeta');
        }),
        { numRuns: 15, seed: 21 },
      );
    });

    it('weight standardization forward and backward match the reference', async () => {
      const g = await pool.get(mode);
      for (const [o, fanIn] of [
        [3, 27],
        [4, 1 * 1 * 8],
        [2, 49 * 3],
      ] as const) {
        const w = rand(o * fanIn, o + fanIn, -1, 2);
        const dy = rand(o * fanIn, o * fanIn);
        const gw = g.weightStandardize(up(g, w), o, fanIn, 1e-10);
        const rw = ref.weightStandardize(up(ref, w), o, fanIn, 1e-10);
        await same(g, gw.y, rw.y, TOL.groupNormFwd, 'ws y');
        await same(g, gw.rstd, rw.rstd, { rtol: 1e-5, atol: 1e-5 }, 'ws rstd');
        const gd = g.weightStandardizeBackward(up(g, dy), up(g, w), gw.mean, gw.rstd, o, fanIn);
        const rd = ref.weightStandardizeBackward(up(ref, dy), up(ref, w), rw.mean, rw.rstd, o, fanIn);
        await same(g, gd, rd, TOL.groupNormGrad, 'ws dw');
      }
    });

    it('fused GroupNorm and WS equal the composite of basic primitives', async () => {
      const g = await pool.get(mode);
      // GroupNorm with gamma = 1, beta = 0 is the row normalization over [n*groups, cg*hw].
      const gg: GroupNormGeom = { n: 2, c: 4, hw: 6, groups: 2, eps: 1e-5 };
      const x = rand(2 * 4 * 6, 99, -1, 2);
      const fused = g.groupNorm(up(g, x), up(g, new Float32Array(4).fill(1)), up(g, new Float32Array(4)), gg);
      const comp = compositeNormalize(g, up(g, x), 4, 12, 1e-5);
      expectClose(await g.read(fused.y), await g.read(comp.y), TOL.groupNormFwd, 'gn vs composite');
      expectClose(await g.read(fused.mean), await g.read(comp.mean), TOL.groupNormFwd, 'gn mean vs composite');
      const w = rand(3 * 18, 98);
      const ws = g.weightStandardize(up(g, w), 3, 18, 1e-8);
      const wc = compositeNormalize(g, up(g, w), 3, 18, 1e-8);
      expectClose(await g.read(ws.y), await g.read(wc.y), TOL.groupNormFwd, 'ws vs composite');
    });

    it('SGD update matches the reference and the composite, in place on the same buffer objects', async () => {
      const g = await pool.get(mode);
      const cases: SgdParams[] = [
        { lr: 0.1, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 1e-4, firstStep: true },
        { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: false, weightDecay: 1e-4, firstStep: false },
        { lr: 0.05, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 0, firstStep: false },
        { lr: 0.05, momentum: 0, dampening: 0, nesterov: false, weightDecay: 1e-3, firstStep: false },
      ];
      for (const p of cases) {
        const n = 33;
        const [pv, gv, bv] = [rand(n, 1), rand(n, 2), rand(n, 3)];
        const [gp, gg, gb] = [up(g, pv), up(g, gv), up(g, bv)];
        const [rp, rg, rb] = [up(ref, pv), up(ref, gv), up(ref, bv)];
        g.sgdUpdate(gp, gg, gb, p);
        ref.sgdUpdate(rp, rg, rb, p);
        await same(g, gp, rp, TOL.elementwise, `sgd param ${JSON.stringify(p)}`);
        await same(g, gb, rb, TOL.elementwise, 'sgd momentum buffer');
        // composite: d = grad + wd*param; buf = first ? d : m*buf + (1-damp)*d; step = nesterov ? d + m*buf : buf
        const exp = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          const d = gv[i]! + p.weightDecay * pv[i]!;
          const buf = p.momentum === 0 ? d : p.firstStep ? d : p.momentum * bv[i]! + (1 - p.dampening) * d;
          const step = p.momentum === 0 ? d : p.nesterov ? d + p.momentum * buf : buf;
          exp[i] = pv[i]! - p.lr * step;
        }
        expectClose(await g.read(gp), exp, TOL.elementwise, 'sgd vs composite');
      }
    });

    it('fused SGD equals the same step composed from binary ops on this backend', async () => {
      const g = await pool.get(mode);
      const n = 20;
      const [pv, gv, bv] = [rand(n, 4), rand(n, 5), rand(n, 6)];
      const p: SgdParams = {
        lr: 0.1,
        momentum: 0.9,
        dampening: 0,
        nesterov: false,
        weightDecay: 0.01,
        firstStep: false,
      };
      const v = (buf: BackendBuffer) => ({ buf, shape: [n], strides: [1], offset: 0 });
      const s = (x: number) => ({ buf: g.upload([x], 'float32'), shape: [n], strides: [0], offset: 0 });
      const P = up(g, pv);
      const d = g.binary('add', v(up(g, gv)), v(g.binary('mul', s(p.weightDecay), v(P), [n])), [n]);
      const buf = g.binary('add', v(g.binary('mul', s(p.momentum), v(up(g, bv)), [n])), v(d), [n]);
      const want = g.binary('sub', v(P), v(g.binary('mul', s(p.lr), v(buf), [n])), [n]);
      const fp = up(g, pv);
      const fb = up(g, bv);
      g.sgdUpdate(fp, up(g, gv), fb, p);
      expectClose(await g.read(fp), await g.read(want), TOL.elementwise, 'fused vs composite param');
      expectClose(await g.read(fb), await g.read(buf), TOL.elementwise, 'fused vs composite buf');
      expect(await g.read(fp)).not.toEqual(pv);
    });
  });
