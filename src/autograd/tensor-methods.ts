/**
 * Tensor's op methods, installed on Tensor.prototype when autograd loads (tensor.ts holds the data structure and
 * imports nothing from autograd, so there is no tensor <-> autograd import cycle). The elementwise methods are
 * generated from the op table: every unary op `x.op()`, every binary op `x.op(other)`. The rest delegate to the
 * functional ops one for one. Loaded by src/tensor/creation.ts and src/autograd/ops/index.ts, so any tensor a
 * program can reach has them.
 */

import type { DType } from '../tensor/dtype.js';
import { noGrad, tidy } from '../tensor/engine.js';
import { BINARY_NAMES, type BinaryOp, UNARY_NAMES, type UnaryOp } from '../tensor/op-table.js';
import { Tensor } from '../tensor/tensor.js';
import { runBackward } from './graph.js';
import { binaryOp, cast, unaryOp } from './ops/elementwise.js';
import { matmul } from './ops/linalg.js';
import {
  clone,
  contiguous,
  copyInto,
  expand,
  fillInto,
  flatten,
  pad,
  permute,
  reshape,
  slice,
  squeeze,
  transpose,
  unsqueeze,
  view,
} from './ops/movement.js';
import { argReduce, logSoftmax, logsumexp, maxReduce, mean, minReduce, softmax, sum, variance } from './ops/reduce.js';

type UnaryMethods = { [K in UnaryOp]: () => Tensor };
type BinaryMethods = { [K in BinaryOp]: (other: Tensor | number) => Tensor };

declare module '../tensor/tensor.js' {
  interface Tensor extends UnaryMethods, BinaryMethods {
    /**
     * Back-propagate from this tensor. A scalar needs no seed; otherwise pass `gradient` of the same shape.
     * The graph is freed afterwards unless `retainGraph`.
     */
    backward(gradient?: Tensor, opts?: { retainGraph?: boolean }): void;
    sum(axes?: number | number[], keepdim?: boolean): Tensor;
    mean(axes?: number | number[], keepdim?: boolean): Tensor;
    /** Variance; `unbiased` divides by N-1 (PyTorch's default), false gives the biased variance. */
    var(axes?: number | number[], opts?: { unbiased?: boolean; keepdim?: boolean }): Tensor;
    max(axis?: number, keepdim?: boolean): Tensor;
    min(axis?: number, keepdim?: boolean): Tensor;
    /** Max along one axis with the index of the first maximum (PyTorch's `max(dim)`); indices are float. */
    maxWithIndices(axis: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
    /** Min along one axis with the index of the first minimum. */
    minWithIndices(axis: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
    argmax(axis?: number, keepdim?: boolean): Tensor;
    argmin(axis?: number, keepdim?: boolean): Tensor;
    logsumexp(axis: number, keepdim?: boolean): Tensor;
    softmax(axis: number): Tensor;
    logSoftmax(axis: number): Tensor;
    matmul(o: Tensor): Tensor;
    reshape(...shape: number[] | [number[]]): Tensor;
    view(...shape: number[] | [number[]]): Tensor;
    permute(...axes: number[] | [number[]]): Tensor;
    transpose(a: number, b: number): Tensor;
    /** Matrix transpose of the last two dims. */
    readonly T: Tensor;
    expand(...shape: number[] | [number[]]): Tensor;
    /** Slice along one axis: [start, end) with step (a view). */
    slice(axis: number, start: number, end?: number, step?: number): Tensor;
    narrow(axis: number, start: number, length: number): Tensor;
    squeeze(axis?: number): Tensor;
    unsqueeze(axis: number): Tensor;
    flatten(startDim?: number, endDim?: number): Tensor;
    contiguous(): Tensor;
    clone(): Tensor;
    /** Constant pad; `pads` lists (before, after) pairs from the LAST dim backwards, like torch's F.pad. */
    pad(pads: number[], value?: number): Tensor;
    /** Cast to another dtype (differentiable). */
    to(dtype: DType): Tensor;
    /** Copy values of `src` (broadcast to this shape) into this tensor (in place, version bumped). */
    copy_(src: Tensor): this;
    fill_(value: number): this;
    zero_(): this;
    add_(o: Tensor | number): this;
    sub_(o: Tensor | number): this;
    mul_(o: Tensor | number): this;
  }
}

function flatArgs(a: number[] | [number[]]): number[] {
  return Array.isArray(a[0]) ? (a[0] as number[]) : (a as number[]);
}

/** this <- op(this, o), computed without a graph (guarded like every in-place write). */
function updateWith<T extends Tensor>(t: T, op: string, compute: () => Tensor): T {
  t.assertWritable(op);
  tidy(() => copyInto(t, noGrad(compute)));
  return t;
}

const proto = Tensor.prototype as unknown as Record<string, unknown>;
for (const op of UNARY_NAMES) {
  proto[op] = function (this: Tensor) {
    return unaryOp(op, this);
  };
}
for (const op of BINARY_NAMES) {
  proto[op] = function (this: Tensor, o: Tensor | number) {
    return binaryOp(op, this, o);
  };
}

Object.assign(Tensor.prototype, {
  backward(this: Tensor, gradient?: Tensor, opts: { retainGraph?: boolean } = {}) {
    runBackward(this, gradient, opts.retainGraph ?? false);
  },
  sum(this: Tensor, axes?: number | number[], keepdim = false) {
    return sum(this, axes, keepdim);
  },
  mean(this: Tensor, axes?: number | number[], keepdim = false) {
    return mean(this, axes, keepdim);
  },
  var(this: Tensor, axes?: number | number[], opts: { unbiased?: boolean; keepdim?: boolean } = {}) {
    return variance(this, axes, opts.unbiased ?? true, opts.keepdim ?? false);
  },
  max(this: Tensor, axis?: number, keepdim = false) {
    return maxReduce(this, axis, keepdim);
  },
  min(this: Tensor, axis?: number, keepdim = false) {
    return minReduce(this, axis, keepdim);
  },
  maxWithIndices(this: Tensor, axis: number, keepdim = false) {
    return { values: maxReduce(this, axis, keepdim), indices: argReduce('argmax', this, axis, keepdim) };
  },
  minWithIndices(this: Tensor, axis: number, keepdim = false) {
    return { values: minReduce(this, axis, keepdim), indices: argReduce('argmin', this, axis, keepdim) };
  },
  argmax(this: Tensor, axis?: number, keepdim = false) {
    return argReduce('argmax', this, axis, keepdim);
  },
  argmin(this: Tensor, axis?: number, keepdim = false) {
    return argReduce('argmin', this, axis, keepdim);
  },
  logsumexp(this: Tensor, axis: number, keepdim = false) {
    return logsumexp(this, axis, keepdim);
  },
  softmax(this: Tensor, axis: number) {
    return softmax(this, axis);
  },
  logSoftmax(this: Tensor, axis: number) {
    return logSoftmax(this, axis);
  },
  matmul(this: Tensor, o: Tensor) {
    return matmul(this, o);
  },
  reshape(this: Tensor, ...shape: number[] | [number[]]) {
    return reshape(this, flatArgs(shape));
  },
  view(this: Tensor, ...shape: number[] | [number[]]) {
    return view(this, flatArgs(shape));
  },
  permute(this: Tensor, ...axes: number[] | [number[]]) {
    return permute(this, flatArgs(axes));
  },
  transpose(this: Tensor, a: number, b: number) {
    return transpose(this, a, b);
  },
  expand(this: Tensor, ...shape: number[] | [number[]]) {
    return expand(this, flatArgs(shape));
  },
  slice(this: Tensor, axis: number, start: number, end?: number, step = 1) {
    return slice(this, axis, start, end, step);
  },
  narrow(this: Tensor, axis: number, start: number, length: number) {
    return slice(this, axis, start, start + length, 1);
  },
  squeeze(this: Tensor, axis?: number) {
    return squeeze(this, axis);
  },
  unsqueeze(this: Tensor, axis: number) {
    return unsqueeze(this, axis);
  },
  flatten(this: Tensor, startDim = 0, endDim = -1) {
    return flatten(this, startDim, endDim);
  },
  contiguous(this: Tensor) {
    return contiguous(this);
  },
  clone(this: Tensor) {
    return clone(this);
  },
  pad(this: Tensor, pads: number[], value = 0) {
    return pad(this, pads, value);
  },
  to(this: Tensor, dtype: DType) {
    return cast(this, dtype);
  },
  copy_(this: Tensor, src: Tensor) {
    copyInto(this, src);
    return this;
  },
  fill_(this: Tensor, value: number) {
    fillInto(this, value);
    return this;
  },
  zero_(this: Tensor) {
    fillInto(this, 0);
    return this;
  },
  add_(this: Tensor, o: Tensor | number) {
    return updateWith(this, 'add_', () => binaryOp('add', this, o));
  },
  sub_(this: Tensor, o: Tensor | number) {
    return updateWith(this, 'sub_', () => binaryOp('sub', this, o));
  },
  mul_(this: Tensor, o: Tensor | number) {
    return updateWith(this, 'mul_', () => binaryOp('mul', this, o));
  },
});

Object.defineProperty(Tensor.prototype, 'T', {
  get(this: Tensor) {
    return transpose(this, -2, -1);
  },
  configurable: true,
});
