/**
 * Bilinear resampling against values computed by hand (Pillow's precompute_coeffs formula with the triangle
 * filter; torch align_corners=False when antialias is off): upscaling, 2x and 8x downscaling with and without
 * antialias, 2-D separability, fused crop regions, value-range preservation.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cropView, fromView, type RawImage, toView } from '../../src/data/image.js';
import { resize, shorterSideSize } from '../../src/data/resize.js';
import { ConfigError } from '../../src/errors.js';

const row = (vals: number[]): RawImage => ({
  data: Float32Array.from(vals),
  height: 1,
  width: vals.length,
  channels: 1,
});

const arr = (img: RawImage) => Array.from(img.data);

describe('resize', () => {
  it('upscales 1x2 -> 1x4 with half-pixel centers and edge clamping', () => {
    expect(arr(resize(row([0, 100]), 1, 4))).toEqual([0, 25, 75, 100]);
  });

  it('downscales 1x4 -> 1x2: plain bilinear averages neighbours, antialias widens the support', () => {
    expect(arr(resize(row([0, 10, 20, 30]), 1, 2, { antialias: false }))).toEqual([5, 25]);
    // Pillow: support 2, taps (0.75, 0.75, 0.25)/1.75 and (0.25, 0.75, 0.75)/1.75
    const aa = arr(resize(row([0, 10, 20, 30]), 1, 2));
    expect(aa[0]).toBeCloseTo(12.5 / 1.75, 5);
    expect(aa[1]).toBeCloseTo(40 / 1.75, 5);
  });

  it('8x downscale: antialias averages the whole footprint, plain bilinear aliases', () => {
    const impulse = row([80, 0, 0, 0, 0, 0, 0, 0]);
    // triangle weights 0.5625 0.6875 0.8125 0.9375 (mirrored), sum 6
    expect(resize(impulse, 1, 1).data[0]).toBeCloseTo((80 * 0.5625) / 6, 5);
    expect(resize(impulse, 1, 1, { antialias: false }).data[0]).toBe(0);
    const ramp = row([0, 10, 20, 30, 40, 50, 60, 70]);
    expect(resize(ramp, 1, 1).data[0]).toBeCloseTo(35, 5);
    expect(resize(ramp, 1, 1, { antialias: false }).data[0]).toBeCloseTo(35, 5);
  });

  it('2x2 -> 3x3 interpolates separably', () => {
    const img: RawImage = { data: Float32Array.from([0, 10, 20, 30]), height: 2, width: 2, channels: 1 };
    expect(arr(resize(img, 3, 3))).toEqual([0, 5, 10, 10, 15, 20, 20, 25, 30]);
  });

  it('keeps channels interleaved (HWC)', () => {
    const img: RawImage = { data: Uint8Array.from([0, 100, 200, 100, 200, 0]), height: 1, width: 2, channels: 3 };
    const out = resize(img, 1, 4);
    expect(out.channels).toBe(3);
    expect(arr(out)).toEqual([0, 100, 200, 25, 125, 150, 75, 175, 50, 100, 200, 0]);
  });

  it('same size is the identity', () => {
    const data = Uint8Array.from({ length: 5 * 7 * 3 }, (_, i) => (i * 37) % 256);
    const out = resize({ data, height: 5, width: 7, channels: 3 }, 5, 7);
    expect(arr(out)).toEqual(Array.from(data));
  });

  it('a region equals the crop of the full result, and values stay within the input range', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer(),
        (h, w, oh, ow, seed) => {
          const data = Uint8Array.from({ length: h * w * 3 }, (_, i) => (seed + i * 97) & 255);
          const img = { data, height: h, width: w, channels: 3 };
          const full = resize(img, oh, ow);
          let lo = 255;
          let hi = 0;
          for (const v of data) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
          for (const v of full.data) if (v < lo - 1e-3 || v > hi + 1e-3) return false;
          const top = Math.abs(seed) % oh;
          const left = Math.abs(seed >> 3) % ow;
          const region = { top, left, height: oh - top, width: ow - left };
          const part = resize(img, oh, ow, { region });
          const ref = fromView(cropView(toView(full), top, left, region.height, region.width));
          return part.data.every((v, i) => Math.abs(v - ref.data[i]!) < 1e-3);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('matches the torch align_corners=False formula (no antialias; and any upscale) on random sizes (property)', () => {
    // torch upsample_bilinear2d: src = max((dst + 0.5) * in/out - 0.5, 0), neighbours i0, min(i0 + 1, in - 1)
    const axis = (dst: number, inSize: number, outSize: number): [number, number, number] => {
      const src = Math.max((dst + 0.5) * (inSize / outSize) - 0.5, 0);
      const i0 = Math.floor(src);
      const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
      return [i0, i1, src - i0];
    };
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 15 }),
        fc.integer({ min: 1, max: 15 }),
        fc.integer({ min: 1, max: 31 }),
        fc.integer({ min: 1, max: 31 }),
        fc.integer(),
        (h, w, oh, ow, seed) => {
          const data = Uint8Array.from({ length: h * w }, (_, i) => (seed + i * 53) & 255);
          const img = { data, height: h, width: w, channels: 1 };
          const plain = resize(img, oh, ow, { antialias: false });
          const aa = resize(img, oh, ow);
          for (let y = 0; y < oh; y++) {
            const [y0, y1, ly] = axis(y, h, oh);
            for (let x = 0; x < ow; x++) {
              const [x0, x1, lx] = axis(x, w, ow);
              const at = (yy: number, xx: number) => data[yy * w + xx]!;
              const ref =
                (1 - ly) * ((1 - lx) * at(y0, x0) + lx * at(y0, x1)) + ly * ((1 - lx) * at(y1, x0) + lx * at(y1, x1));
              if (Math.abs(plain.data[y * ow + x]! - ref) > 1e-3) return false;
              if (oh >= h && ow >= w && Math.abs(aa.data[y * ow + x]! - ref) > 1e-3) return false;
            }
          }
          return true;
        },
      ),
      { numRuns: 150 },
    );
  });

  it('rejects bad sizes and regions with ConfigError', () => {
    expect(() => resize(row([1, 2]), 0, 2)).toThrow(ConfigError);
    expect(() => resize(row([1, 2]), 2, 2, { region: { top: 1, left: 0, height: 2, width: 2 } })).toThrow(ConfigError);
  });

  it('shorterSideSize keeps the aspect ratio like torchvision', () => {
    expect(shorterSideSize(100, 150, 64)).toEqual([64, 96]);
    expect(shorterSideSize(150, 100, 64)).toEqual([96, 64]);
    expect(shorterSideSize(3, 7, 5)).toEqual([5, 11]);
  });
});
