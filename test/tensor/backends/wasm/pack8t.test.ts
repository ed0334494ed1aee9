/**
 * `pack8t` / `pack4t` (src/tensor/backends/wasm/kernels-pack.ts) against `pack8` / `pack4`, called directly on one
 * memory with the same arguments: the panels (and everything around them) must be the same bytes. Sources are random NCHW-like
 * layouts: channel planes contiguous along K in segments (images) of a multiple of 4 (the fast path), segments not
 * a multiple of 4, K-strided sources and d0 / dCount off the 4-step grid (the fallback to the generic packer), strips crossing
 * segments along s, and partial last strips.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { emitPackKernels } from '../../../../src/tensor/backends/wasm/kernels-pack.js';
import { rng } from './helpers.js';
import { DST, NOSEG, PANEL_FLOATS, type Pack, packerHarness, SRC, sameBytes } from './packer-harness.js';

const { kernels, heap: heapView, run } = packerHarness(emitPackKernels);
const packers = {
  4: [kernels.pack4, kernels.pack4t],
  8: [kernels.pack8, kernels.pack8t],
} as Record<4 | 8, [Pack, Pack]>;

describe('wasm pack8t / pack4t', () => {
  it('write the same panel bytes as pack8 / pack4 on random layouts', () => {
    const heap = heapView();
    heap.set(Float32Array.from(rng(5)((2 << 20) / 4)), SRC / 4);
    fc.assert(
      fc.property(
        fc.record({
          P: fc.constantFrom(4, 8),
          planes: fc.integer({ min: 1, max: 40 }),
          hw: fc.constantFrom(1, 3, 4, 8, 16, 36, 64, 256, 300),
          images: fc.integer({ min: 1, max: 6 }),
          dStride: fc.constantFrom(1, 1, 1, 2),
          sSeg: fc.constantFrom(NOSEG, NOSEG, 5, 8),
          noDSeg: fc.boolean(),
          s0f: fc.double({ min: 0, max: 1, noNaN: true }),
          d0f: fc.double({ min: 0, max: 1, noNaN: true }),
          d0Align: fc.constantFrom(1, 4, 4),
          countF: fc.double({ min: 0, max: 1, noNaN: true }),
        }),
        ({ P, planes, hw, images, dStride, sSeg, noDSeg, s0f, d0f, d0Align, countF }) => {
          // element (s, d) at (s/sSeg)*sSegStride + (s%sSeg)*sStride + (d/dSeg)*dSegStride + (d%dSeg)*dStride
          const dSeg = noDSeg ? NOSEG : hw;
          const K = noDSeg ? hw : images * hw;
          const sStride = hw * dStride;
          const sSegStride = sSeg === NOSEG ? 0 : sSeg * sStride + 7; // s segments apart (odd gap)
          const dSegStride = planes * sStride;
          const s0 = Math.floor(s0f * (planes - 1));
          const sCount = Math.max(1, Math.floor(countF * (planes - s0)));
          const d0 = Math.floor((d0f * (K - 1)) / d0Align) * d0Align;
          const dCount = Math.max(1, Math.min(256, K - d0));
          const last = Math.max(
            ...[0, sCount - 1].map(
              (ds) =>
                Math.floor((s0 + ds) / sSeg) * sSegStride +
                ((s0 + ds) % sSeg) * sStride +
                Math.floor((d0 + dCount - 1) / dSeg) * dSegStride +
                ((d0 + dCount - 1) % dSeg) * dStride,
            ),
          );
          fc.pre(last < (2 << 20) / 4 && Math.ceil(sCount / P) * P * dCount < PANEL_FLOATS);
          const args = [SRC, sStride * 4, sSeg, sSegStride * 4, dStride * 4, dSeg, dSegStride * 4];
          const all = [...args, s0, sCount, d0, dCount, DST];
          const [generic, fast] = packers[P as 4 | 8];
          expect(sameBytes(run(fast, all), run(generic, all)), `P ${P} ${JSON.stringify(all)}`).toBe(true);
        },
      ),
      { numRuns: 400, seed: 11 },
    );
  });
});
