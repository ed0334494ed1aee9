/**
 * Last-axis reductions of a contiguous [outer, inner] buffer: one thread per row, loops whose bounds are constants
 * (gpu.js caps loops with non-constant bounds at loopMaxIterations, 1000 by default, silently).
 * Rows above the chunk limit are reduced in pieces (partials), then the partials are combined by a second kernel;
 * arg* keep the first extreme index, returned as a float (exact < 2^24).
 *
 * Numerics: a sum runs over blocks of about sqrt(inner) elements (`sumBlocking`), each level a compensated
 * (Neumaier) sum, so it is about as exact as a float64 sum rounded once: 4096 values near 1000, serial float32
 * 4.7e-7 relative error, blocked 5.4e-8, compensated = the rounded float64 sum; 32768 values of N(0, 1) (sum 12.9,
 * heavy cancellation) serial and blocked 1e-5, compensated 3.1e-8 (test/tensor/backends/gpujs/numerics.test.ts).
 * Should a compiler drop the compensation (fast-math reassociation), the blocking still bounds the growth.
 * NaN (Backend contract): max/min return NaN and argmax/argmin the index of the FIRST NaN when a row holds one,
 * as the reference does. The test is `!(v <= inf)` with +Infinity a runtime scalar argument: an ordered compare
 * against a value the shader compiler cannot see, true exactly for NaN, no self-comparison for it to fold.
 */

import { ShapeError } from '../../../../errors.js';
import type { ReduceOp } from '../../../backend.js';
import { type Arr, assemble, type OpGen } from '../op-gen.js';
import { windowOf } from '../strided.js';
import type { KThis } from './types.js';

const CODES: Record<ReduceOp, number> = { sum: 0, max: 1, min: 2, argmax: 3, argmin: 4 };

/**
 * Blocking of a sum over n elements. levels 3 (default): runs of B elements, B runs to a block, nb blocks, with
 * B = ceil(cbrt(n)), nb = ceil(n / B^2); levels 2: nb runs of B, B = ceil(sqrt(n)), nb = ceil(n / B). Either way
 * about n^(1/levels) additions per level instead of n in a row.
 */
export function sumBlocking(n: number, levels: 2 | 3 = 3): { readonly B: number; readonly nb: number } {
  const B = Math.max(1, Math.ceil(levels === 3 ? Math.cbrt(n) : Math.sqrt(n)));
  return { B, nb: Math.max(1, Math.ceil(n / (levels === 3 ? B * B : B))) };
}

/** The op code of `reduceKernel` that gives a row's mean shifted by its first element (GroupNorm / WS statistics). */
const SHIFTED_MEAN = 5;

/**
 * One row per thread: op 0 sum (nb runs of B, compensated), 1 max, 2 min, 3 argmax, 4 argmin, 5 (SHIFTED_MEAN)
 * the mean as x0 + sum(x - x0) / inner with x0 the row's first element, the same compensated sum (near a large
 * mean x - x0 is exact and holds only the spread; a constant row gives its value exactly). `inf` is +Infinity
 * (a runtime argument: the NaN test `!(v <= inf)` must not be foldable). The first NaN ends the scan.
 */
export function reduceKernel(this: KThis, a: Float32Array, inf: number): number {
  const base = this.thread.x * this.constants.inner!;
  const op = this.constants.op!;
  if (op === 0 || op === 5) {
    let shift = 0;
    if (op === 5) shift = a[base]!;
    // Runs of B elements, then the runs; each level a compensated (Neumaier) sum: the *C terms collect the rounding
    // error of every addition, exactly (TwoSum), and are added back once at the end.
    let total = 0;
    let totalC = 0;
    for (let b = 0; b < this.constants.nb!; b++) {
      let run = 0;
      let runC = 0;
      for (let j = 0; j < this.constants.B!; j++) {
        const i = b * this.constants.B! + j;
        if (i < this.constants.inner!) {
          const v = a[base + i]! - shift;
          const t = run + v;
          if (Math.abs(run) >= Math.abs(v)) {
            runC += run - t + v;
          } else {
            runC += v - t + run;
          }
          run = t;
        }
      }
      // The run's compensation joins the total's unrounded (rounding run + runC here would lose it again).
      const t = total + run;
      if (Math.abs(total) >= Math.abs(run)) {
        totalC += total - t + run + runC;
      } else {
        totalC += run - t + total + runC;
      }
      total = t;
    }
    if (op === 5) return shift + (total + totalC) / this.constants.inner!;
    return total + totalC;
  }
  let acc = a[base]!;
  let arg = 0;
  let nan = acc <= inf ? 0 : 1;
  for (let i = 1; i < this.constants.inner!; i++) {
    if (nan === 0) {
      const v = a[base + i]!;
      if (!(v <= inf)) {
        acc = v;
        arg = i;
        nan = 1;
      } else if (op === 1 || op === 3) {
        if (v > acc) {
          acc = v;
          arg = i;
        }
      } else if (v < acc) {
        acc = v;
        arg = i;
      }
    }
  }
  if (op >= 3) return arg;
  return acc;
}

/**
 * Combine per-piece (value, arg) partials of one row: index = piece * pieceLen + arg of the first extreme piece;
 * the first piece whose value is NaN wins (it holds the row's first NaN).
 */
export function argCombineKernel(this: KThis, vals: Float32Array, args: Float32Array, inf: number): number {
  const base = this.thread.x * this.constants.pieces!;
  let best = vals[base]!;
  let bi = 0;
  let nan = best <= inf ? 0 : 1;
  for (let p = 1; p < this.constants.pieces!; p++) {
    if (nan === 0) {
      const v = vals[base + p]!;
      if (!(v <= inf)) {
        best = v;
        bi = p;
        nan = 1;
      } else if (this.constants.isMax === 1 ? v > best : v < best) {
        best = v;
        bi = p;
      }
    }
  }
  return bi * this.constants.pieceLen! + args[base + bi]!;
}

/** Reduce contiguous rows [outer, inner] -> [outer]. */
export function* reduceOp(op: ReduceOp, a: Arr, outer: number, inner: number, limit: number): OpGen<Arr> {
  if (outer * inner !== a.length) {
    throw new ShapeError(`reduce ${op}: outer*inner = ${outer}*${inner} != buffer size ${a.length}`);
  }
  if (outer === 0) return yield* assemble(0);
  if (inner === 0) {
    if (op === 'sum') return yield* assemble(outer);
    throw new ShapeError(`reduce ${op}: empty reduction axis`);
  }
  if (inner <= limit) return yield* reduceRows(CODES[op], a, outer, inner, limit);
  // Rows longer than the limit: pieces of pieceLen (the last piece shorter), partials laid out [outer, pieces].
  const pieceLen = limit;
  const pieces = Math.ceil(inner / pieceLen);
  const isArg = op === 'argmax' || op === 'argmin';
  const valCode = isArg ? (op === 'argmax' ? 1 : 2) : CODES[op];
  // Partials stay where the launches ran (device arrays on webgpu): assembled, never read back one by one.
  const valParts: { src: Arr; at: number }[] = [];
  const argParts: { src: Arr; at: number }[] = [];
  for (let o = 0; o < outer; o++) {
    for (let p = 0; p < pieces; p++) {
      const len = Math.min(pieceLen, inner - p * pieceLen);
      const w = a.subarray(o * inner + p * pieceLen, o * inner + p * pieceLen + len);
      valParts.push({ src: yield* reduceRows(valCode, w, 1, len, limit), at: o * pieces + p });
      if (isArg) argParts.push({ src: yield* reduceRows(CODES[op], w, 1, len, limit), at: o * pieces + p });
    }
  }
  const vals = yield* assemble(outer * pieces, valParts);
  const args = isArg ? yield* assemble(outer * pieces, argParts) : vals;
  if (!isArg) return yield* reduceRows(valCode, vals, outer, pieces, limit);
  return yield {
    spec: {
      name: 'reduce.argcombine',
      fn: argCombineKernel,
      constants: { pieces, pieceLen, isMax: op === 'argmax' ? 1 : 0 },
      output: outer,
      loops: pieces,
    },
    args: [vals, args, Number.POSITIVE_INFINITY],
  };
}

/** Means of `rows` contiguous rows of length L, in one launch (SHIFTED_MEAN; the caller keeps rows * L in a launch). */
export function* shiftedRowMeans(a: Arr, rows: number, L: number): OpGen<Arr> {
  return yield* reduceRows(SHIFTED_MEAN, a, rows, L, rows * L);
}

/** Rows fit the limit: launch over groups of rows whose windows fit it. */
function* reduceRows(code: number, a: Arr, outer: number, inner: number, limit: number): OpGen<Arr> {
  const rows = Math.max(1, Math.min(outer, Math.floor(limit / inner)));
  const { B, nb } = code === 0 || code === SHIFTED_MEAN ? sumBlocking(inner, 2) : { B: 1, nb: 1 };
  const constants = { inner, op: code, B, nb };
  const spec = { name: 'reduce', fn: reduceKernel, constants, output: rows, loops: Math.max(inner, B, nb) };
  const inf = Number.POSITIVE_INFINITY;
  if (rows === outer) return yield { spec, args: [a, inf] };
  const parts: { src: Arr; at: number }[] = [];
  for (let r = 0; r < outer; r += rows) {
    const s = Math.min(r, outer - rows);
    parts.push({ src: yield { spec, args: [windowOf(a, s * inner, rows * inner), inf] }, at: s });
  }
  return yield* assemble(outer, parts);
}
