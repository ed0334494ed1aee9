/**
 * Transforms: BiT train/eval and timm-style pipelines keep shapes and value ranges (property tests), crops stay
 * in bounds, flip twice is the identity, color jitter factors behave as torchvision's, and hand-checked cases.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cropView, fromView, hflipView, type RawImage, toView } from '../../src/data/image.js';
import { resize } from '../../src/data/resize.js';
import { Rng } from '../../src/data/rng.js';
import {
  applyTransform,
  bitResolution,
  centerCropParams,
  colorJitter,
  randomCropParams,
  randomResizedCropParams,
  roundHalfEven,
  scalingRange,
  type TransformSpec,
  validateSpec,
} from '../../src/data/transforms.js';
import { ConfigError } from '../../src/errors.js';

function img(h: number, w: number, c: number, seed: number): RawImage {
  const r = new Rng(seed);
  return { data: Uint8Array.from({ length: h * w * c }, () => r.nextInt(256)), height: h, width: w, channels: c };
}

const imageArb = fc
  .record({
    h: fc.integer({ min: 1, max: 24 }),
    w: fc.integer({ min: 1, max: 24 }),
    c: fc.constantFrom(1, 3, 4),
    seed: fc.integer(),
  })
  .map(({ h, w, c, seed }) => img(h, w, c, seed));

const specArb: fc.Arbitrary<TransformSpec> = fc.oneof(
  fc
    .record({ crop: fc.integer({ min: 1, max: 16 }), extra: fc.integer({ min: 0, max: 8 }) })
    .map(({ crop, extra }) => ({ kind: 'bit-train' as const, precrop: crop + extra, crop })),
  fc.integer({ min: 1, max: 16 }).map((crop) => ({ kind: 'bit-eval' as const, crop })),
  fc
    .record({ size: fc.integer({ min: 1, max: 16 }), j: fc.double({ min: 0, max: 0.9, noNaN: true }) })
    .map(({ size, j }) => ({
      kind: 'rrc-train' as const,
      size,
      jitter: { brightness: j, contrast: j, saturation: j },
    })),
  fc
    .record({ size: fc.integer({ min: 1, max: 16 }), pct: fc.double({ min: 0.3, max: 1, noNaN: true }) })
    .map(({ size, pct }) => ({ kind: 'center-eval' as const, size, cropPct: pct })),
);

function outSize(spec: TransformSpec): number {
  switch (spec.kind) {
    case 'bit-train':
    case 'bit-eval':
      return spec.crop;
    case 'rrc-train':
    case 'center-eval':
      return spec.size;
    default:
      return -1;
  }
}

describe('transforms', () => {
  it('every transform gives 3 x S x S output within the scaling range (property)', () => {
    fc.assert(
      fc.property(imageArb, specArb, fc.integer(), (image, spec, seed) => {
        const out = applyTransform(spec, image, new Rng(seed));
        const s = outSize(spec);
        if (out.channels !== 3 || out.height !== s || out.width !== s) return false;
        if (out.data.length !== 3 * s * s) return false;
        const scaling = spec.kind.startsWith('bit') ? 'pm1' : 'imagenet';
        for (let k = 0; k < 3; k++) {
          const [lo, hi] = scalingRange(scaling, k);
          for (let i = k * s * s; i < (k + 1) * s * s; i++) {
            const v = out.data[i]!;
            if (!(v >= lo - 1e-5 && v <= hi + 1e-5)) return false;
          }
        }
        return true;
      }),
      { numRuns: 150 },
    );
  });

  it('is deterministic for a given rng seed', () => {
    const image = img(20, 30, 3, 1);
    const spec: TransformSpec = {
      kind: 'rrc-train',
      size: 12,
      jitter: { brightness: 0.4, contrast: 0.4, saturation: 0.4 },
    };
    const a = applyTransform(spec, image, new Rng(9)).data;
    const b = applyTransform(spec, image, new Rng(9)).data;
    const c = applyTransform(spec, image, new Rng(10)).data;
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });

  it('crop parameters stay in bounds (random, center, random-resized)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer(),
        fc.double({ min: 0.01, max: 1, noNaN: true }),
        fc.double({ min: 0.2, max: 5, noNaN: true }),
        (h, w, seed, s0, r0) => {
          const rng = new Rng(seed);
          const ch = 1 + (Math.abs(seed) % h);
          const cw = 1 + (Math.abs(seed >> 4) % w);
          const rc = randomCropParams(rng, h, w, ch, cw);
          const cc = centerCropParams(h, w, ch, cw);
          const p = randomResizedCropParams(rng, h, w, [s0, 1], [r0, r0 * 1.5]);
          const inside = (t: number, l: number, hh: number, ww: number) =>
            t >= 0 && l >= 0 && hh >= 1 && ww >= 1 && t + hh <= h && l + ww <= w;
          return (
            inside(rc.top, rc.left, ch, cw) &&
            inside(cc.top, cc.left, ch, cw) &&
            inside(p.top, p.left, p.height, p.width)
          );
        },
      ),
      { numRuns: 300 },
    );
  });

  it('random-resized-crop respects scale and ratio when an attempt fits, else falls back to a center crop', () => {
    const rng = new Rng(4);
    for (let i = 0; i < 200; i++) {
      const p = randomResizedCropParams(rng, 200, 300);
      const area = (p.height * p.width) / (200 * 300);
      expect(area).toBeGreaterThan(0.07);
      expect(area).toBeLessThanOrEqual(1);
      expect(p.width / p.height).toBeGreaterThan(0.7);
      expect(p.width / p.height).toBeLessThan(1.4);
    }
    // a 1x100 strip never fits a ratio in [3/4, 4/3]: fallback is the centered 1x1 crop (round(1*4/3) = 1)
    const f = randomResizedCropParams(new Rng(1), 1, 100);
    expect(f).toEqual({ top: 0, left: 49, height: 1, width: 1 });
    // scale pinned to 1 on a square image: the whole image
    expect(randomResizedCropParams(new Rng(2), 10, 10, [1, 1], [1, 1])).toEqual({
      top: 0,
      left: 0,
      height: 10,
      width: 10,
    });
  });

  it('flip twice is the identity and a flip mirrors columns (property)', () => {
    fc.assert(
      fc.property(imageArb, (image) => {
        const v = toView(image);
        const twice = fromView(hflipView(hflipView(v)));
        if (!twice.data.every((x, i) => x === image.data[i])) return false;
        const once = hflipView(v);
        const { width: w, channels: c } = image;
        return once.get(0, 0, c - 1) === image.data[(w - 1) * c + c - 1];
      }),
    );
  });

  it('cropView is copy-free and reads the right pixels', () => {
    const image = img(6, 8, 3, 5);
    const v = cropView(toView(image), 2, 3, 2, 4);
    expect(v.data).toBe(image.data);
    expect(v.get(1, 2, 1)).toBe(image.data[(3 * 8 + 5) * 3 + 1]);
    expect(() => cropView(toView(image), 5, 0, 2, 2)).toThrow();
  });

  it('bit-train = square resize, crop, optional flip, x/127.5-1', () => {
    const image = img(10, 14, 3, 7);
    const spec: TransformSpec = { kind: 'bit-train', precrop: 12, crop: 8 };
    let flips = 0;
    for (let seed = 0; seed < 40; seed++) {
      const out = applyTransform(spec, image, new Rng(seed));
      const rng = new Rng(seed);
      const { top, left } = randomCropParams(rng, 12, 12, 8, 8);
      const flip = rng.nextFloat() < 0.5;
      flips += flip ? 1 : 0;
      let v = cropView(toView(resize(image, 12, 12)), top, left, 8, 8);
      if (flip) v = hflipView(v);
      // channel 1, row 3, column 5
      expect(out.data[64 + 3 * 8 + 5]).toBeCloseTo(v.get(3, 5, 1) / 127.5 - 1, 5);
    }
    expect(flips).toBeGreaterThan(8);
    expect(flips).toBeLessThan(32);
    // constant images map to exactly -1 and 1
    const white = { data: new Uint8Array(5 * 5 * 3).fill(255), height: 5, width: 5, channels: 3 };
    expect(applyTransform({ kind: 'bit-eval', crop: 3 }, white, new Rng(0)).data.every((x) => x === 1)).toBe(true);
    const black = { data: new Uint8Array(5 * 5).fill(0), height: 5, width: 5, channels: 1 };
    expect(applyTransform(spec, black, new Rng(0)).data.every((x) => x === -1)).toBe(true);
  });

  it('center-eval resizes the shorter side to size/cropPct, then center-crops, ImageNet-normalized', () => {
    const image = img(32, 48, 3, 3);
    const out = applyTransform({ kind: 'center-eval', size: 16, cropPct: 0.5 }, image, new Rng(0));
    const full = resize(image, 32, 48);
    // shorter side 32 -> 32 (no-op), center crop 16: top 8, left 16; check channel 2 at (4, 9)
    const raw = full.data[((8 + 4) * 48 + 16 + 9) * 3 + 2]!;
    expect(out.data[2 * 256 + 4 * 16 + 9]).toBeCloseTo((raw / 255 - 0.406) / 0.225, 5);
  });

  it('color jitter: brightness scales, saturation keeps gray, contrast keeps constants', () => {
    const rng = new Rng(1);
    const image = img(4, 4, 3, 2);
    const b = colorJitter(image, rng, { brightness: 0.5 });
    const ratios = new Set<number>();
    image.data.forEach((x, i) => {
      if (x > 10 && b.data[i]! < 255) ratios.add(Math.round((b.data[i]! / x) * 1e4));
    });
    expect(ratios.size).toBe(1);
    const f = [...ratios][0]! / 1e4;
    expect(f).toBeGreaterThanOrEqual(0.5);
    expect(f).toBeLessThanOrEqual(1.5);
    const gray = { data: new Uint8Array(4 * 4 * 3).fill(77), height: 4, width: 4, channels: 3 };
    const g = colorJitter(gray, rng, { contrast: 0.8, saturation: 0.8 });
    for (const v of g.data) expect(v).toBeCloseTo(77, 3);
    // jitter 0 is the identity
    const id = colorJitter(image, rng, { brightness: 0, contrast: 0, saturation: 0 });
    expect(Array.from(id.data)).toEqual(Array.from(image.data));
  });

  it('bitResolution follows the HyperRule', () => {
    expect(bitResolution(32, 32)).toEqual({ precrop: 160, crop: 128 });
    expect(bitResolution(224, 224)).toEqual({ precrop: 512, crop: 480 });
    expect(bitResolution(224, 224, 'paper')).toEqual({ precrop: 448, crop: 384 });
  });

  it('roundHalfEven matches Python round', () => {
    expect([0.5, 1.5, 2.5, -0.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, 2, 3]);
  });

  it('validateSpec rejects bad options with ConfigError', () => {
    expect(() => validateSpec({ kind: 'bit-train', precrop: 8, crop: 16 })).toThrow(ConfigError);
    expect(() => validateSpec({ kind: 'bit-eval', crop: 0 })).toThrow(ConfigError);
    expect(() => validateSpec({ kind: 'center-eval', size: 8, cropPct: 1.5 })).toThrow(ConfigError);
    expect(() => validateSpec({ kind: 'nope' } as unknown as TransformSpec)).toThrow(ConfigError);
  });
});
