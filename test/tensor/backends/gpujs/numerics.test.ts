/**
 * GPU-grade numerics of the gpu.js backend (issue 20, point 4), on every gpu.js mode, webgpu included, and the same
 * contract checked on the wasm backend:
 * - accuracy against a float64 oracle (the reference backend in float64 on the same float32 inputs) in the
 *   large-mean case, x = 1000 + 0.1 N(0, 1): GroupNorm forward/backward and weight standardization must be within
 *   2x of the float32 reference backend's own error, and long sums (large mean; heavy cancellation) within 2x of
 *   one float32 rounding of the exact sum, far below a float32 serial loop's error;
 * - the Backend contract's non-finite semantics (src/tensor/backend.ts): max/min/argmax/argmin and max-pool
 *   propagate NaN (first NaN wins), log(0) = -Infinity, log(x < 0) = NaN, every elementwise op of the table
 *   gives the reference's NaN / ±Infinity on the special values, where's NaN condition picks a, fill and copy
 *   keep non-finite values.
 */

import { afterAll, describe, expect, it } from 'vitest';
import type { Backend, BackendBuffer, GroupNormGeom, MaxPool2dGeom } from '../../../../src/tensor/backend.js';
import { createReferenceBackend } from '../../../../src/tensor/backends/reference/index.js';
import { disposeBackends, getBackend } from '../../../../src/tensor/backends/registry.js';
import { BINARY_NAMES, UNARY_NAMES } from '../../../../src/tensor/op-table.js';
import { TOL } from '../../../tolerances.js';
import { backendPool, MODES, ref, view } from './helpers.js';

const pool = backendPool();
/** A tiny chunk limit: rows longer than it are reduced in pieces and combined (reduce.argcombine). */
const tiny = backendPool({ chunkLimit: 8 });
afterAll(() => {
  pool.dispose();
  tiny.dispose();
  disposeBackends();
});

/** Deterministic N(0, 1) draws (sum of 12 uniforms from an LCG, minus 6). */
function gaussians(n: number, seed: number): Float64Array {
  let s = seed >>> 0;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let u = 0;
    for (let k = 0; k < 12; k++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      u += s / 2 ** 32;
    }
    out[i] = u - 6;
  }
  return out;
}

/** float32 values loc + scale * N(0, 1). */
const normal = (n: number, seed: number, loc: number, scale: number) =>
  Float32Array.from(gaussians(n, seed), (z) => loc + scale * z);

/** ||a - r||_2 / ||r||_2. */
function relErr(a: ArrayLike<number>, r: ArrayLike<number>): number {
  let e = 0;
  let n = 0;
  for (let i = 0; i < r.length; i++) {
    e += (a[i]! - r[i]!) ** 2;
    n += r[i]! ** 2;
  }
  return Math.sqrt(e / n);
}

const ref64 = createReferenceBackend();
const GN: GroupNormGeom = { n: 2, c: 32, hw: 1024, groups: 8, eps: 1e-5 };
const SIZE = GN.n * GN.c * GN.hw;
const X = normal(SIZE, 1, 1000, 0.1);
const GAMMA = normal(GN.c, 2, 1, 0.1);
const BETA = normal(GN.c, 3, 0, 0.1);
const DY = normal(SIZE, 4, 0, 1);
/** Weight standardization of the same data as [64 filters, fanIn 1024]. */
const WS = { o: 64, fanIn: 1024 };

type Outputs = Record<
  'y' | 'mean' | 'rstd' | 'dx' | 'dgamma' | 'dbeta' | 'ws' | 'wsMean' | 'wsRstd' | 'wsDw',
  number[]
>;

/** Every GroupNorm / WS output of one backend on the large-mean data (float32 inputs uploaded as `dtype`). */
async function normOutputs(b: Backend, dtype: 'float32' | 'float64'): Promise<Outputs> {
  const u = (a: Float32Array) => b.upload(a, dtype);
  const rd = async (buf: BackendBuffer) => Array.from(await b.read(buf));
  const f = b.groupNorm(u(X), u(GAMMA), u(BETA), GN);
  const g = b.groupNormBackward(u(DY), u(X), u(GAMMA), f.mean, f.rstd, GN);
  const w = b.weightStandardize(u(X), WS.o, WS.fanIn, 1e-10);
  const dw = b.weightStandardizeBackward(u(DY), u(X), w.mean, w.rstd, WS.o, WS.fanIn);
  return {
    y: await rd(f.y),
    mean: await rd(f.mean),
    rstd: await rd(f.rstd),
    dx: await rd(g.dx),
    dgamma: await rd(g.dgamma),
    dbeta: await rd(g.dbeta),
    ws: await rd(w.y),
    wsMean: await rd(w.mean),
    wsRstd: await rd(w.rstd),
    wsDw: await rd(dw),
  };
}

let oracle: Promise<{ f64: Outputs; f32: Outputs }> | null = null;
/** The float64 oracle and the float32 reference's outputs, computed once. */
const oracles = () => {
  oracle ??= (async () => ({ f64: await normOutputs(ref64, 'float64'), f32: await normOutputs(ref, 'float32') }))();
  return oracle;
};

/** A float32 serial left-to-right sum, the accumulation the kernels used before (the baseline to beat). */
function serialF32(a: Float32Array, from: number, len: number): number {
  let s = 0;
  for (let i = from; i < from + len; i++) s = Math.fround(s + a[i]!);
  return s;
}

const NAN = Number.NaN;
const INF = Number.POSITIVE_INFINITY;

/** Same class (NaN, +Inf, -Inf, finite) everywhere, finite values close (SwiftShader flushes denormals: atol). */
function expectSameSpecials(got: ArrayLike<number>, want: ArrayLike<number>, what: readonly string[]): void {
  const cls = (v: number) => (Number.isNaN(v) ? 'NaN' : v === INF ? '+Inf' : v === -INF ? '-Inf' : 'finite');
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!;
    const w = want[i]!;
    expect(`${what[i]}: ${cls(g)}`).toBe(`${what[i]}: ${cls(w)}`);
    if (cls(w) === 'finite') {
      const tol = TOL.linear.atol + TOL.linear.rtol * Math.abs(w);
      expect(Math.abs(g - w), `${what[i]}: ${g} vs ${w}`).toBeLessThanOrEqual(tol);
    }
  }
}

/** One backend under test: its name, the skip reason (webgpu without an adapter), and how to get it. */
interface Target {
  readonly name: string;
  readonly skip: string | null;
  /** The backend; `pieces`: one whose launches are tiny (gpu.js chunkLimit 8) where that exists. */
  get(pieces?: boolean): Promise<Backend>;
}

const TARGETS: Target[] = [
  ...MODES.map((m) => ({
    name: `gpujs-${m.name}`,
    skip: m.skip,
    get: (pieces = false) => (pieces ? tiny : pool).get(m),
  })),
  // The wasm backend keeps the same contract (src/tensor/backend.ts); checked here with the same cases.
  { name: 'wasm', skip: null, get: () => getBackend('wasm') },
];

for (const target of TARGETS)
  describe.skipIf(target.skip !== null)(`${target.name} numerics`, () => {
    it('large-mean GroupNorm and weight standardization: within 2x of the float32 reference vs float64', async () => {
      const g = await target.get();
      const { f64, f32 } = await oracles();
      const got = await normOutputs(g, 'float32');
      for (const k of Object.keys(f64) as (keyof Outputs)[]) {
        const mine = relErr(got[k], f64[k]);
        const theirs = relErr(f32[k], f64[k]);
        // The floor: one float32 rounding (2^-24), where the reference happens to be exact or nearly so.
        expect(
          mine,
          `${k}: gpujs ${mine.toExponential(2)} vs float32 reference ${theirs.toExponential(2)}`,
        ).toBeLessThanOrEqual(2 * theirs + 2 ** -24);
      }
    });

    it('long sums are compensated: within 2x of one float32 rounding, large mean and heavy cancellation alike', async () => {
      const g = await target.get();
      // 16 rows of 4096 values near 1000; 2 rows of 32768 N(0, 1) values (sums ~1e2 from terms summing to ~3e4 in |.|).
      for (const [rows, inner, loc, seed] of [
        [16, 4096, 1000, 5],
        [2, 32768, 0, 6],
      ] as const) {
        const a = normal(rows * inner, seed, loc, loc === 0 ? 1 : 0.1);
        const got = await g.read(g.reduce('sum', g.upload(a, 'float32'), rows, inner));
        const exact = Array.from({ length: rows }, (_, r) => {
          let s = 0;
          for (let i = r * inner; i < (r + 1) * inner; i++) s += a[i]!;
          return s;
        });
        const serial = Array.from({ length: rows }, (_, r) => serialF32(a, r * inner, inner));
        const rounded = exact.map((v) => Math.fround(v));
        const mine = relErr(got, exact);
        const what = `${rows}x${inner} mean ${loc}: ${mine.toExponential(2)}`;
        // Measured on SwiftShader, large mean: serial 4.7e-7, compensated 1.7e-8 = one rounding.
        // Cancellation: serial 4.6e-6, blocked without compensation 1.0e-5, compensated 3.1e-8 = one rounding.
        expect(mine, what).toBeLessThanOrEqual(relErr(serial, exact) / 4);
        expect(mine, what).toBeLessThanOrEqual(2 * relErr(rounded, exact) + 2 ** -24);
      }
    });

    it('max/min/argmax/argmin propagate NaN: the first NaN wins, as in the reference', async () => {
      for (const [label, pieces] of [
        ['one launch', false],
        ['rows in pieces', true],
      ] as const) {
        const g = await target.get(pieces);
        // 4 rows of 20: NaN late, NaN first, two NaNs, none (with +-Infinity).
        const rows = [
          [3, 1, 9, 2, 7, 5, 8, 0, 4, 6, 1, 2, 3, NAN, 9.5, 2, 1, 0, 5, 4],
          [NAN, 1, 9, 2, 7, 5, 8, 0, 4, 6, 1, 2, 3, 4, 9.5, 2, 1, 0, 5, 4],
          [3, 1, 9, 2, 7, 5, 8, 0, 4, 6, NAN, 2, 3, 4, 9.5, 2, NAN, 0, 5, 4],
          [3, 1, -INF, 2, 7, 5, 8, 0, 4, INF, 1, 2, 3, 4, 9.5, 2, 1, 0, 5, 4],
        ];
        const flat = rows.flat();
        for (const op of ['max', 'min', 'argmax', 'argmin'] as const) {
          const got = Array.from(await g.read(g.reduce(op, g.upload(flat, 'float32'), 4, 20)));
          const want = Array.from(await ref.read(ref.reduce(op, ref.upload(flat, 'float32'), 4, 20)));
          expect(got, `${label} ${op}`).toEqual(want);
        }
        expect(Array.from(await g.read(g.reduce('argmax', g.upload(flat, 'float32'), 4, 20)))).toEqual([13, 0, 10, 9]);
      }
      // Rows longer than gpu.js's default loop cap (1000 iterations, silently): the extreme and the NaN sit late.
      const g = await target.get();
      const long = new Float32Array(2 * 3000).map((_, i) => (i % 3000) / 3000);
      long[2999] = 5;
      long[3000 + 2500] = NAN;
      long[3000 + 2999] = 7;
      const up = () => g.upload(long, 'float32');
      expect(Array.from(await g.read(g.reduce('argmax', up(), 2, 3000)))).toEqual([2999, 2500]);
      expect(Array.from(await g.read(g.reduce('max', up(), 2, 3000)))).toEqual([5, NAN]);
    });

    it('max-pool propagates NaN with the first NaN index (padded and unpadded windows)', async () => {
      const g = await target.get();
      // one 4x4 plane: NaN at (0,1) and (2,2); windows 3x3 stride 2 pad 1 (zero padding, as BiT's stem).
      const x = [5, NAN, 1, 2, 3, 4, 6, 0, 1, 2, NAN, 8, 7, 1, 2, 3];
      for (const padValue of [0, -INF]) {
        const geom: MaxPool2dGeom = { n: 1, c: 1, h: 4, w: 4, kh: 3, kw: 3, stride: 2, pad: 1, padValue, oh: 2, ow: 2 };
        const go = g.maxPool2d(g.upload(x, 'float32'), geom);
        const ro = ref.maxPool2d(ref.upload(x, 'float32'), geom);
        const out = Array.from(await g.read(go.out));
        expect(out.map(Number.isNaN), `padValue ${padValue}`).toEqual([true, true, false, true]);
        expect(Array.from(await g.read(go.indices)), `padValue ${padValue}`).toEqual(
          Array.from(await ref.read(ro.indices)),
        );
        expect(Array.from(await g.read(go.indices))).toEqual([1, 1, 12, 10]);
        expect(out[2]).toBe(7);
      }
    });

    it('log: log(0) = log(-0) = -Infinity, log(x < 0) = log(-Infinity) = NaN, log(NaN) = NaN, log(Infinity) = Infinity', async () => {
      const g = await target.get();
      const x = [0, -0, -2, -INF, NAN, INF, 1, Math.E];
      const got = Array.from(await g.read(g.unary('log', g.upload(x, 'float32'))));
      expect(got.slice(0, 6)).toEqual([-INF, -INF, NAN, NAN, NAN, INF]);
      expect(got[6]).toBe(0);
      expect(got[7]).toBeCloseTo(1, 5);
    });

    it('where with a NaN condition picks a (cond != 0, as in the reference); fill and copy keep NaN and +-Infinity', async () => {
      const g = await target.get();
      const cond = [NAN, 0, 1, -0, INF];
      const a = [1, 1, 1, 1, 1];
      const b = [2, 2, 2, 2, 2];
      const w = (be: Backend) =>
        be.where(
          view(be.upload(cond, 'float32'), [5]),
          view(be.upload(a, 'float32'), [5]),
          view(be.upload(b, 'float32'), [5]),
          [5],
        );
      expect(Array.from(await g.read(w(g)))).toEqual(Array.from(await ref.read(w(ref))));
      expect(Array.from(await g.read(w(g)))).toEqual([1, 2, 1, 2, 1]);
      for (const v of [NAN, INF, -INF]) {
        const f = g.alloc(3, 'float32');
        g.fill(f, v);
        expect(Array.from(await g.read(f))).toEqual([v, v, v]);
      }
      const dst = g.alloc(3, 'float32');
      g.copy(view(g.upload([NAN, INF, -INF], 'float32'), [3]), view(dst, [3]));
      expect(Array.from(await g.read(dst))).toEqual([NAN, INF, -INF]);
    });

    it('every elementwise op gives the reference NaN / +-Infinity on special values', async () => {
      const g = await target.get();
      const vals = [0, -0, -2, -0.5, 0.5, 1, -1, 3, NAN, INF, -INF];
      for (const op of UNARY_NAMES) {
        const got = await g.read(g.unary(op, g.upload(vals, 'float32')));
        const want = await ref.read(ref.unary(op, ref.upload(vals, 'float32')));
        expectSameSpecials(
          got,
          want,
          vals.map((v) => `${op}(${v})`),
        );
      }
      const a = vals.flatMap((x) => vals.map(() => x));
      const b = vals.flatMap(() => vals);
      const n = a.length;
      for (const op of BINARY_NAMES) {
        const got = await g.read(
          g.binary(op, view(g.upload(a, 'float32'), [n]), view(g.upload(b, 'float32'), [n]), [n]),
        );
        const want = await ref.read(
          ref.binary(op, view(ref.upload(a, 'float32'), [n]), view(ref.upload(b, 'float32'), [n]), [n]),
        );
        expectSameSpecials(
          got,
          want,
          a.map((x, i) => `${op}(${x}, ${b[i]})`),
        );
      }
    });
  });
