/**
 * Fast strided elementwise loops for the CPU backends, generated as JavaScript once per (op, arity) with the
 * op's expression from the op table (src/tensor/op-table.ts) inlined (no per-element closure call). Shapes are first collapsed: adjacent dims that are
 * contiguous with each other in every operand merge into one, so a broadcast bias add over NCHW becomes a
 * 3-level loop. The innermost dim runs as a tight loop with per-operand strides; outer dims use an odometer.
 *
 * Invariants: reads and writes Float32Array/Float64Array heaps at element offsets; the output is written
 * densely (row-major over `shape`) unless an output view is given (copy). Results equal the reference
 * backend's per-element loop exactly (same expressions, same order).
 */

import type { BinaryOp, UnaryOp } from '../backend.js';
import { BINARY_OPS, UNARY_OPS } from '../op-table.js';

type Arr = Float32Array | Float64Array;

export interface LoopView {
  readonly strides: readonly number[];
  readonly offset: number;
}

/**
 * Merge adjacent dims i, i+1 when every view has stride[i] == stride[i+1] * shape[i+1] (and drop size-1 dims).
 * Returns the collapsed shape and per-view strides.
 */
export function collapse(
  shape: readonly number[],
  views: readonly LoopView[],
): { shape: number[]; strides: number[][] } {
  const dims: number[] = [];
  const st: number[][] = views.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && views.every((v, k) => st[k][last] === v.strides[d] * shape[d])) {
      dims[last] *= shape[d];
      views.forEach((v, k) => {
        st[k][last] = v.strides[d];
      });
    } else {
      dims.push(shape[d]);
      views.forEach((v, k) => {
        st[k].push(v.strides[d]);
      });
    }
  }
  if (dims.length === 0) {
    dims.push(1);
    for (const s of st) s.push(0);
  }
  return { shape: dims, strides: st };
}

type Kernel = (
  ins: Arr[],
  offs: number[],
  strides: number[][],
  shape: number[],
  out: Arr,
  outOff: number,
  outStr: number[] | null,
) => void;

const cache = new Map<string, Kernel>();

/**
 * Build a loop over `arity` inputs with `expr` (inputs named a, b, c). When outStr is null the output is
 * dense; otherwise it is a strided view (used by copy).
 */
function kernel(expr: string, arity: number): Kernel {
  const key = `${arity}:${expr}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const names = ['a', 'b', 'c'].slice(0, arity);
  const body = `
    const nd = shape.length, inner = shape[nd - 1];
    ${names.map((_, k) => `const x${k} = ins[${k}], s${k} = strides[${k}][nd - 1];`).join('\n')}
    const os = outStr ? outStr[nd - 1] : 1;
    let outer = 1; for (let d = 0; d < nd - 1; d++) outer *= shape[d];
    const idx = new Array(nd).fill(0);
    ${names.map((_, k) => `let p${k} = offs[${k}];`).join(' ')}
    let po = outOff;
    for (let r = 0; r < outer; r++) {
      ${names.map((_, k) => `let q${k} = p${k};`).join(' ')}
      let qo = po;
      for (let i = 0; i < inner; i++) {
        ${names.map((n, k) => `const ${n} = x${k}[q${k}]; q${k} += s${k};`).join(' ')}
        out[qo] = ${expr};
        qo += os;
      }
      for (let d = nd - 2; d >= 0; d--) {
        idx[d]++;
        ${names.map((_, k) => `p${k} += strides[${k}][d];`).join(' ')}
        if (outStr) po += outStr[d];
        if (idx[d] < shape[d]) break;
        ${names.map((_, k) => `p${k} -= strides[${k}][d] * shape[d];`).join(' ')}
        if (outStr) po -= outStr[d] * shape[d];
        idx[d] = 0;
      }
      if (!outStr) po = outOff + (r + 1) * inner;
    }`;
  const k = new Function('ins', 'offs', 'strides', 'shape', 'out', 'outOff', 'outStr', body) as Kernel;
  cache.set(key, k);
  return k;
}

/** out[dense i] = op(a[view i], b[view i]) over `shape`. */
export function stridedBinary(
  op: BinaryOp,
  shape: readonly number[],
  a: Arr,
  av: LoopView,
  b: Arr,
  bv: LoopView,
  out: Arr,
  outOff: number,
): void {
  if (shape.some((d) => d === 0)) return;
  const c = collapse(shape, [av, bv]);
  kernel(BINARY_OPS[op].js, 2)([a, b], [av.offset, bv.offset], c.strides, c.shape, out, outOff, null);
}

/** out[dense i] = cond[i] != 0 ? a[i] : b[i]. */
export function stridedWhere(
  shape: readonly number[],
  c: Arr,
  cv: LoopView,
  a: Arr,
  av: LoopView,
  b: Arr,
  bv: LoopView,
  out: Arr,
  outOff: number,
): void {
  if (shape.some((d) => d === 0)) return;
  const k = collapse(shape, [cv, av, bv]);
  kernel('a !== 0 ? b : c', 3)([c, a, b], [cv.offset, av.offset, bv.offset], k.strides, k.shape, out, outOff, null);
}

/** out[dense i] = op(a[view i]). */
export function stridedUnary(
  op: UnaryOp,
  shape: readonly number[],
  a: Arr,
  av: LoopView,
  out: Arr,
  outOff: number,
): void {
  if (shape.some((d) => d === 0)) return;
  const c = collapse(shape, [av]);
  kernel(UNARY_OPS[op].js, 1)([a], [av.offset], c.strides, c.shape, out, outOff, null);
}

/** dst[dst view i] = src[src view i] over `shape` (both strided). */
export function stridedCopy(shape: readonly number[], src: Arr, sv: LoopView, dst: Arr, dv: LoopView): void {
  if (shape.some((d) => d === 0)) return;
  const c = collapse(shape, [sv, dv]);
  kernel('a', 1)([src], [sv.offset], [c.strides[0]], c.shape, dst, dv.offset, c.strides[1]);
}
