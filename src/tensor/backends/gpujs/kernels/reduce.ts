/**
 * Last-axis reductions of a contiguous [outer, inner] buffer: one thread per row, a loop over `inner` whose bound
 * is a constant (gpu.js caps loops with non-constant bounds at loopMaxIterations, 1000 by default, silently).
 * Rows above the chunk limit are reduced in pieces (partials), then the partials are combined by a second kernel;
 * arg* keep the first extreme index, returned as a float (exact < 2^24).
 */

import { ShapeError } from '../../../../errors.js';
import type { ReduceOp } from '../../../backend.js';
import type { OpGen } from '../context.js';
import { windowOf } from '../strided.js';
import type { KThis } from './types.js';

const CODES: Record<ReduceOp, number> = { sum: 0, max: 1, min: 2, argmax: 3, argmin: 4 };

export function reduceKernel(this: KThis, a: Float32Array): number {
  const base = this.thread.x * this.constants.inner!;
  const op = this.constants.op!;
  let acc = a[base]!;
  let arg = 0;
  for (let i = 1; i < this.constants.inner!; i++) {
    const v = a[base + i]!;
    if (op === 0) {
      acc += v;
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
  if (op >= 3) return arg;
  return acc;
}

/** Combine per-piece (value, arg) partials of one row: index = piece * pieceLen + arg of the first extreme piece. */
export function argCombineKernel(this: KThis, vals: Float32Array, args: Float32Array): number {
  const base = this.thread.x * this.constants.pieces!;
  let best = vals[base]!;
  let bi = 0;
  for (let p = 1; p < this.constants.pieces!; p++) {
    const v = vals[base + p]!;
    if (this.constants.isMax === 1 ? v > best : v < best) {
      best = v;
      bi = p;
    }
  }
  return bi * this.constants.pieceLen! + args[base + bi]!;
}

/** Reduce contiguous rows [outer, inner] -> [outer]. */
export function* reduceOp(
  op: ReduceOp,
  a: Float32Array,
  outer: number,
  inner: number,
  limit: number,
): OpGen<Float32Array> {
  if (outer * inner !== a.length) {
    throw new ShapeError(`reduce ${op}: outer*inner = ${outer}*${inner} != buffer size ${a.length}`);
  }
  if (outer === 0) return new Float32Array(0);
  if (inner === 0) {
    if (op === 'sum') return new Float32Array(outer);
    throw new ShapeError(`reduce ${op}: empty reduction axis`);
  }
  if (inner <= limit) return yield* reduceRows(CODES[op], a, outer, inner, limit);
  // Rows longer than the limit: pieces of pieceLen (the last piece shorter), partials laid out [outer, pieces].
  const pieceLen = limit;
  const pieces = Math.ceil(inner / pieceLen);
  const isArg = op === 'argmax' || op === 'argmin';
  const valCode = isArg ? (op === 'argmax' ? 1 : 2) : CODES[op];
  const vals = new Float32Array(outer * pieces);
  const args = new Float32Array(outer * pieces);
  for (let o = 0; o < outer; o++) {
    for (let p = 0; p < pieces; p++) {
      const len = Math.min(pieceLen, inner - p * pieceLen);
      const w = a.subarray(o * inner + p * pieceLen, o * inner + p * pieceLen + len);
      vals[o * pieces + p] = (yield* reduceRows(valCode, w, 1, len, limit))[0]!;
      if (isArg) args[o * pieces + p] = (yield* reduceRows(CODES[op], w, 1, len, limit))[0]!;
    }
  }
  if (!isArg) return yield* reduceRows(valCode, vals, outer, pieces, limit);
  return yield {
    spec: {
      name: 'reduce.argcombine',
      fn: argCombineKernel,
      constants: { pieces, pieceLen, isMax: op === 'argmax' ? 1 : 0 },
      output: outer,
      loops: pieces,
    },
    args: [vals, args],
  };
}

/** Rows fit the limit: launch over groups of rows whose windows fit it. */
function* reduceRows(code: number, a: Float32Array, outer: number, inner: number, limit: number): OpGen<Float32Array> {
  const rows = Math.max(1, Math.min(outer, Math.floor(limit / inner)));
  const spec = { name: 'reduce', fn: reduceKernel, constants: { inner, op: code }, output: rows, loops: inner };
  if (rows === outer) return yield { spec, args: [a] };
  const out = new Float32Array(outer);
  for (let r = 0; r < outer; r += rows) {
    const s = Math.min(r, outer - rows);
    out.set(yield { spec, args: [windowOf(a, s * inner, rows * inner)] }, s);
  }
  return out;
}
