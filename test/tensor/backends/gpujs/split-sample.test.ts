// One sample above the chunk limit (issue 20, point 2: BiT-R50x3's stem at 480 px, 192 x 240 x 240 = 11.1M cells
// per sample): GroupNorm splits into blocks of whole groups of one sample (a single group above the limit into windows
// of whole planes or plane segments, kernels/norm-big.ts), direct convolutions into channel windows
// (forward and gradWeight by output channels, gradInput by input channels summed over output-channel blocks), a GEMM
// conv runs the sample alone and splits its GEMM, pooling splits a plane into blocks of output / input rows. At chunk
// limit 64 on every gpu.js mode against the reference, forward and gradients; uneven last blocks throughout.
import { afterAll, describe, it } from 'vitest';
import type { Conv2dGeom, GroupNormGeom, MaxPool2dGeom, Pool2dGeom } from '../../../../src/tensor/backend.js';
import { TOL } from '../../../tolerances.js';
import { backendPool, MODES, rand, ref, same, sameConv, up } from './helpers.js';

const small = backendPool({ chunkLimit: 64 });
afterAll(() => small.dispose());

function pool(n: number, c: number, hw: number, k: number, stride: number, pad: number, padValue: number) {
  const o = Math.floor((hw + 2 * pad - k) / stride) + 1;
  return { n, c, h: hw, w: hw, kh: k, kw: k, stride, oh: o, ow: o, pad, padValue } satisfies MaxPool2dGeom;
}

function conv(n: number, cin: number, hw: number, cout: number, k: number, stride: number, pad: number, groups = 1) {
  const o = Math.floor((hw + 2 * pad - k) / stride) + 1;
  return { n, cin, h: hw, w: hw, cout, kh: k, kw: k, stride, pad, groups, oh: o, ow: o } satisfies Conv2dGeom;
}

for (const mode of MODES) {
  describe.skipIf(mode.skip !== null)(`gpujs-${mode.name}: one sample above the chunk limit`, () => {
    it.each([
      ['3 groups of 2 channels, hw 16 (blocks of 2 + 1 groups)', { n: 2, c: 6, hw: 16, groups: 3, eps: 1e-5 }],
      ['4 groups of 2 channels, hw 10 (blocks of 3 + 1 groups)', { n: 3, c: 8, hw: 10, groups: 4, eps: 1e-5 }],
      ['2 groups of 4 planes of 20 (80 > 64): windows of whole planes', { n: 2, c: 8, hw: 20, groups: 2, eps: 1e-5 }],
      [
        '2 groups of 2 planes of 70 (a plane > 64): plane segments 32 + 32 + 6',
        { n: 2, c: 4, hw: 70, groups: 2, eps: 1e-5 },
      ],
    ] as [string, GroupNormGeom][])('GroupNorm forward and backward, %s', async (_name, gg) => {
      const b = await small.get(mode);
      const size = gg.n * gg.c * gg.hw;
      // A large mean (1000 + spread): windows of a group keep the group's shift.
      const [x, gamma, beta, dy] = [
        rand(size, 11, 999, 1001),
        rand(gg.c, 12, 0.5, 1.5),
        rand(gg.c, 13),
        rand(size, 14),
      ];
      const go = b.groupNorm(up(b, x), up(b, gamma), up(b, beta), gg);
      const ro = ref.groupNorm(up(ref, x), up(ref, gamma), up(ref, beta), gg);
      await same(b, go.y, ro.y, TOL.groupNormFwd, 'gn y');
      await same(b, go.mean, ro.mean, TOL.groupNormFwd, 'gn mean');
      await same(b, go.rstd, ro.rstd, TOL.groupNormFwd, 'gn rstd');
      const gb = b.groupNormBackward(up(b, dy), up(b, x), up(b, gamma), go.mean, go.rstd, gg);
      const rb = ref.groupNormBackward(up(ref, dy), up(ref, x), up(ref, gamma), ro.mean, ro.rstd, gg);
      await same(b, gb.dx, rb.dx, TOL.groupNormGrad, 'gn dx');
      await same(b, gb.dgamma, rb.dgamma, TOL.groupNormGrad, 'gn dgamma');
      await same(b, gb.dbeta, rb.dbeta, TOL.groupNormGrad, 'gn dbeta');
    });

    it.each([
      ['a 3x3/2 stem-like conv (direct path), 10 output channels', conv(2, 1, 6, 10, 3, 2, 1)],
      ['a grouped 3x3/2 conv, 2 groups of 4', conv(2, 2, 5, 8, 3, 2, 1, 2)],
      ['a 1x1 conv whose output alone exceeds the limit (GEMM path)', conv(2, 2, 4, 8, 1, 1, 0)],
      [
        'an input sample above the limit (3 planes of 36 = 108 > 64): windows of 1 input plane',
        conv(2, 3, 6, 4, 3, 2, 1),
      ],
      ['a grouped conv, input 4 x 25 = 100 > 64: windows of 2 planes, 2 groups of 2', conv(2, 4, 5, 4, 3, 1, 1, 2)],
    ])('conv2d forward, gradInput, gradWeight: %s', async (_name, g) => {
      await sameConv(await small.get(mode), g, 21);
    });

    it('grouped gradInput by single input channels: output-channel blocks of the other group are skipped', async () => {
      const b = await small.get(mode);
      // hw 49 > 32: one input channel per launch; dy 6 x 16 = 96 > 64: output-channel blocks [0, 4) and [4, 6)
      const g = conv(2, 2, 7, 6, 3, 2, 1, 2);
      const w = rand(g.cout * g.kh * g.kw, 24);
      const dy = rand(g.n * g.cout * g.oh * g.ow, 25);
      const gi = b.conv2dGradInput(up(b, dy), up(b, w), g);
      await same(b, gi, ref.conv2dGradInput(up(ref, dy), up(ref, w), g), TOL.linear, 'gradInput');
    });

    it.each([
      [
        '10x10 max-pool 3x3/2 pad 1 (-inf padding): output-row blocks 2+2+1, dx rows 6+4',
        pool(2, 2, 10, 3, 2, 1, -Infinity),
      ],
      ['9x9 max-pool 3x3/1 pad 1, zero padding: output plane 81 > 64 too', pool(1, 2, 9, 3, 1, 1, 0)],
    ])('max-pool forward (values, indices) and backward: %s', async (_name, pg) => {
      const b = await small.get(mode);
      const x = rand(pg.n * pg.c * pg.h * pg.w, 31);
      const dy = rand(pg.n * pg.c * pg.oh * pg.ow, 32);
      const gm = b.maxPool2d(up(b, x), pg);
      const rm = ref.maxPool2d(up(ref, x), pg);
      await same(b, gm.out, rm.out, { rtol: 0, atol: 0 }, 'max');
      await same(b, gm.indices, rm.indices, { rtol: 0, atol: 0 }, 'argmax');
      const gdx = b.maxPool2dBackward(up(b, dy), gm.indices, pg);
      await same(b, gdx, ref.maxPool2dBackward(up(ref, dy), rm.indices, pg), TOL.linear, 'dx');
    });

    it('average pool 2x2/2 of a 10x10 plane, forward and backward', async () => {
      const b = await small.get(mode);
      const pg: Pool2dGeom = { n: 1, c: 3, h: 10, w: 10, kh: 2, kw: 2, stride: 2, oh: 5, ow: 5 };
      const x = rand(300, 33);
      const dy = rand(75, 34);
      await same(b, b.avgPool2d(up(b, x), pg), ref.avgPool2d(up(ref, x), pg), TOL.linear, 'avg');
      await same(b, b.avgPool2dBackward(up(b, dy), pg), ref.avgPool2dBackward(up(ref, dy), pg), TOL.linear, 'avg dx');
    });
  });
}
