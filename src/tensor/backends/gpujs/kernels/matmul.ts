/**
 * Batched matmul as one gpu.js kernel: out[b,i,j] = sum_r sum_k A[b*aB + r*aR + i*aI + k*aK] * B[b*bB + r*bR +
 * k*bK + j*bJ]. Strides cover transA/transB, a batch-shared operand (stride 0: the 1x1-conv weight) and an extra
 * summed axis `r` (1x1-conv gradWeight sums over the batch). One thread per output cell, constant loop bounds.
 * Batches are chunked so that output cells and operand windows stay under the chunk limit (f32 index math); the
 * thread index unravels with the exact idiv (./index-math.ts).
 */

import { BackendError, ShapeError } from '../../../../errors.js';
import type { MatmulGeom } from '../../../backend.js';
import { type Arr, assemble, type OpGen } from '../op-gen.js';
import { windowOf } from '../strided.js';
import { addOp } from './batch.js';
import { exactIndexSource } from './index-math.js';
import type { KThis } from './types.js';

/** Expanded inline into the kernel source by exactIndexSource (./index-math.ts); erased here. */
declare function idiv(a: number, b: number): number;

export function gemmKernel(this: KThis, a: Float32Array, b: Float32Array): number {
  const t0 = this.thread.x;
  const t1 = idiv(t0, this.constants.n!);
  const j = t0 - t1 * this.constants.n!;
  const bi = idiv(t1, this.constants.m!);
  const i = t1 - bi * this.constants.m!;
  const aRow = bi * this.constants.aB! + i * this.constants.aI!;
  const bCol = bi * this.constants.bB! + j * this.constants.bJ!;
  let acc = 0;
  for (let r = 0; r < this.constants.rb!; r++) {
    // Incremental indices: one add per operand per step instead of a multiply (about 1.8x faster on webasm).
    let ia = aRow + r * this.constants.aR!;
    let ib = bCol + r * this.constants.bR!;
    for (let k = 0; k < this.constants.k!; k++) {
      acc += a[ia]! * b[ib]!;
      ia += this.constants.aK!;
      ib += this.constants.bK!;
    }
  }
  return acc;
}

/** Full strided GEMM description (all strides in elements). */
export interface Gemm {
  readonly batch: number;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** Extra summed axis length (1 for plain matmul). */
  readonly rb: number;
  readonly aB: number;
  readonly aR: number;
  readonly aI: number;
  readonly aK: number;
  readonly bB: number;
  readonly bR: number;
  readonly bK: number;
  readonly bJ: number;
}

/** Span (elements) one batch item reads from an operand. */
function span(rb: number, r: number, d1: number, s1: number, d2: number, s2: number): number {
  return (rb - 1) * r + (d1 - 1) * s1 + (d2 - 1) * s2 + 1;
}

/** Run a strided GEMM, chunking over the batch. Output [batch, m, n]. */
export function* gemmOp(name: string, a: Arr, b: Arr, g: Gemm, limit: number): OpGen<Arr> {
  const per = g.m * g.n;
  const total = g.batch * per;
  const aSpan = span(g.rb, g.aR, g.m, g.aI, g.k, g.aK);
  const bSpan = span(g.rb, g.bR, g.k, g.bK, g.n, g.bJ);
  let nb = Math.min(g.batch, Math.floor(limit / per));
  if (a.length > limit)
    nb = g.aB === 0 ? (aSpan <= limit ? nb : 0) : Math.min(nb, Math.floor((limit - aSpan) / g.aB) + 1);
  if (b.length > limit)
    nb = g.bB === 0 ? (bSpan <= limit ? nb : 0) : Math.min(nb, Math.floor((limit - bSpan) / g.bB) + 1);
  if (nb < 1) return yield* splitGemm(name, a, b, g, limit);
  const constants = {
    m: g.m,
    n: g.n,
    k: g.k,
    rb: g.rb,
    aB: g.aB,
    aR: g.aR,
    aI: g.aI,
    aK: g.aK,
    bB: g.bB,
    bR: g.bR,
    bK: g.bK,
    bJ: g.bJ,
  };
  const spec = {
    name,
    fn: exactIndexSource(gemmKernel),
    constants,
    output: nb * per,
    loops: Math.max(g.k, g.rb),
  };
  // Windows of uniform length per chunk (a batch-shared operand is passed whole); the kernel's batch index starts
  // at 0 in every chunk.
  const aWin = g.aB === 0 ? a.length : Math.min(a.length, (nb - 1) * g.aB + aSpan);
  const bWin = g.bB === 0 ? b.length : Math.min(b.length, (nb - 1) * g.bB + bSpan);
  if (nb === g.batch) {
    return yield { spec, args: [windowOf(a, 0, aWin), windowOf(b, 0, bWin)] };
  }
  const pieces: { src: Arr; at: number }[] = [];
  for (let s0 = 0; s0 < g.batch; s0 += nb) {
    const s = Math.min(s0, g.batch - nb);
    const r = yield { spec, args: [windowOf(a, s * g.aB, aWin), windowOf(b, s * g.bB, bWin)] };
    pieces.push({ src: r, at: s * per });
  }
  return yield* assemble(total, pieces);
}

/**
 * One batch item does not fit a launch (its output or an operand's window is above the limit): per batch item,
 * split the rows i into blocks whose output and operand windows fit (the last block shifted back, recomputing a
 * few rows), or, when a row block cannot shrink A's window (A transposed: its rows are not its large stride), split
 * the summed axis k into blocks whose partial products are added. Throws BackendError when neither fits.
 */
function* splitGemm(name: string, a: Arr, b: Arr, g: Gemm, limit: number): OpGen<Arr> {
  const per = g.m * g.n;
  const one = { ...g, batch: 1, aB: 0, bB: 0 };
  const win = (x: Arr, off: number, len: number) => windowOf(x, off, Math.min(len, x.length - off));
  const aBase = (g.rb - 1) * g.aR + (g.k - 1) * g.aK + 1;
  const bSpan = span(g.rb, g.bR, g.k, g.bK, g.n, g.bJ);
  let mc = Math.min(g.m, Math.floor(limit / g.n));
  if (a.length > limit) mc = g.aI > 0 ? Math.min(mc, Math.floor((limit - aBase) / g.aI) + 1) : aBase <= limit ? mc : 0;
  if (b.length > limit && bSpan > limit) mc = 0;
  const pieces: { src: Arr; at: number }[] = [];
  if (mc >= 1) {
    const aSpan = span(g.rb, g.aR, mc, g.aI, g.k, g.aK);
    for (let bi = 0; bi < g.batch; bi++) {
      for (let i = 0; i < g.m; i += mc) {
        const i0 = Math.min(i, g.m - mc);
        const aw = win(a, bi * g.aB + i0 * g.aI, aSpan);
        const bw = win(b, bi * g.bB, bSpan);
        pieces.push({ src: yield* gemmOp(name, aw, bw, { ...one, m: mc }, limit), at: bi * per + i0 * g.n });
      }
    }
    return yield* assemble(g.batch * per, pieces);
  }
  // k blocks: A's and B's windows shrink with kc; the output (m x n) must fit one launch.
  const aRest = (g.rb - 1) * g.aR + (g.m - 1) * g.aI + 1;
  const bRest = (g.rb - 1) * g.bR + (g.n - 1) * g.bJ + 1;
  let kc = per <= limit ? g.k : 0;
  if (a.length > limit) kc = g.aK > 0 ? Math.min(kc, Math.floor((limit - aRest) / g.aK) + 1) : 0;
  if (b.length > limit) kc = g.bK > 0 ? Math.min(kc, Math.floor((limit - bRest) / g.bK) + 1) : 0;
  if (kc < 1) {
    throw new BackendError(`${name}: one batch item (m=${g.m}, n=${g.n}, k=${g.k}) exceeds the chunk limit ${limit}`);
  }
  for (let bi = 0; bi < g.batch; bi++) {
    let acc: Arr | null = null;
    for (let k0 = 0; k0 < g.k; k0 += kc) {
      const kn = Math.min(kc, g.k - k0);
      const aw = win(a, bi * g.aB + k0 * g.aK, aRest + (kn - 1) * g.aK);
      const bw = win(b, bi * g.bB + k0 * g.bK, bRest + (kn - 1) * g.bK);
      const part: Arr = yield* gemmOp(name, aw, bw, { ...one, k: kn }, limit);
      acc = acc ? yield* addOp(acc, part) : part;
    }
    pieces.push({ src: acc!, at: bi * per });
  }
  return g.batch === 1 ? pieces[0]!.src : yield* assemble(g.batch * per, pieces);
}

/** Plain batched matmul with trans flags (contiguous operands). */
export function* matmulOp(a: Arr, b: Arr, g: MatmulGeom, limit: number): OpGen<Arr> {
  const { batch, m, k, n } = g;
  if (a.length !== batch * m * k || b.length !== batch * k * n) {
    throw new ShapeError(
      `matmul: A has ${a.length} elements, B ${b.length}; geometry batch=${batch} m=${m} k=${k} n=${n} needs ` +
        `${batch * m * k} and ${batch * k * n}`,
    );
  }
  if (batch * m * n === 0 || k === 0) return yield* assemble(batch * m * n);
  return yield* gemmOp(
    'matmul',
    a,
    b,
    {
      batch,
      m,
      n,
      k,
      rb: 1,
      aB: m * k,
      aR: 0,
      aI: g.transA ? 1 : k,
      aK: g.transA ? m : 1,
      bB: k * n,
      bR: 0,
      bK: g.transB ? 1 : n,
      bJ: g.transB ? k : 1,
    },
    limit,
  );
}
