/**
 * Test helpers for the wasm backend: a seeded PRNG, closeness checks, conv geometry construction, and `runOps`,
 * which runs every Backend primitive on one backend for one set of inputs and returns all outputs as float64
 * arrays — so the same inputs can be compared against the reference backend (run in float64 as the oracle) and
 * across wasm configurations (threads 1 vs 2 must be bit-identical).
 */

import type {
  Backend,
  Conv2dGeom,
  GroupNormGeom,
  MatmulGeom,
  MaxPool2dGeom,
  Pool2dGeom,
} from '../../../../src/tensor/backend.js';
import type { DType } from '../../../../src/tensor/dtype.js';

/** mulberry32: deterministic floats in [-1, 1), rounded to float32. */
export function rng(seed: number): (n: number) => number[] {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return (n) => Array.from({ length: n }, () => Math.fround(next() * 2 - 1));
}

/** Largest violation of |a - e| <= atol + rtol*|e| (0 when all close); throws on length mismatch. */
export function violation(a: ArrayLike<number>, e: ArrayLike<number>, atol: number, rtol: number): number {
  if (a.length !== e.length) throw new Error(`length ${a.length} != ${e.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - e[i]!) - (atol + rtol * Math.abs(e[i]!));
    if (!(d <= 0)) worst = Math.max(worst, Number.isNaN(d) ? Number.POSITIVE_INFINITY : d);
  }
  return worst;
}

export function convGeom(p: Omit<Conv2dGeom, 'oh' | 'ow'>): Conv2dGeom {
  return {
    ...p,
    oh: Math.floor((p.h + 2 * p.pad - p.kh) / p.stride) + 1,
    ow: Math.floor((p.w + 2 * p.pad - p.kw) / p.stride) + 1,
  };
}

/** Which tolerance class an output belongs to. */
export type TolClass = 'elementwise' | 'linalg' | 'normFwd' | 'normGrad' | 'exact';
export const TOL: Record<TolClass, [number, number]> = {
  elementwise: [1e-6, 1e-5],
  linalg: [1e-4, 1e-3],
  normFwd: [5e-6, 5e-6],
  normGrad: [5e-4, 5e-4],
  exact: [0, 0],
};

export interface OpOutput {
  readonly name: string;
  readonly tol: TolClass;
  readonly data: Float64Array;
}

export interface OpsCase {
  readonly mm: MatmulGeom;
  readonly conv: Conv2dGeom;
  readonly gn: GroupNormGeom;
  /** Max-pool geometry (padding included); average pooling runs the same window without padding. */
  readonly pool: MaxPool2dGeom;
  readonly elems: number;
  readonly seed: number;
}

/** Run every primitive of `be` on the inputs generated from `c`, in `dtype`. Frees everything it allocates. */
export function runOps(be: Backend, c: OpsCase, dtype: DType): OpOutput[] {
  const r = rng(c.seed);
  const live: ReturnType<Backend['alloc']>[] = [];
  const up = (d: number[]) => {
    const b = be.upload(d, dtype);
    live.push(b);
    return b;
  };
  const outs: OpOutput[] = [];
  const get = (name: string, tol: TolClass, b: ReturnType<Backend['alloc']>) => {
    live.push(b);
    outs.push({ name, tol, data: Float64Array.from(be.readSync(b)) });
  };
  const n = c.elems;
  const a = up(r(n));
  const b = up(r(n));
  const pos = up(r(n).map((v) => Math.fround(Math.abs(v) + 0.5)));
  const view = (buf: typeof a, shape: number[], strides: number[], offset = 0) => ({ buf, shape, strides, offset });
  for (const op of ['neg', 'abs', 'exp', 'relu', 'sigmoid', 'tanh', 'sign', 'square'] as const) {
    get(`unary ${op}`, 'elementwise', be.unary(op, a));
  }
  for (const op of ['log', 'sqrt', 'rsqrt', 'reciprocal'] as const)
    get(`unary ${op}`, 'elementwise', be.unary(op, pos));
  const flat = [n];
  for (const op of ['add', 'sub', 'mul', 'div', 'maximum', 'minimum', 'lt', 'ge', 'eq'] as const) {
    get(`binary ${op}`, 'elementwise', be.binary(op, view(a, flat, [1]), view(b, flat, [1]), flat));
  }
  // b broadcasts one element (of a itself, so eq/ne/le/ge see equal operands too); a read at an offset
  const k = Math.floor(n / 2);
  const tail = [n - k];
  for (const op of ['add', 'sub', 'mul', 'div', 'eq', 'ne', 'lt', 'le', 'gt', 'ge'] as const) {
    get(`binary ${op} scalar`, 'elementwise', be.binary(op, view(a, tail, [1], k), view(a, tail, [0], k), tail));
  }
  get('binary pow', 'elementwise', be.binary('pow', view(pos, flat, [1]), view(b, flat, [1]), flat));
  // broadcast [rows, cols] + [cols] and a transposed read
  const cols = Math.max(1, Math.floor(Math.sqrt(n)));
  const rows = Math.floor(n / cols);
  get(
    'binary add bcast',
    'elementwise',
    be.binary('add', view(a, [rows, cols], [cols, 1]), view(b, [rows, cols], [0, 1]), [rows, cols]),
  );
  get(
    'binary mul transposed',
    'elementwise',
    be.binary('mul', view(a, [cols, rows], [1, cols]), view(b, [cols, rows], [rows, 1]), [cols, rows]),
  );
  get('where', 'elementwise', be.where(view(b, flat, [1]), view(a, flat, [1]), view(pos, flat, [1]), flat));
  const dst = be.alloc(rows * cols, dtype);
  be.copy(view(a, [rows, cols], [1, rows], 0), view(dst, [cols, rows].reverse(), [cols, 1]));
  get('copy transposed', 'exact', dst);
  const filled = be.alloc(7, dtype);
  be.fill(filled, 0.25);
  get('fill', 'exact', filled);
  get('cast', 'exact', be.cast(a, dtype));
  for (const op of ['sum', 'max', 'min', 'argmax', 'argmin'] as const) {
    get(`reduce ${op}`, op === 'sum' ? 'linalg' : 'exact', be.reduce(op, a, rows, cols));
  }
  const { mm, conv, gn, pool } = c;
  const mA = up(r(mm.batch * mm.m * mm.k));
  const mB = up(r(mm.batch * mm.k * mm.n));
  get('matmul', 'linalg', be.matmul(mA, mB, mm));
  const x = up(r(conv.n * conv.cin * conv.h * conv.w));
  const w = up(r(conv.cout * (conv.cin / conv.groups) * conv.kh * conv.kw));
  const dy = up(r(conv.n * conv.cout * conv.oh * conv.ow));
  get('conv2d', 'linalg', be.conv2d(x, w, conv));
  get('conv2dGradInput', 'linalg', be.conv2dGradInput(dy, w, conv));
  get('conv2dGradWeight', 'linalg', be.conv2dGradWeight(x, dy, conv));
  get('conv2dAdd', 'linalg', be.conv2dAdd(x, w, up(r(dy.size)), conv));
  const px = up(r(pool.n * pool.c * pool.h * pool.w));
  const pdy = up(r(pool.n * pool.c * pool.oh * pool.ow));
  const mp = be.maxPool2d(px, pool);
  get('maxPool2d', 'exact', mp.out);
  get('maxPool2d indices', 'exact', mp.indices);
  get('maxPool2dBackward', 'exact', be.maxPool2dBackward(pdy, mp.indices, pool));
  const avg: Pool2dGeom = {
    ...pool,
    oh: Math.floor((pool.h - pool.kh) / pool.stride) + 1,
    ow: Math.floor((pool.w - pool.kw) / pool.stride) + 1,
  };
  const apdy = up(r(avg.n * avg.c * avg.oh * avg.ow));
  get('avgPool2d', 'elementwise', be.avgPool2d(px, avg));
  get('avgPool2dBackward', 'elementwise', be.avgPool2dBackward(apdy, avg));
  const gx = up(r(gn.n * gn.c * gn.hw).map((v, i) => Math.fround(v * 3 + (i % 5))));
  const gamma = up(r(gn.c));
  const beta = up(r(gn.c));
  const gdy = up(r(gn.n * gn.c * gn.hw));
  const f = be.groupNorm(gx, gamma, beta, gn);
  get('groupNorm y', 'normFwd', f.y);
  get('groupNorm mean', 'normFwd', f.mean);
  get('groupNorm rstd', 'normFwd', f.rstd);
  const bw = be.groupNormBackward(gdy, gx, gamma, f.mean, f.rstd, gn);
  get('groupNorm dx', 'normGrad', bw.dx);
  get('groupNorm dgamma', 'normGrad', bw.dgamma);
  get('groupNorm dbeta', 'normGrad', bw.dbeta);
  const o = conv.cout;
  const fanIn = (conv.cin / conv.groups) * conv.kh * conv.kw;
  const ws = be.weightStandardize(w, o, fanIn, 1e-10);
  get('weightStandardize y', 'normFwd', ws.y);
  get('weightStandardize mean', 'normFwd', ws.mean);
  get('weightStandardize rstd', 'normGrad', ws.rstd);
  get(
    'weightStandardizeBackward',
    'normGrad',
    be.weightStandardizeBackward(up(r(w.size)), w, ws.mean, ws.rstd, o, fanIn),
  );
  for (const [i, p] of [
    { lr: 0.1, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 1e-4, firstStep: true },
    { lr: 0.05, momentum: 0.9, dampening: 0.1, nesterov: true, weightDecay: 0, firstStep: false },
    { lr: 0.01, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0.01, firstStep: false },
  ].entries()) {
    const param = up(r(n));
    const mbuf = up(r(n));
    be.sgdUpdate(param, b, mbuf, p);
    outs.push({ name: `sgd ${i} param`, tol: 'elementwise', data: Float64Array.from(be.readSync(param)) });
    if (p.momentum !== 0)
      outs.push({ name: `sgd ${i} buf`, tol: 'elementwise', data: Float64Array.from(be.readSync(mbuf)) });
  }
  for (const l of live) be.free(l);
  return outs;
}

/** Which conv primitive {@link runConv} calls. */
export type ConvKind = 'conv2d' | 'conv2dGradInput' | 'conv2dGradWeight';

/** Run one conv primitive of `b` on x / w / dy (flat float32 values); frees everything, returns the output. */
export function runConv(
  b: Backend,
  kind: ConvKind,
  g: Conv2dGeom,
  x: number[],
  w: number[],
  dy: number[],
): Float32Array {
  const X = b.upload(Float32Array.from(x), 'float32');
  const W = b.upload(Float32Array.from(w), 'float32');
  const D = b.upload(Float32Array.from(dy), 'float32');
  const out =
    kind === 'conv2d'
      ? b.conv2d(X, W, g)
      : kind === 'conv2dGradInput'
        ? b.conv2dGradInput(D, W, g)
        : b.conv2dGradWeight(X, D, g);
  const r = Float32Array.from(b.readSync(out));
  for (const t of [X, W, D, out]) b.free(t);
  return r;
}
