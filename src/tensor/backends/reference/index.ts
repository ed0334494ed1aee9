/**
 * The reference backend: plain TypeScript, float32 and float64, written to be read and trusted rather than
 * fast. Every other backend is tested against it. Synchronous readback; buffers are typed arrays.
 */

import { DTypeError, ShapeError } from '../../../errors.js';
import type { Backend, BackendBuffer, StridedView } from '../../backend.js';
import { type DType, type TypedArray, toTyped, typedArray } from '../../dtype.js';
import { asRef, dataOf, RefHeap } from './buffer.js';
import { binaryFns, forEachStrided, stridedCopy, unaryFns } from './elementwise.js';
import { conv2d, conv2dGradInput, conv2dGradWeight, matmul } from './linalg.js';
import {
  groupNorm,
  groupNormBackward,
  groupNormRelu,
  sgdUpdate,
  weightStandardize,
  weightStandardizeBackward,
} from './norm.js';
import { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward, reduce } from './pool-reduce.js';

/** Create a fresh reference backend (each instance counts its own live buffers). */
export function createReferenceBackend(): Backend {
  const heap = new RefHeap();
  const wrap = (d: TypedArray, dtype: DType) => heap.wrap(d, dtype);
  const dt = (b: BackendBuffer) => b.dtype;
  const sameDtype = (op: string, ...bs: BackendBuffer[]) => {
    for (const b of bs) {
      if (b.dtype !== bs[0].dtype) throw new DTypeError(`reference.${op}: mixed dtypes ${bs.map((x) => x.dtype)}`);
    }
    return bs[0].dtype;
  };
  const view = (v: StridedView, op: string) => ({ data: dataOf(v.buf, op), v });

  const backend: Backend = {
    name: 'reference',
    dtypes: ['float32', 'float64'],
    alloc: (size, dtype) => heap.alloc(size, dtype),
    upload: (data, dtype) => heap.wrap(toTyped(data, dtype), dtype),
    readSync: (b) => dataOf(b, 'readSync').slice(),
    read: async (b) => dataOf(b, 'read').slice(),
    free: (b) => heap.free(b),
    liveBuffers: () => heap.live,
    copy(src, dst) {
      stridedCopy(dataOf(src.buf, 'copy'), src, dataOf(dst.buf, 'copy'), dst);
    },
    fill(b, value) {
      dataOf(b, 'fill').fill(value);
    },
    cast: (a, dtype) => wrap(toTyped(dataOf(a, 'cast'), dtype), dtype),
    unary(op, a) {
      const x = dataOf(a, op);
      const out = typedArray(a.dtype, x.length);
      const f = unaryFns[op];
      for (let i = 0; i < x.length; i++) out[i] = f(x[i]);
      return wrap(out, a.dtype);
    },
    binary(op, a, b, shape) {
      const dtype = sameDtype(op, a.buf, b.buf);
      const A = view(a, op);
      const B = view(b, op);
      const out = typedArray(
        dtype,
        shape.reduce((p, s) => p * s, 1),
      );
      const f = binaryFns[op];
      forEachStrided(shape, [a, b], (i, o) => {
        out[i] = f(A.data[o[0]], B.data[o[1]]);
      });
      return wrap(out, dtype);
    },
    where(cond, a, b, shape) {
      const dtype = sameDtype('where', a.buf, b.buf);
      const C = dataOf(cond.buf, 'where');
      const A = dataOf(a.buf, 'where');
      const B = dataOf(b.buf, 'where');
      const out = typedArray(
        dtype,
        shape.reduce((p, s) => p * s, 1),
      );
      forEachStrided(shape, [cond, a, b], (i, o) => {
        out[i] = C[o[0]] !== 0 ? A[o[1]] : B[o[2]];
      });
      return wrap(out, dtype);
    },
    reduce: (op, a, outer, inner) => wrap(reduce(op, dataOf(a, op), outer, inner, dt(a)), dt(a)),
    matmul(a, b, g) {
      const dtype = sameDtype('matmul', a, b);
      return wrap(matmul(dataOf(a, 'matmul'), dataOf(b, 'matmul'), g, dtype), dtype);
    },
    conv2d(x, w, g) {
      const dtype = sameDtype('conv2d', x, w);
      return wrap(conv2d(dataOf(x, 'conv2d'), dataOf(w, 'conv2d'), g, dtype), dtype);
    },
    conv2dAdd(x, w, r, g) {
      // the oracle: conv, then the add rounded as `binary('add')` rounds it
      const dtype = sameDtype('conv2dAdd', x, w, r);
      const y = conv2d(dataOf(x, 'conv2dAdd'), dataOf(w, 'conv2dAdd'), g, dtype);
      const R = dataOf(r, 'conv2dAdd');
      if (R.length !== y.length) {
        throw new ShapeError(`reference.conv2dAdd: r has ${R.length} elements, the output ${y.length}`);
      }
      const add = binaryFns.add;
      for (let i = 0; i < y.length; i++) y[i] = add(y[i], R[i]);
      return wrap(y, dtype);
    },
    conv2dGradInput(dy, w, g) {
      const dtype = sameDtype('conv2dGradInput', dy, w);
      return wrap(conv2dGradInput(dataOf(dy, 'conv2dGradInput'), dataOf(w, 'conv2dGradInput'), g, dtype), dtype);
    },
    conv2dGradWeight(x, dy, g) {
      const dtype = sameDtype('conv2dGradWeight', x, dy);
      return wrap(conv2dGradWeight(dataOf(x, 'conv2dGradWeight'), dataOf(dy, 'conv2dGradWeight'), g, dtype), dtype);
    },
    maxPool2d(x, g) {
      const r = maxPool2d(dataOf(x, 'maxPool2d'), g, dt(x));
      return { out: wrap(r.out, dt(x)), indices: wrap(r.indices, dt(x)) };
    },
    maxPool2dBackward: (dy, idx, g) =>
      wrap(maxPool2dBackward(dataOf(dy, 'maxPool2dBackward'), dataOf(idx, 'maxPool2dBackward'), g, dt(dy)), dt(dy)),
    avgPool2d: (x, g) => wrap(avgPool2d(dataOf(x, 'avgPool2d'), g, dt(x)), dt(x)),
    avgPool2dBackward: (dy, g) => wrap(avgPool2dBackward(dataOf(dy, 'avgPool2dBackward'), g, dt(dy)), dt(dy)),
    groupNorm(x, gamma, beta, g) {
      const dtype = sameDtype('groupNorm', x, gamma, beta);
      const r = groupNorm(dataOf(x, 'groupNorm'), dataOf(gamma, 'groupNorm'), dataOf(beta, 'groupNorm'), g, dtype);
      return { y: wrap(r.y, dtype), mean: wrap(r.mean, dtype), rstd: wrap(r.rstd, dtype) };
    },
    groupNormBackward(dy, x, gamma, mean, rstd, g) {
      const dtype = sameDtype('groupNormBackward', dy, x, gamma, mean, rstd);
      const d = (b: BackendBuffer) => dataOf(b, 'groupNormBackward');
      const r = groupNormBackward(d(dy), d(x), d(gamma), d(mean), d(rstd), g, dtype);
      return { dx: wrap(r.dx, dtype), dgamma: wrap(r.dgamma, dtype), dbeta: wrap(r.dbeta, dtype) };
    },
    groupNormRelu(x, gamma, beta, g) {
      const op = 'groupNormRelu';
      const dtype = sameDtype(op, x, gamma, beta);
      const r = groupNormRelu(dataOf(x, op), dataOf(gamma, op), dataOf(beta, op), g, dtype);
      return { y: wrap(r.y, dtype), mean: wrap(r.mean, dtype), rstd: wrap(r.rstd, dtype) };
    },
    groupNormReluBackward(dy, y, x, gamma, mean, rstd, g) {
      const dtype = sameDtype('groupNormReluBackward', dy, y, x, gamma, mean, rstd);
      const d = (b: BackendBuffer) => dataOf(b, 'groupNormReluBackward');
      const r = groupNormBackward(d(dy), d(x), d(gamma), d(mean), d(rstd), g, dtype, d(y));
      return { dx: wrap(r.dx, dtype), dgamma: wrap(r.dgamma, dtype), dbeta: wrap(r.dbeta, dtype) };
    },
    weightStandardize(w, o, fanIn, eps) {
      const r = weightStandardize(dataOf(w, 'weightStandardize'), o, fanIn, eps, dt(w));
      return { y: wrap(r.y, dt(w)), mean: wrap(r.mean, dt(w)), rstd: wrap(r.rstd, dt(w)) };
    },
    weightStandardizeBackward(dy, w, mean, rstd, o, fanIn) {
      const dtype = sameDtype('weightStandardizeBackward', dy, w, mean, rstd);
      const d = (b: BackendBuffer) => dataOf(b, 'weightStandardizeBackward');
      return wrap(weightStandardizeBackward(d(dy), d(w), d(mean), d(rstd), o, fanIn, dtype), dtype);
    },
    sgdUpdate(param, grad, buf, p) {
      sameDtype('sgdUpdate', param, grad, buf);
      sgdUpdate(dataOf(param, 'sgdUpdate'), dataOf(grad, 'sgdUpdate'), asRef(buf, 'sgdUpdate').data, p);
    },
    stepEnded() {}, // nothing to schedule
    dispose() {},
  };
  return backend;
}
