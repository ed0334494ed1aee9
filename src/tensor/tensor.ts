/**
 * Tensor: a view (shape, strides, offset) over a refcounted Storage on one backend, plus autograd fields.
 * Views (reshape of a contiguous tensor, permute, transpose, expand, slice, squeeze, unsqueeze) share storage;
 * everything else returns a new tensor. This file holds the data structure only: the op methods (`add`, `sum`,
 * `reshape`, `backward`, ...) are installed on the prototype by src/autograd/tensor-methods.ts, so the tensor
 * layer never imports autograd (no import cycle); every public entry (tensor/index.ts, creation.ts) loads them.
 *
 * Invariants: strides/offset index into storage.buf; a disposed tensor throws on use; `grad` is a tensor of
 * the same shape and dtype, kept out of tidy scopes; only leaves (`gradFn === null`) accumulate `.grad`.
 */

import { AutogradError, BackendError, IndexError } from '../errors.js';
import type { Backend, BackendBuffer } from './backend.js';
import type { DType, TypedArray } from './dtype.js';
import { isGradEnabled, keep, trackTensor } from './engine.js';
import { contiguousStrides, isContiguous, type Shape, sizeOf } from './shape.js';
import type { Storage } from './storage.js';

export type NestedArray = number | NestedArray[];

/** A backward closure: the output gradient to one gradient per input (null where none flows). */
export type BackwardFn = (grad: Tensor) => (Tensor | null)[];

/**
 * The autograd node that produced a tensor (built and run by src/autograd/graph.ts): its inputs, the backward
 * closure, the tensors it saved (with their storage versions) and the temporaries it owns.
 */
export interface GradNode {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  backward: BackwardFn | null;
  saved: { storage: Storage; version: number; what: string }[];
  owned: Tensor[];
}

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
  gradFn: GradNode | null = null;
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
    const { buf, temp } = this.denseBuffer();
    try {
      return this.trim(this.backend.readSync(buf));
    } finally {
      if (temp) this.backend.free(buf);
    }
  }
  /** Contiguous copy of the values (works on every backend). */
  async data(): Promise<TypedArray> {
    this.assertAlive('data');
    const { buf, temp } = this.denseBuffer();
    try {
      return this.trim(await this.backend.read(buf));
    } finally {
      if (temp) this.backend.free(buf);
    }
  }
  /** The storage buffer when this view covers it densely, else a temporary dense copy (temp: true). */
  private denseBuffer(): { buf: BackendBuffer; temp: boolean } {
    if (this.offset === 0 && this.isContiguous() && this.storage.buf.size === this.size) {
      return { buf: this.storage.buf, temp: false };
    }
    const buf = this.backend.alloc(this.size, this.dtype);
    const dst = { buf, shape: this.shape, strides: contiguousStrides(this.shape), offset: 0 };
    this.backend.copy({ buf: this.storage.buf, shape: this.shape, strides: this.strides, offset: this.offset }, dst);
    return { buf, temp: true };
  }
  private trim(out: TypedArray): TypedArray {
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

  // ---- autograd (backward() is installed by src/autograd/tensor-methods.ts) ----
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

  toString(): string {
    return `Tensor(shape=[${this.shape}], dtype=${this.dtype}, backend=${this.backend.name}${
      this.requiresGrad ? ', requiresGrad' : ''
    })`;
  }
}
