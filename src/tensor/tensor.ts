/**
 * Tensor: a view (shape, strides, offset) over a refcounted Storage on one backend, plus autograd fields.
 * Views (reshape of a contiguous tensor, permute, transpose, expand, slice, squeeze, unsqueeze) share storage;
 * everything else returns a new tensor. Methods are thin: the math and gradients live in src/autograd/ops.
 *
 * Invariants: strides/offset index into storage.buf; a disposed tensor throws on use; `grad` is a tensor of
 * the same shape and dtype, kept out of tidy scopes; only leaves (`gradFn === null`) accumulate `.grad`.
 */

import type { Node } from '../autograd/graph.js';
import { runBackward } from '../autograd/graph.js';
import * as ops from '../autograd/ops/index.js';
import { AutogradError, BackendError, IndexError } from '../errors.js';
import type { Backend } from './backend.js';
import type { DType, TypedArray } from './dtype.js';
import { isGradEnabled, keep, noGrad, trackTensor } from './engine.js';
import { contiguousStrides, isContiguous, type Shape, sizeOf } from './shape.js';
import type { Storage } from './storage.js';

export type NestedArray = number | NestedArray[];

let nextId = 1;

export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly storage: Storage;
  readonly dtype: DType;
  /** Whether gradients flow to this tensor. Settable on leaves. */
  private _requiresGrad = false;
  /** Accumulated gradient (leaves only). */
  grad: Tensor | null = null;
  /** The autograd node that produced this tensor (null for leaves). */
  gradFn: Node | null = null;
  /** Keep `.grad` on this non-leaf during backward (PyTorch's retain_grad). */
  retainsGrad = false;
  private disposed = false;

  constructor(storage: Storage, shape: Shape, strides?: readonly number[], offset = 0) {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze(strides ? [...strides] : contiguousStrides(shape));
    this.offset = offset;
    this.dtype = storage.buf.dtype;
    storage.retain();
    trackTensor(this);
  }

  get backend(): Backend {
    return this.storage.backend;
  }
  get ndim(): number {
    return this.shape.length;
  }
  get size(): number {
    return sizeOf(this.shape);
  }
  get isDisposed(): boolean {
    return this.disposed;
  }
  get isLeaf(): boolean {
    return this.gradFn === null;
  }
  get requiresGrad(): boolean {
    return this._requiresGrad;
  }
  set requiresGrad(v: boolean) {
    if (!this.isLeaf && !v) {
      throw new AutogradError('requiresGrad: cannot clear requiresGrad on a non-leaf tensor; use detach()');
    }
    this._requiresGrad = v;
  }
  /** Mark as requiring grad (chainable, PyTorch's requires_grad_()). */
  requiresGrad_(v = true): this {
    this.requiresGrad = v;
    return this;
  }
  isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }

  /** Throws if the tensor was disposed. */
  assertAlive(op: string): void {
    if (this.disposed || this.storage.released) {
      throw new BackendError(`${op}: tensor #${this.id} [${this.shape}] was disposed`);
    }
  }

  /** Drop this view's reference to its storage (and its grad). Safe to call twice. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.storage.release();
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  // ---- read back ----
  /** Contiguous copy of the values, synchronously (reference and wasm; throws on async-only devices). */
  dataSync(): TypedArray {
    this.assertAlive('dataSync');
    const c = ops.contiguousRaw(this);
    const out = c.backend.readSync(c.storage.buf);
    if (c !== this) c.dispose();
    return out.length === this.size ? out : out.slice(0, this.size);
  }
  /** Contiguous copy of the values (works on every backend). */
  async data(): Promise<TypedArray> {
    this.assertAlive('data');
    const c = ops.contiguousRaw(this);
    const out = await c.backend.read(c.storage.buf);
    if (c !== this) c.dispose();
    return out.length === this.size ? out : out.slice(0, this.size);
  }
  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new IndexError(`item: tensor has ${this.size} elements [${this.shape}], expected 1`);
    return this.dataSync()[0];
  }
  /** Nested JS arrays (a number for a scalar). */
  toArray(): NestedArray {
    const d = this.dataSync();
    const build = (dim: number, off: number): NestedArray => {
      if (dim === this.ndim) return d[off];
      const inner = sizeOf(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) => build(dim + 1, off + i * inner));
    };
    return build(0, 0);
  }

  // ---- autograd ----
  /**
   * Back-propagate from this tensor. A scalar needs no seed; otherwise pass `gradient` of the same shape.
   * The graph is freed afterwards unless `retainGraph`.
   */
  backward(gradient?: Tensor, opts: { retainGraph?: boolean } = {}): void {
    runBackward(this, gradient, opts.retainGraph ?? false);
  }
  /** A new leaf sharing storage, cut from the graph. */
  detach(): Tensor {
    this.assertAlive('detach');
    return new Tensor(this.storage, this.shape, this.strides, this.offset);
  }
  /** Ask backward to keep .grad on this non-leaf. */
  retainGrad(): this {
    this.retainsGrad = true;
    return this;
  }
  /** Set the gradient (kept out of tidy scopes); disposes the previous one. */
  setGrad(g: Tensor | null): void {
    if (this.grad && this.grad !== g) this.grad.dispose();
    this.grad = g ? keep(g) : null;
  }
  /** Dispose the gradient (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    this.setGrad(null);
  }

  /** Guard for in-place writes: refuses leaves that require grad while recording, and non-leaves. */
  assertWritable(op: string): void {
    this.assertAlive(op);
    if (this.requiresGrad && isGradEnabled()) {
      throw new AutogradError(
        `${op}: in-place write to a tensor that requires grad while grad is enabled (wrap it in noGrad)`,
      );
    }
    if (this.gradFn)
      throw new AutogradError(`${op}: in-place write to a non-leaf tensor (output of ${this.gradFn.name})`);
  }

  // ---- elementwise (broadcasting) ----
  add(o: Tensor | number): Tensor {
    return ops.add(this, o);
  }
  sub(o: Tensor | number): Tensor {
    return ops.sub(this, o);
  }
  mul(o: Tensor | number): Tensor {
    return ops.mul(this, o);
  }
  div(o: Tensor | number): Tensor {
    return ops.div(this, o);
  }
  pow(o: Tensor | number): Tensor {
    return ops.pow(this, o);
  }
  maximum(o: Tensor | number): Tensor {
    return ops.maximum(this, o);
  }
  minimum(o: Tensor | number): Tensor {
    return ops.minimum(this, o);
  }
  eq(o: Tensor | number): Tensor {
    return ops.compare('eq', this, o);
  }
  ne(o: Tensor | number): Tensor {
    return ops.compare('ne', this, o);
  }
  lt(o: Tensor | number): Tensor {
    return ops.compare('lt', this, o);
  }
  le(o: Tensor | number): Tensor {
    return ops.compare('le', this, o);
  }
  gt(o: Tensor | number): Tensor {
    return ops.compare('gt', this, o);
  }
  ge(o: Tensor | number): Tensor {
    return ops.compare('ge', this, o);
  }
  neg(): Tensor {
    return ops.neg(this);
  }
  abs(): Tensor {
    return ops.abs(this);
  }
  exp(): Tensor {
    return ops.exp(this);
  }
  log(): Tensor {
    return ops.log(this);
  }
  sqrt(): Tensor {
    return ops.sqrt(this);
  }
  rsqrt(): Tensor {
    return ops.rsqrt(this);
  }
  relu(): Tensor {
    return ops.relu(this);
  }
  sigmoid(): Tensor {
    return ops.sigmoid(this);
  }
  tanh(): Tensor {
    return ops.tanh(this);
  }
  square(): Tensor {
    return ops.mul(this, this);
  }

  // ---- reductions ----
  sum(axes?: number | number[], keepdim = false): Tensor {
    return ops.sum(this, axes, keepdim);
  }
  mean(axes?: number | number[], keepdim = false): Tensor {
    return ops.mean(this, axes, keepdim);
  }
  /** Variance; `unbiased` divides by N-1 (PyTorch's default), false gives the biased (population) variance. */
  var(axes?: number | number[], opts: { unbiased?: boolean; keepdim?: boolean } = {}): Tensor {
    return ops.variance(this, axes, opts.unbiased ?? true, opts.keepdim ?? false);
  }
  max(axis?: number, keepdim = false): Tensor {
    return ops.maxReduce(this, axis, keepdim);
  }
  min(axis?: number, keepdim = false): Tensor {
    return ops.minReduce(this, axis, keepdim);
  }
  /** Max along one axis with the index of the first maximum (PyTorch's `max(dim)`); indices are float. */
  maxWithIndices(axis: number, keepdim = false): { values: Tensor; indices: Tensor } {
    return { values: ops.maxReduce(this, axis, keepdim), indices: ops.argReduce('argmax', this, axis, keepdim) };
  }
  /** Min along one axis with the index of the first minimum. */
  minWithIndices(axis: number, keepdim = false): { values: Tensor; indices: Tensor } {
    return { values: ops.minReduce(this, axis, keepdim), indices: ops.argReduce('argmin', this, axis, keepdim) };
  }
  argmax(axis?: number, keepdim = false): Tensor {
    return ops.argReduce('argmax', this, axis, keepdim);
  }
  argmin(axis?: number, keepdim = false): Tensor {
    return ops.argReduce('argmin', this, axis, keepdim);
  }
  logsumexp(axis: number, keepdim = false): Tensor {
    return ops.logsumexp(this, axis, keepdim);
  }
  softmax(axis: number): Tensor {
    return ops.softmax(this, axis);
  }
  logSoftmax(axis: number): Tensor {
    return ops.logSoftmax(this, axis);
  }

  // ---- linear algebra ----
  matmul(o: Tensor): Tensor {
    return ops.matmul(this, o);
  }

  // ---- views and copies ----
  reshape(...shape: number[] | [number[]]): Tensor {
    return ops.reshape(this, flatArgs(shape));
  }
  view(...shape: number[] | [number[]]): Tensor {
    return ops.view(this, flatArgs(shape));
  }
  permute(...axes: number[] | [number[]]): Tensor {
    return ops.permute(this, flatArgs(axes));
  }
  transpose(a: number, b: number): Tensor {
    return ops.transpose(this, a, b);
  }
  /** Matrix transpose of the last two dims. */
  get T(): Tensor {
    return ops.transpose(this, -2, -1);
  }
  expand(...shape: number[] | [number[]]): Tensor {
    return ops.expand(this, flatArgs(shape));
  }
  /** Slice along one axis: [start, end) with step (a view). */
  slice(axis: number, start: number, end?: number, step = 1): Tensor {
    return ops.slice(this, axis, start, end, step);
  }
  narrow(axis: number, start: number, length: number): Tensor {
    return ops.slice(this, axis, start, start + length, 1);
  }
  squeeze(axis?: number): Tensor {
    return ops.squeeze(this, axis);
  }
  unsqueeze(axis: number): Tensor {
    return ops.unsqueeze(this, axis);
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return ops.flatten(this, startDim, endDim);
  }
  contiguous(): Tensor {
    return ops.contiguous(this);
  }
  clone(): Tensor {
    return ops.clone(this);
  }
  /** Constant pad; `pads` lists (before, after) pairs from the LAST dim backwards, like torch.nn.functional.pad. */
  pad(pads: number[], value = 0): Tensor {
    return ops.pad(this, pads, value);
  }
  /** Cast to another dtype (differentiable). */
  to(dtype: DType): Tensor {
    return ops.cast(this, dtype);
  }

  // ---- in-place (guarded; version counter bumped) ----
  /** Copy values of `src` (broadcast to this shape) into this tensor. */
  copy_(src: Tensor): this {
    ops.copyInto(this, src);
    return this;
  }
  fill_(value: number): this {
    ops.fillInto(this, value);
    return this;
  }
  zero_(): this {
    return this.fill_(0);
  }
  add_(o: Tensor | number): this {
    return this.updateWith('add_', () => ops.add(this, o));
  }
  sub_(o: Tensor | number): this {
    return this.updateWith('sub_', () => ops.sub(this, o));
  }
  mul_(o: Tensor | number): this {
    return this.updateWith('mul_', () => ops.mul(this, o));
  }
  private updateWith(op: string, compute: () => Tensor): this {
    this.assertWritable(op);
    const value = noGrad(compute);
    ops.copyInto(this, value);
    value.dispose();
    return this;
  }

  toString(): string {
    return `Tensor(shape=[${this.shape}], dtype=${this.dtype}, backend=${this.backend.name}${
      this.requiresGrad ? ', requiresGrad' : ''
    })`;
  }
}

function flatArgs(a: number[] | [number[]]): number[] {
  return Array.isArray(a[0]) ? (a[0] as number[]) : (a as number[]);
}
