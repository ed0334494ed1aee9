/**
 * gpu.js backend, matmul / conv2d (fwd, gradInput, gradWeight) / pooling vs the reference backend, on every BiT conv
 * case (7x7/2 pad 3, 3x3/1 and 3x3/2 pad 1, 1x1/1 and 1x1/2 as GEMM) plus grouped convs, and the adjoint identities
 * <conv(x), y> = <x, convGradInput(y)> = <w, convGradWeight(x, y)> evaluated on the gpu.js kernels themselves.
 */

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Conv2dGeom, MaxPool2dGeom } from '../../../../src/tensor/backend.js';
import { TOL } from '../../../tolerances.js';
import { backendPool, MODES, rand, ref, same, up } from './helpers.js';

const pool = backendPool();
afterAll(() => pool.dispose());

function geom(
  n: number,
  cin: number,
  h: number,
  cout: number,
  k: number,
  stride: number,
  pad: number,
  groups = 1,
): Conv2dGeom {
  const oh = Math.floor((h + 2 * pad - k) / stride) + 1;
  return {
    n,
    cin,
    h,
    w: h + 1,
    cout,
    kh: k,
    kw: k,
    stride,
    pad,
    groups,
    oh,
    ow: Math.floor((h + 1 + 2 * pad - k) / stride) + 1,
  };
}

const BIT_CASES: [string, Conv2dGeom][] = [
  ['7x7/2 pad 3', geom(2, 3, 9, 4, 7, 2, 3)],
  ['3x3/1 pad 1', geom(2, 4, 6, 5, 3, 1, 1)],
  ['3x3/2 pad 1', geom(2, 4, 7, 3, 3, 2, 1)],
  ['1x1/1 (GEMM)', geom(2, 6, 5, 4, 1, 1, 0)],
  ['1x1/2 (GEMM)', geom(2, 6, 5, 4, 1, 2, 0)],
  ['3x3/1 groups 2', geom(1, 4, 5, 6, 3, 1, 1, 2)],
  ['1x1/1 groups 2 (direct)', geom(1, 4, 4, 2, 1, 1, 0, 2)],
];

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

for (const mode of MODES)
  describe.skipIf(mode.skip !== null)(`gpujs-${mode.name} linear algebra`, () => {
    it('batched matmul with trans flags', async () => {
      const g = await pool.get(mode);
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            batch: fc.integer({ min: 1, max: 3 }),
            m: fc.integer({ min: 1, max: 7 }),
            k: fc.integer({ min: 1, max: 9 }),
            n: fc.integer({ min: 1, max: 7 }),
            transA: fc.boolean(),
            transB: fc.boolean(),
          }),
          async (mg) => {
            const a = rand(mg.batch * mg.m * mg.k, mg.m * 31 + mg.k);
            const b = rand(mg.batch * mg.k * mg.n, mg.n * 17 + mg.k);
            await same(
              g,
              g.matmul(up(g, a), up(g, b), mg),
              ref.matmul(up(ref, a), up(ref, b), mg),
              TOL.linear,
              'matmul',
            );
          },
        ),
        { numRuns: 25, seed: 11 },
      );
    });

    it.each(BIT_CASES)('conv2d %s: forward, gradInput, gradWeight', async (_name, cg) => {
      const g = await pool.get(mode);
      const x = rand(cg.n * cg.cin * cg.h * cg.w, 1);
      const w = rand(cg.cout * (cg.cin / cg.groups) * cg.kh * cg.kw, 2);
      const dy = rand(cg.n * cg.cout * cg.oh * cg.ow, 3);
      await same(g, g.conv2d(up(g, x), up(g, w), cg), ref.conv2d(up(ref, x), up(ref, w), cg), TOL.linear, 'conv2d');
      await same(
        g,
        g.conv2dGradInput(up(g, dy), up(g, w), cg),
        ref.conv2dGradInput(up(ref, dy), up(ref, w), cg),
        TOL.linear,
        'dx',
      );
      await same(
        g,
        g.conv2dGradWeight(up(g, x), up(g, dy), cg),
        ref.conv2dGradWeight(up(ref, x), up(ref, dy), cg),
        TOL.linear,
        'dw',
      );
    });

    it.each(BIT_CASES)('adjoints %s: <conv(x,w), y> = <x, dX(y,w)> = <w, dW(x,y)>', async (_name, cg) => {
      const g = await pool.get(mode);
      const x = rand(cg.n * cg.cin * cg.h * cg.w, 4);
      const w = rand(cg.cout * (cg.cin / cg.groups) * cg.kh * cg.kw, 5);
      const y = rand(cg.n * cg.cout * cg.oh * cg.ow, 6);
      const lhs = dot(await g.read(g.conv2d(up(g, x), up(g, w), cg)), y);
      const viaX = dot(x, await g.read(g.conv2dGradInput(up(g, y), up(g, w), cg)));
      const viaW = dot(w, await g.read(g.conv2dGradWeight(up(g, x), up(g, y), cg)));
      const scale = 1e-4 * (1 + Math.abs(lhs));
      expect(Math.abs(lhs - viaX)).toBeLessThan(scale);
      expect(Math.abs(lhs - viaW)).toBeLessThan(scale);
    });

    it('matmul adjoint: <A B, C> = <A, C B^T> (transB kernel)', async () => {
      const g = await pool.get(mode);
      const [m, k, n] = [5, 7, 4];
      const a = rand(m * k, 8);
      const b = rand(k * n, 9);
      const c = rand(m * n, 10);
      const ab = await g.read(g.matmul(up(g, a), up(g, b), { batch: 1, m, k, n, transA: false, transB: false }));
      const cbt = await g.read(g.matmul(up(g, c), up(g, b), { batch: 1, m, k: n, n: k, transA: false, transB: true }));
      expect(Math.abs(dot(ab, c) - dot(a, cbt))).toBeLessThan(1e-4);
    });

    const NOPAD = { pad: 0, padValue: Number.NEGATIVE_INFINITY };
    const POOLS: [string, MaxPool2dGeom][] = [
      ['3x3/2', { n: 2, c: 3, h: 7, w: 8, kh: 3, kw: 3, stride: 2, oh: 3, ow: 3, ...NOPAD }],
      ['2x2/2', { n: 1, c: 2, h: 4, w: 6, kh: 2, kw: 2, stride: 2, oh: 2, ow: 3, ...NOPAD }],
      ['3x3/1', { n: 1, c: 2, h: 5, w: 5, kh: 3, kw: 3, stride: 1, oh: 3, ow: 3, ...NOPAD }],
      // the stem's fused zero pad (padding cells can win: index -1) and PyTorch's -inf padding
      ['3x3/2 pad 1 value 0', { n: 2, c: 3, h: 7, w: 8, kh: 3, kw: 3, stride: 2, oh: 4, ow: 4, pad: 1, padValue: 0 }],
      [
        '3x3/2 pad 1 value -inf',
        { n: 1, c: 2, h: 6, w: 5, kh: 3, kw: 3, stride: 2, oh: 3, ow: 3, pad: 1, padValue: -Infinity },
      ],
    ];

    it.each(POOLS)('max/avg pool %s forward and backward', async (_name, pg) => {
      const g = await pool.get(mode);
      // mostly negative values under a zero pad, so padding cells win some windows
      const x = rand(pg.n * pg.c * pg.h * pg.w, 12, -1, pg.pad > 0 ? 0.2 : 1);
      const dy = rand(pg.n * pg.c * pg.oh * pg.ow, 13);
      const gm = g.maxPool2d(up(g, x), pg);
      const rm = ref.maxPool2d(up(ref, x), pg);
      await same(g, gm.out, rm.out, { rtol: 0, atol: 0 }, 'maxpool out');
      await same(g, gm.indices, rm.indices, { rtol: 0, atol: 0 }, 'maxpool indices');
      const gdy = up(g, dy);
      await same(
        g,
        g.maxPool2dBackward(gdy, gm.indices, pg),
        ref.maxPool2dBackward(up(ref, dy), rm.indices, pg),
        TOL.linear,
        'maxpool bwd',
      );
      if (pg.pad > 0) {
        // the case must exercise its padding: some window's maximum is a padding cell (index -1) or none can be
        const won = Array.from(await ref.read(rm.indices)).filter((i) => i < 0).length;
        expect(won > 0).toBe(pg.padValue === 0);
        return; // average pooling has no padding
      }
      await same(g, g.avgPool2d(up(g, x), pg), ref.avgPool2d(up(ref, x), pg), TOL.linear, 'avgpool');
      await same(g, g.avgPool2dBackward(gdy, pg), ref.avgPool2dBackward(up(ref, dy), pg), TOL.linear, 'avgpool bwd');
      // adjoint of avg pool
      const lhs = dot(await g.read(g.avgPool2d(up(g, x), pg)), dy);
      const rhs = dot(x, await g.read(g.avgPool2dBackward(gdy, pg)));
      expect(Math.abs(lhs - rhs)).toBeLessThan(1e-4);
    });
  });
