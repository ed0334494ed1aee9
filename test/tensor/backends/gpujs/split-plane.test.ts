// One channel plane above the chunk limit (issue 20, point 2: an image above 2,896 x 2,896 in the stem): a direct
// convolution runs in bands of rows with the kernel's halo (kernels/conv-rows.ts), forward, gradInput and
// gradWeight. At chunk limit 64 on every gpu.js mode against the reference: first / last bands clipped by the
// padding, uneven last bands, stride 1 and 2, a stride above the kernel size, groups. A single row whose halo'd band
// cannot fit is a BackendError naming the row. Pooling whose output row with its kh input rows (or dx row with its dy
// rows) exceeds the limit runs row by row in column tiles (kernels/pool-rows.ts): max-pool values, argmax indices and
// dx, -Infinity and finite padding, a first-maximum tie across rows, NaN; average pool forward and backward.
import { afterAll, describe, expect, it } from 'vitest';
import { BackendError } from '../../../../src/errors.js';
import type { Conv2dGeom, MaxPool2dGeom, Pool2dGeom } from '../../../../src/tensor/backend.js';
import { TOL } from '../../../tolerances.js';
import { backendPool, MODES, rand, ref, same, sameConv, up } from './helpers.js';

const small = backendPool({ chunkLimit: 64 });
afterAll(() => small.dispose());

/** A pool geometry of n x c planes of h x w (square window k, stride s, padding pad with value padValue). */
function pool(n: number, c: number, h: number, w: number, k: number, s: number, pad: number, padValue: number) {
  const [oh, ow] = [Math.floor((h + 2 * pad - k) / s) + 1, Math.floor((w + 2 * pad - k) / s) + 1];
  return { n, c, h, w, kh: k, kw: k, stride: s, pad, padValue, oh, ow } satisfies MaxPool2dGeom;
}

function conv(n: number, cin: number, hw: number, cout: number, k: number, stride: number, pad: number, groups = 1) {
  const o = Math.floor((hw + 2 * pad - k) / stride) + 1;
  return { n, cin, h: hw, w: hw, cout, kh: k, kw: k, stride, pad, groups, oh: o, ow: o } satisfies Conv2dGeom;
}

for (const mode of MODES) {
  describe.skipIf(mode.skip !== null)(`gpujs-${mode.name}: one channel plane above the chunk limit`, () => {
    it.each([
      // input plane 100 > 64: output bands of 2 rows (halo'd input 5 rows x 10 = 50), dx bands of 4 + 4 + 2 rows
      ['a 3x3/2 pad 1 stem-like conv on 10x10, 2 samples', conv(2, 2, 10, 3, 3, 2, 1)],
      // input and output planes 81 > 64: output bands of 5 + 4 rows (input rows 7 and 6 with the halo)
      ['a 3x3/1 pad 1 conv on 9x9, 2 groups of 1 -> 2', conv(1, 2, 9, 4, 3, 1, 1, 2)],
      // 5x5/2 pad 2 on 12x12: one output row per band (halo 5 rows x 12 = 60)
      ['a 5x5/2 pad 2 conv on 12x12', conv(1, 1, 12, 2, 5, 2, 2)],
      // stride 3 > kernel 2: input rows 2 mod 3 reach no output (their gradient is 0)
      ['a 2x2/3 conv on 11x11, 2 input channels', conv(1, 2, 11, 2, 2, 3, 0)],
    ])('conv2d forward, gradInput, gradWeight: %s', async (_name, g) => {
      await sameConv(await small.get(mode), g, 41);
    });

    it('a 3x3 conv on 22-wide rows: the halo of one output row (3 x 22 = 66 > 64) is a BackendError', async () => {
      const b = await small.get(mode);
      const g = conv(1, 1, 22, 1, 3, 1, 1);
      const run = async () => b.read(b.conv2d(up(b, rand(484, 44)), up(b, rand(9, 45)), g));
      await expect(run()).rejects.toThrow(BackendError);
      await expect(run()).rejects.toThrow(/one output row \(ow=22\) with its 3-row input halo \(w=22\)/);
    });

    it.each([
      // a row of 70 > 64: 2 output-column tiles (31 + 4 windows), -inf padding rows skipped
      ['5 x 70 rows, 3x3/2 pad 1, -inf padding', pool(1, 2, 5, 70, 3, 2, 1, -Infinity)],
      // rows of 40 fit, 3 of them (120) do not; a finite padding value that wins where the data is below it
      ['6 x 40 rows, 3x3/1 pad 1, padding 0.25', pool(2, 1, 6, 40, 3, 1, 1, 0.25)],
    ])('max-pool with rows beyond the limit, values, indices and dx: %s', async (_name, pg) => {
      const b = await small.get(mode);
      const x = rand(pg.n * pg.c * pg.h * pg.w, 51);
      // ties across rows (the first row's maximum wins) and a NaN that must propagate to its windows
      for (let i = 0; i < 6; i++) x[pg.w + 3 + i] = x[3 + i]!;
      x[2 * pg.w + 17] = Number.NaN;
      const dy = rand(pg.n * pg.c * pg.oh * pg.ow, 52);
      const gm = b.maxPool2d(up(b, x), pg);
      const rm = ref.maxPool2d(up(ref, x), pg);
      // values: NaN where the reference has NaN (its windows), equal elsewhere
      const [gv, rv] = [await b.read(gm.out), await ref.read(rm.out)];
      expect(rv.filter(Number.isNaN).length).toBeGreaterThan(0);
      expect(Array.from(gv, (v) => (Number.isNaN(v) ? 'NaN' : v))).toEqual(
        Array.from(rv, (v) => (Number.isNaN(v) ? 'NaN' : v)),
      );
      await same(b, gm.indices, rm.indices, { rtol: 0, atol: 0 }, 'argmax');
      const gdx = b.maxPool2dBackward(up(b, dy), gm.indices, pg);
      await same(b, gdx, ref.maxPool2dBackward(up(ref, dy), rm.indices, pg), TOL.linear, 'dx');
    });

    it('average pool 2x2/2 over rows of 130 (> 64): forward and backward', async () => {
      const b = await small.get(mode);
      const pg: Pool2dGeom = { n: 1, c: 2, h: 4, w: 130, kh: 2, kw: 2, stride: 2, oh: 2, ow: 65 };
      const x = rand(2 * 4 * 130, 53);
      const dy = rand(2 * 2 * 65, 54);
      await same(b, b.avgPool2d(up(b, x), pg), ref.avgPool2d(up(ref, x), pg), TOL.linear, 'avg');
      await same(b, b.avgPool2dBackward(up(b, dy), pg), ref.avgPool2dBackward(up(ref, dy), pg), TOL.linear, 'avg dx');
    });
  });
}
