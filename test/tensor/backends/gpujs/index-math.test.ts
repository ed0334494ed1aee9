/**
 * Integer-exact kernel index arithmetic (src/tensor/backends/gpujs/kernels/index-math.ts), on every gpu.js mode.
 *
 * On cpu/webasm, division is correctly rounded, so these tests can only fail on webgpu (WGSL allows f32 division an
 * error of 2.5 ULP; SwiftShader computes x / w as x * f32(1/w), so 97 / 97 = 0.99999994). The extents below make
 * such quotients land just below an integer: widths w whose f32 reciprocal times w rounds below 1 (41, 47, 55, 61,
 * 97, 245, ...) next to small odd widths (3, 7, 13, 49, 193, 769); every output covers many multiples of them.
 * Also: the two counterexamples found on WebGPU (conv2d grad-weight at n1 cin5 cout7 13x13 k7, max-pool backward
 * 3x3/2 with overlapping windows), and the idiv expansion itself under an adversarial 2.5-ULP division.
 */

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { Conv2dGeom, GroupNormGeom, MaxPool2dGeom } from '../../../../src/tensor/backend.js';
import { expandIdiv } from '../../../../src/tensor/backends/gpujs/kernels/index-math.js';
import { TOL } from '../../../tolerances.js';
import { backendPool, MODES, rand, ref, same, up } from './helpers.js';

const pool = backendPool();
afterAll(() => pool.dispose());

/** Extents that put float quotients just below an integer (see the header). */
const WIDTHS = [3, 7, 13, 41, 47, 49, 55, 61, 97, 193, 245, 769] as const;
const arbWidth = fc.constantFrom(...WIDTHS);

describe('idiv expansion (kernels/index-math.ts)', () => {
  /** A JS function from expanded kernel-like source, with `div` in scope for the division. */
  const compile = (src: string, div?: (x: number, y: number) => number) =>
    new Function('div', `return ${src};`)(div) as (...xs: number[]) => number;

  it('expands every call, nested arguments included, and rejects malformed calls', () => {
    const src = expandIdiv('function k(t, w) { return idiv(t + Math.max(w, 1), w) * 10 + idiv(idiv(t, 2), w); }');
    expect(src).not.toMatch(/idiv/);
    const k = compile(src);
    for (const [t, w] of [
      [0, 1],
      [96, 97],
      [97, 97],
      [1000, 7],
      [2 ** 23 - 1, 3],
    ] as const) {
      expect(k(t, w)).toBe(Math.floor((t + w) / w) * 10 + Math.floor(Math.floor(t / 2) / w));
    }
    expect(() => expandIdiv('return idiv(t);')).toThrow(/two arguments/);
    expect(() => expandIdiv('return idiv(t, w, 1);')).toThrow(/two arguments/);
    expect(() => expandIdiv('return idiv(t, w;')).toThrow(/two arguments/);
    expect(expandIdiv('return fn_idiv(t, w) + x.idiv;')).toBe('return fn_idiv(t, w) + x.idiv;');
  });

  it('equals floor(a / b) for 0 <= a < 2^23, b >= 1 whatever the division returns within 2.5 ULP', () => {
    // The expansion with its division replaced by an adversary: any f32 within 2.5 ULP of the exact quotient (the
    // WGSL bound), from the lowest (pick 0) to the highest. The same pick for each copy of the estimate, as one
    // device gives for one expression.
    const site = /\(\(a\) \+ 0\.5\) \/ \(b\)/g;
    const src = expandIdiv('function f(a, b) { return idiv(a, b); }');
    expect(src.match(site)?.length).toBe(3);
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    const next = (v: number, dir: 1 | -1): number => {
      f32[0] = v;
      u32[0] = u32[0]! + dir;
      return f32[0]!;
    };
    /** Every f32 within 2.5 ULP of z > 0 (ULP: the f32 spacing around z), ascending. */
    const within = (z: number): number[] => {
      const lo = Math.fround(z) > z ? next(Math.fround(z), -1) : Math.fround(z);
      const ulp = next(lo, 1) - lo;
      let v = lo;
      while (v - z >= -2.5 * ulp) v = next(v, -1);
      const out: number[] = [];
      for (v = next(v, 1); v - z <= 2.5 * ulp; v = next(v, 1)) out.push(v);
      return out;
    };
    expect(within(4194304.5).length).toBeGreaterThanOrEqual(5);
    let pick = 0;
    const div = (x: number, y: number) => {
      const c = within(Math.fround(x) / y);
      return c[Math.min(pick, c.length - 1)]!;
    };
    const skewed = compile(src.replace(site, 'div((a) + 0.5, (b))'), div);
    fc.assert(
      fc.property(
        fc.oneof(arbWidth, fc.constantFrom(1, 2), fc.integer({ min: 1, max: 2 ** 20 })),
        fc.integer({ min: 0, max: 2 ** 23 - 1 }),
        fc.integer({ min: -2, max: 2 }),
        (b, a0, near) => {
          // Most cases sit next to a multiple of b, where a quotient just below an integer floors wrongly.
          const a = Math.min(2 ** 23 - 1, Math.max(0, near === 0 ? a0 : Math.round(a0 / b) * b + near));
          for (pick = 0; pick < 6; pick++) expect(skewed(a, b), `pick ${pick}`).toBe(Math.floor(a / b));
        },
      ),
      { numRuns: 3000, seed: 24 },
    );
  });
});

function convGeom(n: number, cin: number, cout: number, h: number, w: number, k: number, s: number, p: number) {
  const g: Conv2dGeom = {
    n,
    cin,
    h,
    w,
    cout,
    kh: k,
    kw: k,
    stride: s,
    pad: p,
    groups: 1,
    oh: Math.floor((h + 2 * p - k) / s) + 1,
    ow: Math.floor((w + 2 * p - k) / s) + 1,
  };
  return g;
}

const poolGeom = (n: number, c: number, h: number, w: number, k: number, s: number): MaxPool2dGeom => ({
  n,
  c,
  h,
  w,
  kh: k,
  kw: k,
  stride: s,
  oh: Math.floor((h - k) / s) + 1,
  ow: Math.floor((w - k) / s) + 1,
  pad: 0,
  padValue: Number.NEGATIVE_INFINITY,
});

for (const mode of MODES)
  describe.skipIf(mode.skip !== null)(`gpujs-${mode.name} exact index arithmetic`, () => {
    it('regression: conv2d grad-weight at n1 cin5 cout7 13x13 k7 s1 p0 (forward and grad-input too)', async () => {
      const g = await pool.get(mode);
      const cg = convGeom(1, 5, 7, 13, 13, 7, 1, 0);
      const x = rand(5 * 13 * 13, 101);
      const w = rand(7 * 5 * 49, 102);
      const dy = rand(7 * 7 * 7, 103);
      await same(
        g,
        g.conv2dGradWeight(up(g, x), up(g, dy), cg),
        ref.conv2dGradWeight(up(ref, x), up(ref, dy), cg),
        TOL.linear,
        'dw',
      );
      await same(g, g.conv2d(up(g, x), up(g, w), cg), ref.conv2d(up(ref, x), up(ref, w), cg), TOL.linear, 'y');
      await same(
        g,
        g.conv2dGradInput(up(g, dy), up(g, w), cg),
        ref.conv2dGradInput(up(ref, dy), up(ref, w), cg),
        TOL.linear,
        'dx',
      );
    });

    it.each([
      ['7x7 (a padded 5x5 stem input)', poolGeom(2, 3, 7, 7, 3, 2)],
      ['15x15 (a padded 13x13)', poolGeom(2, 3, 15, 15, 3, 2)],
    ])('regression: max-pool 3x3/2 backward, overlapping windows, %s', async (_name, pg) => {
      const g = await pool.get(mode);
      const x = rand(pg.n * pg.c * pg.h * pg.w, 104);
      const dy = rand(pg.n * pg.c * pg.oh * pg.ow, 105);
      const gm = g.maxPool2d(up(g, x), pg);
      const rm = ref.maxPool2d(up(ref, x), pg);
      await same(g, gm.out, rm.out, { rtol: 0, atol: 0 }, 'max');
      await same(g, gm.indices, rm.indices, { rtol: 0, atol: 0 }, 'argmax');
      const gdx = g.maxPool2dBackward(up(g, dy), gm.indices, pg);
      await same(g, gdx, ref.maxPool2dBackward(up(ref, dy), rm.indices, pg), TOL.linear, 'dx');
    });

    it('transposing an arange gives every thread its exact (row, column)', async () => {
      const g = await pool.get(mode);
      await fc.assert(
        fc.asyncProperty(arbWidth, arbWidth, async (r, c) => {
          // out [c, r] = src [r, c] transposed: out[t] = (t mod r) * c + floor(t / r), exact integers < 2^24.
          const src = Float32Array.from({ length: r * c }, (_, i) => i);
          const zero = g.upload([0], 'float32');
          const out = g.binary(
            'add',
            { buf: up(g, src), shape: [c, r], strides: [1, c], offset: 0 },
            { buf: zero, shape: [c, r], strides: [0, 0], offset: 0 },
            [c, r],
          );
          const got = await g.read(out);
          let bad = 0;
          for (let t = 0; t < r * c; t++) if (got[t] !== (t % r) * c + Math.floor(t / r)) bad++;
          expect(bad, `[${r}, ${c}] transposed`).toBe(0);
        }),
        { numRuns: 12, seed: 31 },
      );
    });

    it('elementwise, copy and matmul over extents with quotients just below an integer', async () => {
      const g = await pool.get(mode);
      await fc.assert(
        fc.asyncProperty(
          arbWidth,
          fc.integer({ min: 1, max: 9 }),
          fc.integer({ min: 1, max: 3 }),
          fc.integer({ min: 1, max: 1e6 }),
          async (w, r, k, seed) => {
            const shape = [r, 2, w];
            const a = rand(r * 2 * w, seed);
            const bias = rand(w, seed + 1);
            // a stored transposed ([w, 2, r] memory), bias broadcast over the two leading dims.
            const av = { shape, strides: [1, r, 2 * r], offset: 0 };
            const bv = { shape, strides: [0, 0, 1], offset: 0 };
            await same(
              g,
              g.binary('mul', { buf: up(g, a), ...av }, { buf: up(g, bias), ...bv }, shape),
              ref.binary('mul', { buf: up(ref, a), ...av }, { buf: up(ref, bias), ...bv }, shape),
              TOL.elementwise,
              `binary [${shape}]`,
            );
            // copy into a permuted slice of a larger buffer: the dst decomposition divides by w- and r-sized strides.
            const dv = { shape, strides: [1, (w + 1) * (r + 1), r + 1], offset: 1 };
            const big = rand(2 * (w + 1) * (r + 1) + 1, seed + 2);
            const [gd, rd] = [up(g, big), up(ref, big)];
            g.copy({ buf: up(g, a), ...av }, { buf: gd, ...dv });
            ref.copy({ buf: up(ref, a), ...av }, { buf: rd, ...dv });
            await same(g, gd, rd, { rtol: 0, atol: 0 }, `copy [${shape}]`);
            // matmul [r, k] x [k, w] and [w, k] x [k, r]: output index unravelled by w, then by r.
            for (const [m, n] of [
              [r, w],
              [w, r],
            ] as const) {
              const mg = { batch: 2, m, k, n, transA: false, transB: true };
              const ma = rand(2 * m * k, seed + 3);
              const mb = rand(2 * k * n, seed + 4);
              await same(
                g,
                g.matmul(up(g, ma), up(g, mb), mg),
                ref.matmul(up(ref, ma), up(ref, mb), mg),
                TOL.linear,
                `matmul ${m}x${n}`,
              );
            }
          },
        ),
        { numRuns: 16, seed: 32 },
      );
    });

    it('GroupNorm over hw with quotients just below an integer', async () => {
      const g = await pool.get(mode);
      await fc.assert(
        fc.asyncProperty(
          arbWidth,
          fc.integer({ min: 1, max: 2 }),
          fc.constantFrom(1, 3),
          fc.integer({ min: 1, max: 3 }),
          async (hw, n, groups, cg) => {
            const gg: GroupNormGeom = { n, c: groups * cg, hw, groups, eps: 1e-5 };
            const size = n * gg.c * hw;
            const [x, gamma, beta, dy] = [rand(size, hw), rand(gg.c, 2, 0.5, 1.5), rand(gg.c, 3), rand(size, 4)];
            const go = g.groupNorm(up(g, x), up(g, gamma), up(g, beta), gg);
            const ro = ref.groupNorm(up(ref, x), up(ref, gamma), up(ref, beta), gg);
            await same(g, go.y, ro.y, TOL.groupNormFwd, `gn y hw=${hw}`);
            const gb = g.groupNormBackward(up(g, dy), up(g, x), up(g, gamma), go.mean, go.rstd, gg);
            const rb = ref.groupNormBackward(up(ref, dy), up(ref, x), up(ref, gamma), ro.mean, ro.rstd, gg);
            await same(g, gb.dx, rb.dx, TOL.groupNormGrad, `gn dx hw=${hw}`);
            await same(g, gb.dgamma, rb.dgamma, TOL.groupNormGrad, `gn dgamma hw=${hw}`);
          },
        ),
        { numRuns: 12, seed: 33 },
      );
    });

    it('conv2d (GEMM and grouped direct kernels) and pooling over such extents', async () => {
      const g = await pool.get(mode);
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            n: fc.integer({ min: 1, max: 2 }),
            chans: fc.constantFrom([5, 7, 1], [1, 7, 1], [5, 5, 5], [3, 6, 3]),
            h: fc.constantFrom(7, 13),
            w: fc.constantFrom(3, 7, 13),
            k: fc.constantFrom(1, 3, 7),
            s: fc.constantFrom(1, 2, 3),
            p: fc.constantFrom(0, 1, 3),
            seed: fc.integer({ min: 1, max: 1e6 }),
          }),
          async ({ n, chans: [cin, cout, groups], h, w, k, s, p, seed }) => {
            fc.pre(h + 2 * p >= k && w + 2 * p >= k);
            const cg = { ...convGeom(n, cin, cout, h, w, k, s, p), groups };
            const x = rand(n * cin * h * w, seed);
            const wt = rand(cout * (cin / groups) * k * k, seed + 1);
            const dy = rand(n * cout * cg.oh * cg.ow, seed + 2);
            const tag = `conv [${n},${cin},${h},${w}] k${k} s${s} p${p} g${groups}`;
            await same(g, g.conv2d(up(g, x), up(g, wt), cg), ref.conv2d(up(ref, x), up(ref, wt), cg), TOL.linear, tag);
            await same(
              g,
              g.conv2dGradInput(up(g, dy), up(g, wt), cg),
              ref.conv2dGradInput(up(ref, dy), up(ref, wt), cg),
              TOL.linear,
              `${tag} dx`,
            );
            await same(
              g,
              g.conv2dGradWeight(up(g, x), up(g, dy), cg),
              ref.conv2dGradWeight(up(ref, x), up(ref, dy), cg),
              TOL.linear,
              `${tag} dw`,
            );
            if (h < 3 || w < 3) return;
            const pg = poolGeom(n, cin, h, w, 3, Math.min(s, 2));
            const pdy = rand(n * cin * pg.oh * pg.ow, seed + 3);
            const gm = g.maxPool2d(up(g, x), pg);
            const rm = ref.maxPool2d(up(ref, x), pg);
            await same(g, gm.indices, rm.indices, { rtol: 0, atol: 0 }, `pool argmax ${tag}`);
            const gdx = g.maxPool2dBackward(up(g, pdy), gm.indices, pg);
            await same(g, gdx, ref.maxPool2dBackward(up(ref, pdy), rm.indices, pg), TOL.linear, `pool dx ${tag}`);
            await same(
              g,
              g.avgPool2dBackward(up(g, pdy), pg),
              ref.avgPool2dBackward(up(ref, pdy), pg),
              TOL.linear,
              `avg dx ${tag}`,
            );
          },
        ),
        { numRuns: 20, seed: 34 },
      );
    });
  });
