/**
 * Movement, elementwise, reduction and pooling ops of the wasm backend. relu, contiguous same-shape add/sub/mul,
 * row sums and max-pool run generated wasm split over output ranges; the rest is TypeScript over Float32Array views
 * of the shared memory, reusing the reference backend's scalar definitions so semantics match exactly.
 * The heap view is re-fetched after every allocation (allocation may grow the memory and replace its buffer).
 */

import { envOn } from '../../../env.js';
import type { Backend, BackendBuffer, BinaryOp, Pool2dGeom, StridedView } from '../../backend.js';
import { avgPool2d, avgPool2dBackward, reduce as refReduce } from '../reference/pool-reduce.js';
import { stridedBinary, stridedCopy, stridedUnary, stridedWhere } from '../strided-loops.js';
import { SCALAR_BINARY } from './kernels-misc.js';
import { makeNnOps } from './ops-nn.js';
import { need, runSplit } from './split.js';
import type { WasmState } from './state.js';

const numel = (shape: readonly number[]) => shape.reduce((p, v) => p * v, 1);

function isContiguous(v: StridedView): boolean {
  let stride = 1;
  for (let d = v.shape.length - 1; d >= 0; d--) {
    if (v.shape[d] !== 1 && v.strides[d] !== stride) return false;
    stride *= v.shape[d]!;
  }
  return true;
}

/**
 * Max-pool four planes per f32x4 (the `maxPool4` kernel) unless the environment sets BIT_WASM_POOL4=0 (read at
 * backend creation: the A/B switch for the bench; the scalar `maxPool` kernel then runs every plane).
 */
const poolFour = () => envOn('BIT_WASM_POOL4');

const WASM_BINARY: Partial<Record<BinaryOp, string>> = { add: 'add', sub: 'sub', mul: 'mul' };

type OpKeys = Exclude<
  keyof Backend,
  | 'name'
  | 'dtypes'
  | 'alloc'
  | 'upload'
  | 'readSync'
  | 'read'
  | 'free'
  | 'liveBuffers'
  | 'cast'
  | 'stepEnded'
  | 'dispose'
>;

/** The Backend methods implemented on top of `s`. */
export function makeOps(s: WasmState): Pick<Backend, OpKeys> {
  const B = (b: BackendBuffer, op: string) => s.buf(b, op);
  const four = poolFour();
  // a strided view over the whole heap (offsets in heap elements)
  const hv = (v: StridedView, op: string) => {
    const w = B(v.buf, op);
    return { strides: v.strides, offset: v.offset + (w.ptr >>> 2) };
  };
  const poolPlanes = (g: Pool2dGeom) => g.n * g.c;
  return {
    copy(src, dst) {
      const sv = hv(src, 'copy');
      const dv = hv(dst, 'copy');
      s.written(B(dst.buf, 'copy'));
      const h = s.heap();
      stridedCopy(src.shape, h, sv, h, dv);
    },
    fill(b, value) {
      const w = B(b, 'fill');
      s.written(w);
      s.heap().fill(value, w.ptr >>> 2, (w.ptr >>> 2) + w.size);
    },
    unary(op, a) {
      const x = B(a, op);
      const out = s.newBuffer(x.size, false);
      if (op === 'relu') {
        runSplit(s, x.size, x.size, 16, (lo, hi) => ({ fn: 'relu', args: [x.ptr, out.ptr, lo, hi] }));
        return out;
      }
      const h = s.heap();
      stridedUnary(op, [x.size], h, { strides: [1], offset: x.ptr >>> 2 }, h, out.ptr >>> 2);
      return out;
    },
    binary(op, a, b, shape) {
      const total = numel(shape);
      const A = B(a.buf, op);
      const Bb = B(b.buf, op);
      const out = s.newBuffer(total, false);
      const fn = WASM_BINARY[op];
      if (fn && isContiguous(a) && isContiguous(b)) {
        const pa = A.ptr + a.offset * 4;
        const pb = Bb.ptr + b.offset * 4;
        runSplit(s, total, total, 16, (lo, hi) => ({ fn, args: [pa, pb, out.ptr, lo, hi] }));
        return out;
      }
      if (op in SCALAR_BINARY && isContiguous(a) && b.strides.every((st) => st === 0)) {
        // b broadcasts one element (e.g. the relu-backward mask x > 0)
        const pa = A.ptr + a.offset * 4;
        const pb = Bb.ptr + b.offset * 4;
        runSplit(s, total, total, 16, (lo, hi) => ({ fn: `bs_${op}`, args: [pa, pb, out.ptr, lo, hi] }));
        return out;
      }
      const h = s.heap();
      stridedBinary(op, shape, h, hv(a, op), h, hv(b, op), h, out.ptr >>> 2);
      return out;
    },
    where(cond, a, b, shape) {
      const out = s.newBuffer(numel(shape), false);
      const h = s.heap();
      stridedWhere(shape, h, hv(cond, 'where'), h, hv(a, 'where'), h, hv(b, 'where'), h, out.ptr >>> 2);
      return out;
    },
    reduce(op, a, outer, inner) {
      const x = B(a, op);
      need(op, x, outer * inner, 'input');
      const out = s.newBuffer(outer, false);
      if (op === 'sum') {
        runSplit(s, outer, outer * inner, 1, (lo, hi) => ({ fn: 'rowSum', args: [x.ptr, out.ptr, inner, lo, hi] }));
        return out;
      }
      const xi = x.ptr >>> 2;
      const r = refReduce(op, s.heap().subarray(xi, xi + outer * inner), outer, inner, 'float32');
      s.heap().set(r, out.ptr >>> 2);
      return out;
    },
    maxPool2d(x, g) {
      const X = B(x, 'maxPool2d');
      need('maxPool2d', X, g.n * g.c * g.h * g.w, 'x');
      const size = g.n * g.c * g.oh * g.ow;
      const out = s.newBuffer(size, false);
      const idx = s.newBuffer(size, false);
      const geom = [g.h, g.w, g.kh, g.kw, g.stride, g.oh, g.ow, g.pad, g.padValue];
      const args = [X.ptr, out.ptr, idx.ptr, ...geom];
      // whole groups of four planes in the f32x4 kernel, the rest (< 4 planes) in the scalar one
      runSplit(s, poolPlanes(g), size * g.kh * g.kw, four ? 4 : 1, (lo, hi) => {
        const mid = four ? lo + (hi - lo - ((hi - lo) % 4)) : lo;
        return [
          { fn: 'maxPool4', args: [...args, lo, mid] },
          { fn: 'maxPool', args: [...args, mid, hi] },
        ];
      });
      return { out, indices: idx };
    },
    maxPool2dBackward(dy, indices, g) {
      const D = B(dy, 'maxPool2dBackward');
      const I = B(indices, 'maxPool2dBackward');
      const ohw = g.oh * g.ow;
      need('maxPool2dBackward', D, g.n * g.c * ohw, 'dy');
      need('maxPool2dBackward', I, g.n * g.c * ohw, 'indices');
      const dx = s.newBuffer(g.n * g.c * g.h * g.w, false);
      runSplit(s, poolPlanes(g), dx.size, 1, (lo, hi) => ({
        fn: 'maxPoolBwd',
        args: [D.ptr, I.ptr, dx.ptr, g.h * g.w, ohw, lo, hi],
      }));
      return dx;
    },
    avgPool2d(x, g) {
      const X = B(x, 'avgPool2d');
      const xi = X.ptr >>> 2;
      const r = avgPool2d(s.heap().subarray(xi, xi + g.n * g.c * g.h * g.w), g, 'float32');
      const out = s.newBuffer(r.length, false);
      s.heap().set(r, out.ptr >>> 2);
      return out;
    },
    avgPool2dBackward(dy, g) {
      const D = B(dy, 'avgPool2dBackward');
      const di = D.ptr >>> 2;
      const r = avgPool2dBackward(s.heap().subarray(di, di + g.n * g.c * g.oh * g.ow), g, 'float32');
      const out = s.newBuffer(r.length, false);
      s.heap().set(r, out.ptr >>> 2);
      return out;
    },
    ...makeNnOps(s),
  };
}
