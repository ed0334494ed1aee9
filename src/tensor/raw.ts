/**
 * Raw tensor kernels: launch backend primitives on Tensors without recording gradients. Autograd ops
 * (src/autograd/ops) are built from these; so are the backward passes. Handles the glue every backend would
 * otherwise repeat: contiguity (kernels read dense buffers except strided elementwise reads), broadcasting,
 * axis permutation for reductions, batch broadcasting for matmul.
 */

import { BackendError, DTypeError, ShapeError } from '../errors.js';
import type { Backend, BackendBuffer, BinaryOp, ReduceOp, SgdParams, StridedView, UnaryOp } from './backend.js';
import type { DType } from './dtype.js';
import { broadcastShapes, broadcastStrides, normAxes, type Shape, sizeOf } from './shape.js';
import { Storage } from './storage.js';
import { Tensor } from './tensor.js';

/** Wrap a fresh backend buffer (ownership moves to the tensor). */
export function fromBuffer(backend: Backend, buf: BackendBuffer, shape: Shape): Tensor {
  if (buf.size < sizeOf(shape)) {
    throw new ShapeError(`fromBuffer: buffer of ${buf.size} elements is too small for shape [${shape}]`);
  }
  return new Tensor(new Storage(backend, buf), shape);
}

/** True when t covers its whole buffer densely from offset 0 (kernels can read storage.buf directly). */
export function isDense(t: Tensor): boolean {
  return t.offset === 0 && t.isContiguous() && t.storage.buf.size === t.size;
}

/** t itself when dense, else a dense copy. The caller disposes the copy (compare with t). */
export function contiguousRaw(t: Tensor): Tensor {
  t.assertAlive('contiguous');
  if (isDense(t)) return t;
  const buf = t.backend.alloc(t.size, t.dtype);
  const out = fromBuffer(t.backend, buf, t.shape);
  t.backend.copy(viewOf(t), { buf, shape: t.shape, strides: out.strides, offset: 0 });
  return out;
}

/** Run fn on a dense buffer of t, disposing a temporary copy afterwards. */
export function withDense<T>(t: Tensor, fn: (buf: BackendBuffer) => T): T {
  const c = contiguousRaw(t);
  try {
    return fn(c.storage.buf);
  } finally {
    if (c !== t) c.dispose();
  }
}

/** Strided view of t, optionally broadcast to `target`. */
export function viewOf(t: Tensor, target?: Shape): StridedView {
  t.assertAlive('view');
  if (!target) return { buf: t.storage.buf, shape: t.shape, strides: t.strides, offset: t.offset };
  return {
    buf: t.storage.buf,
    shape: target,
    strides: broadcastStrides('broadcast', t.shape, t.strides, target),
    offset: t.offset,
  };
}

export function checkSame(op: string, ...ts: Tensor[]): { backend: Backend; dtype: DType } {
  const b = ts[0].backend;
  const d = ts[0].dtype;
  for (const t of ts) {
    t.assertAlive(op);
    if (t.backend !== b)
      throw new BackendError(
        `${op}: tensors live on different backend instances (${b.name}, ${t.backend.name}); move them with .toBackend()`,
      );
    if (t.dtype !== d) throw new DTypeError(`${op}: mixed dtypes ${ts.map((x) => x.dtype).join(', ')}`);
  }
  return { backend: b, dtype: d };
}

/** A 0-d tensor holding v, on t's backend and dtype. */
export function scalarLike(t: Tensor, v: number): Tensor {
  return fromBuffer(t.backend, t.backend.upload([v], t.dtype), []);
}

export function rawUnary(op: UnaryOp, t: Tensor): Tensor {
  return fromBuffer(
    t.backend,
    withDense(t, (b) => t.backend.unary(op, b)),
    t.shape,
  );
}

export function rawBinary(op: BinaryOp, a: Tensor, b: Tensor): Tensor {
  const { backend } = checkSame(op, a, b);
  const shape = broadcastShapes(op, a.shape, b.shape);
  return fromBuffer(backend, backend.binary(op, viewOf(a, shape), viewOf(b, shape), shape), shape);
}

export function rawBinaryScalar(op: BinaryOp, a: Tensor, v: number, scalarFirst = false): Tensor {
  const s = scalarLike(a, v);
  try {
    return scalarFirst ? rawBinary(op, s, a) : rawBinary(op, a, s);
  } finally {
    s.dispose();
  }
}

export function rawWhere(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  const { backend } = checkSame('where', a, b);
  checkSame('where', cond, a);
  const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, a.shape), b.shape);
  const buf = backend.where(viewOf(cond, shape), viewOf(a, shape), viewOf(b, shape), shape);
  return fromBuffer(backend, buf, shape);
}

/** Permute so that the given axes come last; returns the permutation and the kept shape. */
function moveAxesLast(shape: Shape, axes: number[]) {
  const keepAx = shape.map((_, i) => i).filter((i) => !axes.includes(i));
  return { perm: [...keepAx, ...axes], kept: keepAx.map((i) => shape[i]) };
}

/** A view of t with its axes permuted (no copy). */
export function permuteView(t: Tensor, perm: readonly number[]): Tensor {
  return new Tensor(
    t.storage,
    perm.map((p) => t.shape[p]),
    perm.map((p) => t.strides[p]),
    t.offset,
  );
}

/** Reduce over `axes` (all when undefined) with a last-axis backend reduction. */
export function rawReduce(op: ReduceOp, t: Tensor, axes: number | readonly number[] | undefined, keepdim: boolean) {
  t.assertAlive(op);
  const ax = normAxes(op, axes, t.ndim);
  const { perm, kept } = moveAxesLast(t.shape, ax);
  const inner = ax.reduce((p, a) => p * t.shape[a], 1);
  if (inner === 0 && op !== 'sum') throw new ShapeError(`${op}: reduction over an empty axis of [${t.shape}]`);
  const outer = sizeOf(kept);
  const pv = permuteView(t, perm);
  const buf = withDense(pv, (b) => t.backend.reduce(op, b, outer, inner));
  pv.dispose();
  const outShape = keepdim ? t.shape.map((d, i) => (ax.includes(i) ? 1 : d)) : kept;
  return fromBuffer(t.backend, buf, outShape);
}

/** Sum a broadcast gradient back down to `shape` (the adjoint of broadcasting). */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.ndim - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const r = rawReduce('sum', g, axes, true);
  const out = reshapeRaw(r, shape);
  if (out !== r) r.dispose();
  return out;
}

/** Reshape: a view when t is contiguous, else a contiguous copy reshaped. */
export function reshapeRaw(t: Tensor, shape: Shape): Tensor {
  if (t.isContiguous()) return new Tensor(t.storage, shape, undefined, t.offset);
  const c = contiguousRaw(t);
  const v = new Tensor(c.storage, shape, undefined, 0);
  c.dispose();
  return v;
}

/**
 * Batched matmul with NumPy semantics: 1-D operands are promoted (and the added dim removed), batch dims
 * broadcast. Returns [...batch, m, n].
 */
export function rawMatmul(a: Tensor, b: Tensor): Tensor {
  const { backend } = checkSame('matmul', a, b);
  if (a.ndim === 0 || b.ndim === 0) throw new ShapeError('matmul: 0-d operands are not allowed');
  const a2 = a.ndim === 1 ? [1, a.shape[0]] : a.shape;
  const b2 = b.ndim === 1 ? [b.shape[0], 1] : b.shape;
  const m = a2[a2.length - 2];
  const k = a2[a2.length - 1];
  const k2 = b2[b2.length - 2];
  const n = b2[b2.length - 1];
  if (k !== k2) throw new ShapeError(`matmul: inner dims differ: [${a.shape}] x [${b.shape}] (${k} vs ${k2})`);
  const batch = broadcastShapes('matmul', a2.slice(0, -2), b2.slice(0, -2));
  const nb = sizeOf(batch);
  const av = reshapeRaw(a, a2);
  const bv = reshapeRaw(b, b2);
  const ae = expandDense(av, [...batch, m, k]);
  const be = expandDense(bv, [...batch, k, n]);
  const buf = backend.matmul(ae.storage.buf, be.storage.buf, {
    batch: nb,
    m,
    k,
    n,
    transA: false,
    transB: false,
  });
  for (const t of [av, bv, ae, be]) if (t !== a && t !== b) t.dispose();
  let outShape = [...batch, m, n];
  if (a.ndim === 1) outShape = [...batch, n];
  if (b.ndim === 1) outShape = a.ndim === 1 ? [...batch] : [...batch, m];
  return fromBuffer(backend, buf, outShape);
}

/** A dense tensor of `shape` holding t broadcast (t itself when already dense and of that shape). */
export function expandDense(t: Tensor, shape: Shape): Tensor {
  if (isDense(t) && t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i])) return t;
  const buf = t.backend.alloc(sizeOf(shape), t.dtype);
  const out = fromBuffer(t.backend, buf, shape);
  t.backend.copy(viewOf(t, shape), { buf, shape, strides: out.strides, offset: 0 });
  return out;
}

/**
 * In-place fused SGD update through the backend's `sgdUpdate` primitive: `p` (and `momentum`, when given) are
 * written in place and their storage versions bumped, so autograd sees the write. `p` and `momentum` must be dense
 * and writable (an optimizer runs this under noGrad); `grad` is densified if needed. Without `momentum` the
 * primitive ignores its momentum buffer (hp.momentum must be 0), so the gradient stands in for it.
 * Shapes: p, grad, momentum all hold p.size elements.
 * @throws ShapeError when p or momentum is not dense or a size differs.
 */
export function sgdUpdateInPlace(p: Tensor, grad: Tensor, momentum: Tensor | null, hp: SgdParams): void {
  p.assertWritable('sgdUpdate');
  checkSame('sgdUpdate', p, grad, ...(momentum ? [momentum] : []));
  for (const [what, t] of [
    ['parameter', p],
    ['momentum buffer', momentum],
  ] as const) {
    if (t && !isDense(t)) throw new ShapeError(`sgdUpdate: the ${what} [${t.shape}] is not a dense tensor`);
  }
  if (grad.size !== p.size || (momentum && momentum.size !== p.size)) {
    throw new ShapeError(
      `sgdUpdate: parameter of ${p.size} elements, gradient of ${grad.size}` +
        (momentum ? `, momentum buffer of ${momentum.size}` : ''),
    );
  }
  withDense(grad, (gb) => p.backend.sgdUpdate(p.storage.buf, gb, momentum ? momentum.storage.buf : gb, hp));
  p.storage.version++;
  if (momentum) momentum.storage.version++;
}

/**
 * Tell the backends holding `params` that a training step ended (Backend.stepEnded: a scheduling hint, once per
 * backend; results never depend on it). The optimizer calls it after its update.
 */
export function markStepEnded(params: Iterable<Tensor>): void {
  const seen = new Set<Backend>();
  for (const p of params) {
    const b = p.backend;
    if (seen.has(b)) continue;
    seen.add(b);
    b.stepEnded();
  }
}
