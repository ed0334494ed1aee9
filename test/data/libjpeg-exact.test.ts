// libjpeg-turbo's integer steps used for CMYK / YCCK JPEGs (src/data/libjpeg-exact.ts): hand-computed values
// from jidctint.c / jdsample.c / jdcolor.c / Pillow's cmyk2rgb, and properties against the float formulas they
// round. The end-to-end check against PIL's bytes is in decode-limits.test.ts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { idctIslow, pilCmykChannelToRgb, upsampleLibjpeg, ycckToCmy } from '../../src/data/libjpeg-exact.js';

const plane = (rows: number[][]) => ({
  data: Uint8Array.from(rows.flat()),
  width: rows[0]!.length,
  height: rows.length,
  stride: rows[0]!.length,
});
const transpose = (a: Uint8Array, w: number, h: number) => {
  const t = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) t[x * h + y] = a[y * w + x]!;
  return t;
};

describe('idctIslow', () => {
  it('a DC-only block is flat at 128 + round(dc * q / 8), clamped, placed at its offset', () => {
    for (const [dc, q, want] of [
      [10, 4, 133],
      [-3, 7, 125],
      [100, 16, 255],
      [-200, 16, 0],
    ] as const) {
      const coef = new Int32Array(64);
      coef[0] = dc;
      const out = new Uint8Array(16 * 9);
      idctIslow(coef, new Int32Array(64).fill(q), out, 16, 8, 1);
      expect(out.subarray(16 + 8, 16 + 16)).toEqual(new Uint8Array(8).fill(want));
      expect(out[16 * 8 + 15]).toBe(want);
      expect(out[16 + 7]).toBe(0); // left of the block: untouched
    }
  });

  it('is within 1 level of the exact float IDCT (random coefficients)', () => {
    const c = (u: number) => (u === 0 ? Math.SQRT1_2 : 1);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -60, max: 60 }), { minLength: 64, maxLength: 64 }), (coef) => {
        const out = new Uint8Array(64);
        idctIslow(coef, new Int32Array(64).fill(3), out, 8, 0, 0);
        for (let y = 0; y < 8; y++) {
          for (let x = 0; x < 8; x++) {
            let s = 0;
            for (let v = 0; v < 8; v++) {
              for (let u = 0; u < 8; u++) {
                s +=
                  c(u) *
                  c(v) *
                  3 *
                  coef[8 * v + u]! *
                  Math.cos(((2 * x + 1) * u * Math.PI) / 16) *
                  Math.cos(((2 * y + 1) * v * Math.PI) / 16);
              }
            }
            const exact = Math.min(255, Math.max(0, s / 4 + 128));
            expect(Math.abs(out[8 * y + x]! - exact)).toBeLessThanOrEqual(1);
          }
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('upsampleLibjpeg', () => {
  it('h2v1 fancy: 3/4 nearer + 1/4 further with biases 1 / 2, edges repeated', () => {
    expect([...upsampleLibjpeg(plane([[0, 100, 200]]), 2, 1, 6, 1)]).toEqual([0, 25, 75, 125, 175, 200]);
    // an odd output width drops the last sample
    expect([...upsampleLibjpeg(plane([[0, 100, 200]]), 2, 1, 5, 1)]).toEqual([0, 25, 75, 125, 175]);
  });

  it('h2v2 fancy: 9/16, 3/16, 3/16, 1/16 with biases 8 / 7', () => {
    const out = upsampleLibjpeg(
      plane([
        [0, 64, 128],
        [16, 80, 144],
      ]),
      2,
      2,
      6,
      4,
    );
    // row 0: colsums 3*row0 + row0 (top edge) = 4*row0; row 1: 3*row0 + row1
    expect([...out.subarray(0, 6)]).toEqual([0, 16, 48, 80, 112, 128]);
    // row 1 colsums: 16, 272, 528 -> (3*16+16+8)>>4 = 4, (3*16+272+7)>>4 = 20, (3*272+16+8)>>4 = 52, ...
    expect([...out.subarray(6, 12)]).toEqual([4, 20, 52, 84, 116, 132]);
  });

  it('components 2 samples wide or less replicate (libjpeg turns fancy h2 off)', () => {
    const out = upsampleLibjpeg(plane([[10, 200]]), 2, 2, 4, 2);
    expect([...out]).toEqual([10, 10, 200, 200, 10, 10, 200, 200]);
    // ratios other than h2v1 / h1v2 / h2v2 replicate too (libjpeg's int_upsample), even 3 samples wide
    expect([...upsampleLibjpeg(plane([[1, 2, 3]]), 2, 4, 6, 4)]).toEqual(Array(4).fill([1, 1, 2, 2, 3, 3]).flat());
  });

  it('h1v2 is h2v1 transposed; a constant plane stays constant in every mode', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 7 }),
        fc.integer({ min: 1, max: 5 }),
        fc.infiniteStream(fc.integer({ min: 0, max: 255 })),
        (h, w, stream) => {
          const rows = Array.from({ length: h }, () => Array.from({ length: w }, () => stream.next().value));
          const tall = upsampleLibjpeg(plane(rows), 1, 2, w, 2 * h);
          const cols = Array.from({ length: w }, (_, x) => rows.map((r) => r[x]!));
          const wide = upsampleLibjpeg(plane(cols), 2, 1, 2 * h, w);
          expect([...tall]).toEqual([...transpose(wide, 2 * h, w)]);
        },
      ),
      { numRuns: 50 },
    );
    for (const [hs, vs] of [
      [2, 2],
      [2, 1],
      [1, 2],
      [4, 1],
    ] as const) {
      const out = upsampleLibjpeg(plane([Array(5).fill(77), Array(5).fill(77)]), hs, vs, 5 * hs - 1, 2 * vs);
      expect(out.every((v) => v === 77)).toBe(true);
    }
  });
});

describe('colour steps', () => {
  it('ycckToCmy: libjpeg table values', () => {
    expect([...ycckToCmy(128, 128, 128)]).toEqual([127, 127, 127]);
    expect([...ycckToCmy(255, 128, 128)]).toEqual([0, 0, 0]);
    expect([...ycckToCmy(100, 40, 220)]).toEqual([26, 190, 255]); // blue: 255 - (100 - 156) clamps
  });

  it('ycckToCmy rounds 255 - the float JFIF YCbCr -> RGB to nearest (16-bit fixed point)', () => {
    fc.assert(
      fc.property(fc.nat(255), fc.nat(255), fc.nat(255), (y, cb, cr) => {
        const clamp = (v: number) => Math.min(255, Math.max(0, v));
        const want = [
          255 - clamp(y + 1.402 * (cr - 128)),
          255 - clamp(y - 0.34414 * (cb - 128) - 0.71414 * (cr - 128)),
          255 - clamp(y + 1.772 * (cb - 128)),
        ];
        const got = ycckToCmy(y, cb, cr);
        for (let i = 0; i < 3; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(0.51);
      }),
      { numRuns: 300 },
    );
  });

  it("pilCmykChannelToRgb: Pillow's k * v / 255 on libjpeg's (Adobe-inverted) samples", () => {
    expect(pilCmykChannelToRgb(255, 255)).toBe(255); // no ink
    expect(pilCmykChannelToRgb(0, 255)).toBe(0);
    expect(pilCmykChannelToRgb(200, 0)).toBe(0); // full black
    expect(pilCmykChannelToRgb(128, 128)).toBe(64);
    fc.assert(
      fc.property(fc.nat(255), fc.nat(255), (v, k) => {
        expect(Math.abs(pilCmykChannelToRgb(v, k) - (k * v) / 255)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 300 },
    );
  });
});
