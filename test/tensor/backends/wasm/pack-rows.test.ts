/**
 * `packRowsK` / `packRowsM` (src/tensor/backends/wasm/kernels-pack-rows.ts) against the scalar `packRows`, called
 * directly on one memory with the same arguments: the R-row strips (and the bytes around them) must be the same.
 * Sources are random weight-like layouts: rows contiguous along K (conv forward's W, row pitch >= K) for packRowsK,
 * K steps with contiguous rows (grad-input's W^T) for packRowsM; full and partial last strips, dCount off the 4-step
 * grid, ranges starting inside a segment, packRowsK on sources cut into segments along both s and K (grad-weight's
 * dY, K running over the images), and the planner's choice itself (./gemm-pack-commands.ts rowsPacker).
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rowsPacker } from '../../../../src/tensor/backends/wasm/gemm-pack-commands.js';
import { emitPackR, emitPackRowsVec, ROWS_R } from '../../../../src/tensor/backends/wasm/kernels-pack-rows.js';
import { rng } from './helpers.js';
import { DST, NOSEG, packerHarness, SRC, sameBytes } from './packer-harness.js';

const { kernels, heap, run } = packerHarness((m) => {
  emitPackR(m);
  emitPackRowsVec(m);
});
const { packRows, packRowsK, packRowsM } = kernels;

describe('wasm packRowsK / packRowsM', () => {
  it('write the same strip bytes as the scalar packRows on random layouts', () => {
    heap().set(Float32Array.from(rng(7)((2 << 20) / 4)), SRC / 4);
    const full = { K: 0, M: 0 }; // cases with at least one full strip and one 4-step K block
    fc.assert(
      fc.property(
        fc.record({
          kind: fc.constantFrom<'K' | 'M'>('K', 'M'),
          rows: fc.integer({ min: 1, max: 60 }),
          K: fc.integer({ min: 1, max: 300 }),
          pad: fc.integer({ min: 0, max: 9 }),
          segQ: fc.integer({ min: 0, max: 2 }),
          r: fc.array(fc.integer({ min: 0, max: 1 << 20 }), { minLength: 4, maxLength: 4 }),
        }),
        ({ kind, rows, K, pad, segQ, r }) => {
          // K: element (s, d) at s*(K + pad) + d; M: at d*(rows + pad) + s. The whole matrix is segment segQ of
          // segments rows (along s) and K (along d) long, placed an odd gap apart, so the packed range starts inside it.
          const [sStride, dStride] = kind === 'K' ? [K + pad, 1] : [1, rows + pad];
          const size = kind === 'K' ? rows * (K + pad) : K * (rows + pad);
          const [sSeg, dSeg] = segQ === 0 ? [NOSEG, NOSEG] : [rows, K];
          const segStride = size + 3;
          // fast-check shrinks towards small values: plain uniform picks from raw integers keep full strips common
          const [r0, c0] = [r[0]! % rows, r[1]! % K];
          const sCount = 1 + (r[2]! % (rows - r0));
          const dCount = 1 + (r[3]! % Math.min(256, K - c0));
          const s0 = segQ * (sSeg === NOSEG ? 0 : rows) + r0;
          const d0 = segQ * (dSeg === NOSEG ? 0 : K) + c0;
          fc.pre((2 * segQ + 1) * segStride < (2 << 20) / 4);
          const args = [SRC, sStride * 4, sSeg, segStride * 4, dStride * 4, dSeg, segStride * 4];
          const all = [...args, s0, sCount, d0, dCount, DST];
          const src = { kind: 'strided', ptr: 0, sStride, dStride, sSeg, dSeg } as const;
          expect(rowsPacker(src, s0, sCount, d0, dCount)).toBe(`packRows${kind}`);
          if (sCount >= ROWS_R && dCount >= 4) full[kind]++;
          const fast = kind === 'K' ? packRowsK! : packRowsM!;
          expect(sameBytes(run(fast, all), run(packRows!, all)), `${kind} ${JSON.stringify(all)}`).toBe(true);
          // and the strips hold the source values (not only agreement): A(s0 + i, d0 + j) at strip i/R, row i%R
          const h = heap();
          const at = (i: number, j: number) =>
            h[
              Math.floor((s0 + i) / sSeg) * segStride +
                ((s0 + i) % sSeg) * sStride +
                Math.floor((d0 + j) / dSeg) * segStride +
                ((d0 + j) % dSeg) * dStride
            ]!;
          const out = run(fast, all);
          const i = sCount - 1;
          const j = dCount - 1;
          expect(out[Math.floor(i / ROWS_R) * ROWS_R * dCount + j * ROWS_R + (i % ROWS_R)]).toBe(at(i, j));
          expect(out[0]).toBe(at(0, 0));
        },
      ),
      { numRuns: 400, seed: 23 },
    );
    // the vector paths were exercised, not only the scalar partial strip
    expect(Math.min(full.K, full.M)).toBeGreaterThan(50);
  });

  it('packRowsK writes the scalar bytes on segmented sources (grad-weight dY: K over images, rows in s segments)', () => {
    heap().set(Float32Array.from(rng(9)((2 << 20) / 4)), SRC / 4);
    let vec = 0;
    fc.assert(
      fc.property(
        fc.record({
          planes: fc.integer({ min: 1, max: 40 }),
          hw: fc.constantFrom(1, 2, 3, 4, 6, 8, 16, 36, 64, 100),
          images: fc.integer({ min: 1, max: 6 }),
          sSeg: fc.constantFrom(NOSEG, NOSEG, 3, 5, 8, 12),
          pad: fc.integer({ min: 0, max: 5 }),
          r: fc.array(fc.integer({ min: 0, max: 1 << 20 }), { minLength: 4, maxLength: 4 }),
        }),
        ({ planes, hw, images, sSeg, pad, r }) => {
          // element (s, d = img*hw + p) at (s/sSeg)*sSegStride + (s%sSeg)*(hw + pad) + img*dSegStride + p
          const sStride = hw + pad;
          const sSegStride = sSeg === NOSEG ? 0 : sSeg * sStride + 7;
          const planeSpan = sSeg === NOSEG ? planes * sStride : Math.ceil(planes / sSeg) * sSegStride;
          const dSegStride = planeSpan + 3;
          const K = images * hw;
          const [s0, d0] = [r[0]! % planes, r[1]! % K];
          const sCount = 1 + (r[2]! % (planes - s0));
          const dCount = 1 + (r[3]! % Math.min(256, K - d0));
          fc.pre(images * dSegStride < (2 << 20) / 4);
          if (sCount >= ROWS_R && dCount >= 4 && hw >= 4) vec++;
          const all = [SRC, sStride * 4, sSeg, sSegStride * 4, 4, hw, dSegStride * 4, s0, sCount, d0, dCount, DST];
          const src = { kind: 'strided', ptr: 0, sStride, dStride: 1, sSeg, dSeg: hw } as const;
          expect(rowsPacker(src, s0, sCount, d0, dCount)).toBe('packRowsK');
          expect(sameBytes(run(packRowsK!, all), run(packRows!, all)), JSON.stringify(all)).toBe(true);
        },
      ),
      { numRuns: 400, seed: 29 },
    );
    expect(vec).toBeGreaterThan(50);
  });

  it('leave segment-crossing (M), strided and switched-off ranges to the scalar packer', () => {
    const src = { kind: 'strided', ptr: 0, sStride: 1, dStride: 40, sSeg: 8, dSeg: NOSEG } as const;
    expect(rowsPacker(src, 6, 5, 0, 16)).toBe('packRows'); // rows 6..10 cross s segment 0 | 1
    expect(rowsPacker(src, 8, 5, 0, 16)).toBe('packRowsM');
    expect(rowsPacker({ ...src, sSeg: NOSEG, dSeg: 10 }, 0, 5, 5, 8)).toBe('packRows'); // d 5..12 crosses 10
    expect(rowsPacker({ ...src, sStride: 40, dStride: 1, dSeg: 10 }, 6, 5, 5, 8)).toBe('packRowsK'); // K: any segments
    expect(rowsPacker({ ...src, sStride: 3, dStride: 7 }, 0, 5, 0, 8)).toBe('packRows');
    const old = process.env.BIT_PACKROWS_VEC;
    process.env.BIT_PACKROWS_VEC = '0';
    try {
      expect(rowsPacker(src, 8, 5, 0, 16)).toBe('packRows');
      expect(rowsPacker({ ...src, sStride: 40, dStride: 1 }, 8, 5, 0, 16)).toBe('packRows');
    } finally {
      if (old === undefined) delete process.env.BIT_PACKROWS_VEC;
      else process.env.BIT_PACKROWS_VEC = old;
    }
  });
});
