// Launches above the chunk limit split instead of throwing (issue 20, point 2): a GEMM whose single batch item
// exceeds the limit splits its rows (forward conv / gradWeight of a wide 1x1 conv, the BiT-M head's shape) or its
// summed axis (gradInput: A transposed), and weight standardization runs in groups of whole filters. Run at chunk
// limit 64 on every gpu.js mode (webgpu: device-resident pieces assembled on the device) against the reference.
import { afterAll, describe, it } from 'vitest';
import { TOL } from '../../../tolerances.js';
import { backendPool, MODES, rand, ref, same, up } from './helpers.js';

const small = backendPool({ chunkLimit: 64 });
afterAll(() => small.dispose());

for (const mode of MODES) {
  describe.skipIf(mode.skip !== null)(`gpujs-${mode.name} above the chunk limit`, () => {
    it('a 1x1 conv whose weight exceeds the limit: forward, gradInput, gradWeight', async () => {
      const b = await small.get(mode);
      // weight 20 x 12 = 240 > 64 cells: rows (cout) split forward and for gradWeight, k (cout) split for gradInput
      const g = { n: 2, cin: 12, h: 1, w: 2, cout: 20, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1, oh: 1, ow: 2 };
      const x = rand(2 * 12 * 2, 1);
      const w = rand(20 * 12, 2);
      const dy = rand(2 * 20 * 2, 3);
      await same(b, b.conv2d(up(b, x), up(b, w), g), ref.conv2d(up(ref, x), up(ref, w), g), TOL.linear, 'fwd');
      await same(
        b,
        b.conv2dGradInput(up(b, dy), up(b, w), g),
        ref.conv2dGradInput(up(ref, dy), up(ref, w), g),
        TOL.linear,
        'gradInput',
      );
      await same(
        b,
        b.conv2dGradWeight(up(b, x), up(b, dy), g),
        ref.conv2dGradWeight(up(ref, x), up(ref, dy), g),
        TOL.linear,
        'gradWeight',
      );
    });

    it('a matmul whose operands exceed the limit, plain and transposed', async () => {
      const b = await small.get(mode);
      for (const [transA, transB] of [
        [false, false],
        [true, false],
        [false, true],
      ] as const) {
        const g = { batch: 2, m: 17, k: 9, n: 3, transA, transB };
        const a = rand(2 * 17 * 9, 4);
        const c = rand(2 * 9 * 3, 5);
        await same(
          b,
          b.matmul(up(b, a), up(b, c), g),
          ref.matmul(up(ref, a), up(ref, c), g),
          TOL.linear,
          `matmul ${transA} ${transB}`,
        );
      }
    });

    it('weight standardization of a weight above the limit, forward and backward', async () => {
      const b = await small.get(mode);
      const [o, fanIn] = [10, 18];
      const w = rand(o * fanIn, 6);
      const dy = rand(o * fanIn, 7);
      const gb = b.weightStandardize(up(b, w), o, fanIn, 1e-5);
      const rb = ref.weightStandardize(up(ref, w), o, fanIn, 1e-5);
      await same(b, gb.y, rb.y, TOL.groupNormGrad, 'ws y');
      await same(b, gb.mean, rb.mean, TOL.groupNormGrad, 'ws mean');
      await same(b, gb.rstd, rb.rstd, TOL.groupNormGrad, 'ws rstd');
      await same(
        b,
        b.weightStandardizeBackward(up(b, dy), up(b, w), gb.mean, gb.rstd, o, fanIn),
        ref.weightStandardizeBackward(up(ref, dy), up(ref, w), rb.mean, rb.rstd, o, fanIn),
        TOL.groupNormGrad,
        'ws backward',
      );
    });
  });
}
