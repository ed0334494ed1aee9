// One channel plane above the chunk limit (issue 20, point 2: an image above 2,896 x 2,896 in the stem): a direct
// convolution runs in bands of rows with the kernel's halo (kernels/conv-rows.ts), forward, gradInput and
// gradWeight. At chunk limit 64 on every gpu.js mode against the reference: first / last bands clipped by the
// padding, uneven last bands, stride 1 and 2, a stride above the kernel size, groups. A single row whose halo'd band
// cannot fit is a BackendError naming the row.
import { afterAll, describe, expect, it } from 'vitest';
import { BackendError } from '../../../../src/errors.js';
import type { Conv2dGeom } from '../../../../src/tensor/backend.js';
import { TOL } from '../../../tolerances.js';
import { backendPool, MODES, rand, ref, same, up } from './helpers.js';

const small = backendPool({ chunkLimit: 64 });
afterAll(() => small.dispose());

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
      const b = await small.get(mode);
      const x = rand(g.n * g.cin * g.h * g.w, 41);
      const w = rand(g.cout * (g.cin / g.groups) * g.kh * g.kw, 42);
      const dy = rand(g.n * g.cout * g.oh * g.ow, 43);
      await same(b, b.conv2d(up(b, x), up(b, w), g), ref.conv2d(up(ref, x), up(ref, w), g), TOL.linear, 'fwd');
      const gi = b.conv2dGradInput(up(b, dy), up(b, w), g);
      await same(b, gi, ref.conv2dGradInput(up(ref, dy), up(ref, w), g), TOL.linear, 'gradInput');
      const gw = b.conv2dGradWeight(up(b, x), up(b, dy), g);
      await same(b, gw, ref.conv2dGradWeight(up(ref, x), up(ref, dy), g), TOL.linear, 'gradWeight');
    });

    it('a 3x3 conv on 22-wide rows: the halo of one output row (3 x 22 = 66 > 64) is a BackendError', async () => {
      const b = await small.get(mode);
      const g = conv(1, 1, 22, 1, 3, 1, 1);
      const run = async () => b.read(b.conv2d(up(b, rand(484, 44)), up(b, rand(9, 45)), g));
      await expect(run()).rejects.toThrow(BackendError);
      await expect(run()).rejects.toThrow(/one output row \(ow=22\) with its 3-row input halo \(w=22\)/);
    });
  });
}
