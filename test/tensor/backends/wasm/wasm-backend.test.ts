/**
 * The wasm backend against the reference backend (run in float64 as the oracle) on every primitive, over
 * fast-check-generated shapes with awkward sizes; thread counts 1 and 2 must agree bit for bit; relaxed SIMD on and
 * off are both exercised; memory stays flat across repeated ops; float64 is refused with DTypeError.
 */

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { DTypeError, ShapeError } from '../../../../src/errors.js';
import type { Backend } from '../../../../src/tensor/backend.js';
import { createReferenceBackend } from '../../../../src/tensor/backends/reference/index.js';
import { createWasmBackend } from '../../../../src/tensor/backends/wasm/index.js';
import { relaxedSimdAvailable } from '../../../../src/tensor/backends/wasm/kernels.js';
import { sleb, uleb } from '../../../../src/tensor/backends/wasm/module-builder.js';
import { convGeom, type OpsCase, rng, runOps, TOL, violation } from './helpers.js';

const ref = createReferenceBackend();
const relaxedOk = relaxedSimdAvailable();
const configs = [
  { label: 't1', be: createWasmBackend({ threads: 1, relaxedSimd: false, minParallelWork: 0 }) },
  {
    label: 't2',
    be: createWasmBackend({ threads: 2, relaxedSimd: false, minParallelWork: 0, adaptiveThreads: false }),
  },
  ...(relaxedOk
    ? [
        { label: 't1-relaxed', be: createWasmBackend({ threads: 1, relaxedSimd: true, minParallelWork: 0 }) },
        {
          label: 't2-relaxed',
          be: createWasmBackend({ threads: 2, relaxedSimd: true, minParallelWork: 0, adaptiveThreads: false }),
        },
      ]
    : []),
];
afterAll(() => {
  for (const c of configs) c.be.dispose();
});

const AWK = [1, 3, 5, 7, 13, 65];
const awk = fc.constantFrom(...AWK);

const caseArb: fc.Arbitrary<OpsCase> = fc
  .record({
    mm: fc.record({
      batch: fc.integer({ min: 1, max: 2 }),
      m: fc.oneof(awk, fc.integer({ min: 1, max: 70 })),
      k: fc.oneof(awk, fc.integer({ min: 1, max: 300 })),
      n: fc.oneof(awk, fc.integer({ min: 1, max: 70 })),
      transA: fc.boolean(),
      transB: fc.boolean(),
    }),
    conv: fc.record({
      n: fc.integer({ min: 1, max: 3 }),
      cin: awk.filter((v) => v <= 13),
      // 8, 16, 24 with cin <= 4: the direct thin-input kernels (./conv-thin.ts); the rest: im2col GEMM
      cout: fc.constantFrom(1, 3, 5, 8, 13, 16, 24),
      h: fc.integer({ min: 1, max: 13 }),
      w: fc.integer({ min: 1, max: 13 }),
      k: fc.constantFrom(1, 1, 3, 5, 7),
      stride: fc.constantFrom(1, 2, 3),
      pad: fc.integer({ min: 0, max: 3 }),
      grouped: fc.boolean(),
    }),
    gn: fc.record({
      n: fc.integer({ min: 1, max: 3 }),
      groups: fc.constantFrom(1, 2, 4),
      cpg: fc.constantFrom(1, 3, 5),
      hw: fc.oneof(awk, fc.integer({ min: 1, max: 70 })),
    }),
    pool: fc.record({
      n: fc.integer({ min: 1, max: 2 }),
      c: fc.constantFrom(1, 3, 5),
      h: fc.integer({ min: 3, max: 13 }),
      w: fc.integer({ min: 3, max: 13 }),
      k: fc.constantFrom(1, 2, 3),
      stride: fc.constantFrom(1, 2, 3),
      pad: fc.constantFrom(0, 1),
      padValue: fc.constantFrom(Number.NEGATIVE_INFINITY, 0, -0.25),
    }),
    elems: fc.oneof(awk, fc.integer({ min: 1, max: 300 })),
    seed: fc.integer({ min: 1, max: 1e6 }),
  })
  .filter(({ conv }) => conv.h + 2 * conv.pad >= conv.k && conv.w + 2 * conv.pad >= conv.k)
  .map(({ mm, conv, gn, pool, elems, seed }) => {
    const groups = conv.grouped && conv.cin === conv.cout ? conv.cin : 1;
    return {
      mm,
      conv: convGeom({ ...conv, kh: conv.k, kw: conv.k, groups }),
      gn: { n: gn.n, c: gn.groups * gn.cpg, hw: gn.hw, groups: gn.groups, eps: 1e-5 },
      pool: {
        ...pool,
        kh: pool.k,
        kw: pool.k,
        pad: Math.min(pool.pad, pool.k - 1),
        oh: Math.floor((pool.h + 2 * Math.min(pool.pad, pool.k - 1) - pool.k) / pool.stride) + 1,
        ow: Math.floor((pool.w + 2 * Math.min(pool.pad, pool.k - 1) - pool.k) / pool.stride) + 1,
      },
      elems,
      seed,
    };
  });

function compareToOracle(be: Backend, c: OpsCase): void {
  const got = runOps(be, c, 'float32');
  const want = runOps(ref, c, 'float64');
  for (let i = 0; i < got.length; i++) {
    const g = got[i]!;
    const [atol, rtol] = TOL[g.tol === 'exact' ? 'elementwise' : g.tol];
    const v = violation(g.data, want[i]!.data, atol, rtol);
    if (v > 0) throw new Error(`${g.name}: off by ${v} beyond tolerance (case ${JSON.stringify(c)})`);
  }
}

describe('wasm backend: module builder', () => {
  it('encodes LEB128 like the spec examples', () => {
    expect(uleb(624485)).toEqual([0xe5, 0x8e, 0x26]);
    expect(uleb(0)).toEqual([0]);
    expect(sleb(-123456)).toEqual([0xc0, 0xbb, 0x78]);
    expect(sleb(64)).toEqual([0xc0, 0x00]);
    expect(sleb(-1)).toEqual([0x7f]);
  });
});

describe.each(configs)('wasm backend ($label) vs reference', ({ be }) => {
  it('every primitive matches the float64 oracle on random awkward shapes', () => {
    fc.assert(
      fc.property(caseArb, (c) => compareToOracle(be, c)),
      { numRuns: 60, seed: 42 },
    );
  });

  it('BiT-like conv shapes (segmented NCHW store, strided im2col fast paths, 1x1 direct GEMM)', () => {
    const shapes = [
      { n: 2, cin: 3, h: 32, w: 32, cout: 16, kh: 7, kw: 7, stride: 2, pad: 3, groups: 1 },
      { n: 2, cin: 16, h: 16, w: 16, cout: 16, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1 },
      { n: 2, cin: 16, h: 16, w: 16, cout: 32, kh: 3, kw: 3, stride: 2, pad: 1, groups: 1 },
      { n: 2, cin: 16, h: 16, w: 16, cout: 64, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
      { n: 3, cin: 32, h: 7, w: 7, cout: 16, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 },
      { n: 2, cin: 16, h: 16, w: 16, cout: 32, kh: 1, kw: 1, stride: 2, pad: 0, groups: 1 },
      // vector fast paths at ragged edges: widths not a multiple of 4, odd sizes with stride 2, kh != kw
      { n: 2, cin: 5, h: 19, w: 23, cout: 8, kh: 7, kw: 7, stride: 2, pad: 3, groups: 1 },
      { n: 1, cin: 6, h: 11, w: 14, cout: 9, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1 },
      // thin-input direct kernels: the stems of bit-small and R50 (cout 32, 64), a ragged width (pixel tail), no pad
      { n: 2, cin: 3, h: 32, w: 32, cout: 32, kh: 7, kw: 7, stride: 2, pad: 3, groups: 1 },
      { n: 1, cin: 3, h: 29, w: 27, cout: 64, kh: 7, kw: 7, stride: 2, pad: 3, groups: 1 },
      { n: 3, cin: 1, h: 9, w: 6, cout: 8, kh: 3, kw: 5, stride: 1, pad: 0, groups: 1 },
      { n: 2, cin: 4, h: 9, w: 17, cout: 5, kh: 3, kw: 5, stride: 2, pad: 2, groups: 1 },
      { n: 1, cin: 3, h: 6, w: 21, cout: 4, kh: 5, kw: 3, stride: 1, pad: 0, groups: 1 },
      // images smaller than the padding (taps whose first in-image x is past the output row)
      { n: 2, cin: 2, h: 1, w: 1, cout: 3, kh: 7, kw: 7, stride: 2, pad: 3, groups: 1 },
      { n: 1, cin: 2, h: 2, w: 3, cout: 3, kh: 7, kw: 7, stride: 2, pad: 3, groups: 1 },
    ];
    for (const [i, s] of shapes.entries()) {
      const conv = convGeom(s);
      compareToOracle(be, {
        mm: { batch: 1, m: 130, k: 520, n: 66, transA: i % 2 === 0, transB: i % 3 === 0 },
        conv,
        gn: { n: 2, c: 32, hw: 64, groups: 8, eps: 1e-5 },
        pool: { n: 1, c: 2, h: 9, w: 9, kh: 3, kw: 3, stride: 2, oh: 5, ow: 5, pad: 1, padValue: 0 },
        elems: 1000,
        seed: i + 1,
      });
    }
  });

  it('keeps liveBuffers flat over 100 iterations', () => {
    const start = be.liveBuffers();
    const c: OpsCase = {
      mm: { batch: 1, m: 9, k: 17, n: 11, transA: false, transB: true },
      conv: convGeom({ n: 1, cin: 3, h: 6, w: 6, cout: 4, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1 }),
      gn: { n: 1, c: 4, hw: 9, groups: 2, eps: 1e-5 },
      pool: {
        n: 1,
        c: 1,
        h: 4,
        w: 4,
        kh: 2,
        kw: 2,
        stride: 2,
        oh: 2,
        ow: 2,
        pad: 0,
        padValue: Number.NEGATIVE_INFINITY,
      },
      elems: 33,
      seed: 7,
    };
    for (let i = 0; i < 100; i++) {
      runOps(be, c, 'float32');
      expect(be.liveBuffers()).toBe(start);
    }
  });
});

describe('wasm backend: determinism and errors', () => {
  it('max-pool ties, NaN and signed zeros: same values (Object.is) and indices as the reference', () => {
    // values from a tiny set so windows tie; 3x3 windows inside the image take the wasm fast path, the others
    // (padding, other window sizes) the general one
    const vals = [0, -0, 1, -1, Number.NaN, 2, Number.NEGATIVE_INFINITY];
    const be = configs[configs.length - 1]!.be;
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 9 }),
        fc.integer({ min: 3, max: 9 }),
        fc.constantFrom(2, 3),
        fc.constantFrom(1, 2),
        fc.constantFrom(0, 1),
        fc.constantFrom(0, Number.NEGATIVE_INFINITY),
        fc.integer({ min: 1, max: 1e6 }),
        (h, w, k, stride, pad, padValue, sd) => {
          const r = rng(sd);
          const x = Float32Array.from({ length: 2 * h * w }, () => vals[Math.floor(((r(1)[0]! + 1) / 2) * 6.999)]!);
          const g = {
            n: 1,
            c: 2,
            h,
            w,
            kh: k,
            kw: k,
            stride,
            oh: Math.floor((h + 2 * pad - k) / stride) + 1,
            ow: Math.floor((w + 2 * pad - k) / stride) + 1,
            pad,
            padValue,
          };
          const got = be.maxPool2d(be.upload(x, 'float32'), g);
          const want = ref.maxPool2d(ref.upload(x, 'float32'), g);
          const [gv, gi, wv, wi] = [
            be.readSync(got.out),
            be.readSync(got.indices),
            ref.readSync(want.out),
            ref.readSync(want.indices),
          ];
          for (let i = 0; i < wv.length; i++) {
            if (!Object.is(gv[i], wv[i]) && !(Number.isNaN(gv[i]) && Number.isNaN(wv[i]))) {
              throw new Error(`value ${i}: ${gv[i]} vs ${wv[i]} (${JSON.stringify(g)})`);
            }
            expect(gi[i]).toBe(wi[i]);
          }
        },
      ),
      { numRuns: 60, seed: 11 },
    );
  });

  it('threads 1 and 2 give bit-identical results (default and relaxed)', () => {
    const pairs = [[configs[0]!, configs[1]!], ...(relaxedOk ? [[configs[2]!, configs[3]!]] : [])];
    fc.assert(
      fc.property(caseArb, (c) => {
        for (const [p, q] of pairs) {
          const a = runOps(p!.be, c, 'float32');
          const b = runOps(q!.be, c, 'float32');
          for (let i = 0; i < a.length; i++) {
            if (!a[i]!.data.every((v, j) => Object.is(v, b[i]!.data[j]))) {
              throw new Error(`${a[i]!.name} differs between ${p!.label} and ${q!.label}`);
            }
          }
        }
      }),
      { numRuns: 40, seed: 7 },
    );
  });

  it('large GEMM (several KC blocks, NC chunks, edge tiles) matches the oracle and is thread-count invariant', () => {
    const [m, k, n] = [37, 530, 4500];
    const r = rng(3);
    const A = r(m * k);
    const Bm = r(k * n);
    const g = { batch: 1, m, k, n, transA: true, transB: false };
    const outs = configs.map(({ be }) => {
      const [a, b] = [be.upload(A, 'float32'), be.upload(Bm, 'float32')];
      const c = be.matmul(a, b, g);
      const data = be.readSync(c);
      for (const x of [a, b, c]) be.free(x);
      return data;
    });
    const [ra, rb] = [ref.upload(A, 'float64'), ref.upload(Bm, 'float64')];
    const want = ref.readSync(ref.matmul(ra, rb, g));
    for (const o of outs) expect(violation(o, want, 1e-4, 1e-3)).toBe(0);
    expect(Buffer.from(outs[0]!.buffer).equals(Buffer.from(outs[1]!.buffer))).toBe(true);
    if (relaxedOk) expect(Buffer.from(outs[2]!.buffer).equals(Buffer.from(outs[3]!.buffer))).toBe(true);
  });

  it('refuses float64 with DTypeError and bad geometry with ShapeError', () => {
    const be = configs[0]!.be;
    expect(be.dtypes).toEqual(['float32']);
    expect(() => be.alloc(4, 'float64')).toThrow(DTypeError);
    expect(() => be.upload([1, 2], 'float64')).toThrow(DTypeError);
    const a = be.upload([1, 2, 3, 4], 'float32');
    expect(() => be.cast(a, 'float64')).toThrow(DTypeError);
    const g = convGeom({ n: 1, cin: 1, h: 2, w: 2, cout: 1, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1 });
    expect(() => be.conv2d(a, a, { ...g, oh: 5 })).toThrow(ShapeError);
    expect(() => be.matmul(a, a, { batch: 1, m: 3, k: 3, n: 3, transA: false, transB: false })).toThrow(ShapeError);
    be.free(a);
  });

  it("relaxedSimd: 'auto' resolves to what the runtime supports", () => {
    const be = createWasmBackend({ threads: 1, relaxedSimd: 'auto' });
    expect(be.relaxed).toBe(relaxedOk);
    be.dispose();
  });
});
