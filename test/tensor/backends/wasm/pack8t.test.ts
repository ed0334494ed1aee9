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
import { ModuleBuilder } from '../../../../src/tensor/backends/wasm/module-builder.js';
import { WA } from '../../../../src/tensor/backends/wasm/wasm-api.js';
import { rng } from './helpers.js';

const PAGES = 64; // 4 MiB
const NOSEG = 2 ** 30;
const m = new ModuleBuilder();
emitPackKernels(m);
const mem = new WA.Memory({ initial: PAGES, maximum: PAGES, shared: false });
const inst = new WA.Instance(new WA.Module(m.build(PAGES, PAGES, false)), { env: { mem } });
type Pack = (...args: number[]) => void;
const packers = {
  4: [inst.exports.pack4, inst.exports.pack4t],
  8: [inst.exports.pack8, inst.exports.pack8t],
} as Record<4 | 8, [Pack, Pack]>;

const SRC = 0; // source floats at byte 0 .. 2 MiB
const DST = 2 << 20; // panel at 2 MiB .. 4 MiB
const PANEL_FLOATS = (2 << 20) / 4;

/** The panel region after `pack(args)` on a poisoned destination. */
function run(pack: Pack, args: number[]): Float32Array {
  const heap = new Float32Array(mem.buffer);
  heap.fill(Number.NaN, DST / 4, DST / 4 + PANEL_FLOATS);
  pack(...args);
  return new Float32Array(mem.buffer, DST, PANEL_FLOATS).slice();
}

const sameBytes = (a: Float32Array, b: Float32Array) =>
  Buffer.compare(
    Buffer.from(a.buffer, a.byteOffset, a.byteLength),
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  ) === 0;

describe('wasm pack8t / pack4t', () => {
  it('write the same panel bytes as pack8 / pack4 on random layouts', () => {
    const heap = new Float32Array(mem.buffer);
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
