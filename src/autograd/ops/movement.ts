/**
 * Differentiable movement ops. Views share storage (reshape of a contiguous tensor, view, permute,
 * transpose, expand, slice, squeeze, unsqueeze, flatten); copies allocate (contiguous, clone, pad, concat,
 * stack). Backward math: reshape -> reshape back; permute -> inverse permute; expand -> sum over the expanded
 * axes (sumTo); slice -> scatter g into zeros; pad -> slice of g; concat -> slices of g.
 */

import { IndexError, ShapeError } from '../../errors.js';
import { tidy } from '../../tensor/engine.js';
import {
  checkSame,
  contiguousRaw,
  fromBuffer,
  permuteView,
  reshapeRaw,
  scalarLike,
  sumTo,
  viewOf,
} from '../../tensor/raw.js';
import { broadcastStrides, contiguousStrides, normAxis, resolveShape, type Shape } from '../../tensor/shape.js';
import { Tensor } from '../../tensor/tensor.js';
import { record } from '../graph.js';

export { contiguousRaw };

/** Reshape to `shape` (one -1 allowed): a view when x is contiguous, else a copy. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const target = resolveShape('reshape', x.shape, shape);
  const y = reshapeRaw(x, target);
  return record('reshape', y, [x], (g) => [reshapeRaw(g, x.shape)]);
}

/** Like reshape but never copies: a non-contiguous x is a ShapeError (PyTorch's view). */
export function view(x: Tensor, shape: readonly number[]): Tensor {
  if (!x.isContiguous()) {
    throw new ShapeError(`view: tensor [${x.shape}] with strides [${x.strides}] is not contiguous; use reshape`);
  }
  return reshape(x, shape);
}

/** Permute axes (a view). perm must be a permutation of 0..ndim-1. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const p = perm.map((a) => normAxis('permute', a, x.ndim));
  if (p.length !== x.ndim || new Set(p).size !== p.length) {
    throw new ShapeError(`permute: [${perm}] is not a permutation of the ${x.ndim} axes of [${x.shape}]`);
  }
  x.assertAlive('permute');
  const y = permuteView(x, p);
  const inv = new Array<number>(p.length);
  p.forEach((a, i) => {
    inv[a] = i;
  });
  return record('permute', y, [x], (g) => [permuteView(g, inv)]);
}

/** Swap two axes (a view). */
export function transpose(x: Tensor, a: number, b: number): Tensor {
  const p = x.shape.map((_, i) => i);
  const i = normAxis('transpose', a, x.ndim);
  const j = normAxis('transpose', b, x.ndim);
  [p[i], p[j]] = [p[j], p[i]];
  return permute(x, p);
}

/** Broadcast to `shape` without copying (size-1 dims stretched by 0 strides; -1 keeps a dim). */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  x.assertAlive('expand');
  const lead = shape.length - x.ndim;
  const target = shape.map((d, i) => (d === -1 ? x.shape[i - lead] : d));
  const st = broadcastStrides('expand', x.shape, x.strides, target);
  const y = new Tensor(x.storage, target, st, x.offset);
  return record('expand', y, [x], (g) => {
    const r = sumTo(g, x.shape);
    return [r === g ? g.detach() : r];
  });
}

/** Elements [start, end) with `step` along axis (a view). Negative start/end count from the end. */
export function slice(x: Tensor, axis: number, start: number, end?: number, step = 1): Tensor {
  const a = normAxis('slice', axis, x.ndim);
  const n = x.shape[a];
  if (!Number.isInteger(step) || step < 1) throw new IndexError(`slice: step must be a positive integer, got ${step}`);
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + n : v, 0), n);
  const s = clamp(start);
  const e = Math.max(clamp(end ?? n), s);
  const len = Math.ceil((e - s) / step);
  x.assertAlive('slice');
  const shape = x.shape.map((d, i) => (i === a ? len : d));
  const strides = x.strides.map((st, i) => (i === a ? st * step : st));
  const y = new Tensor(x.storage, shape, strides, x.offset + s * x.strides[a]);
  return record('slice', y, [x], (g) => {
    const dx = zerosRaw(x);
    const cst = contiguousStrides(x.shape);
    x.backend.copy(viewOf(g), {
      buf: dx.storage.buf,
      shape,
      strides: cst.map((c, i) => (i === a ? c * step : c)),
      offset: s * cst[a],
    });
    return [dx];
  });
}

function zerosRaw(like: Tensor, shape: Shape = like.shape): Tensor {
  return fromBuffer(
    like.backend,
    like.backend.alloc(
      shape.reduce((p, d) => p * d, 1),
      like.dtype,
    ),
    shape,
  );
}

/** Remove size-1 axes (all, or the given one). */
export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined)
    return reshape(
      x,
      x.shape.filter((d) => d !== 1),
    );
  const a = normAxis('squeeze', axis, x.ndim);
  if (x.shape[a] !== 1) return reshape(x, x.shape);
  return reshape(
    x,
    x.shape.filter((_, i) => i !== a),
  );
}

/** Insert a size-1 axis at `axis` (in [-ndim-1, ndim]). */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normAxis('unsqueeze', axis, x.ndim + 1);
  const shape = [...x.shape];
  shape.splice(a, 0, 1);
  return reshape(x, shape);
}

/** Merge axes startDim..endDim into one. */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normAxis('flatten', startDim, x.ndim);
  const e = normAxis('flatten', endDim, x.ndim);
  if (e < s) throw new IndexError(`flatten: endDim ${endDim} before startDim ${startDim}`);
  const mid = x.shape.slice(s, e + 1).reduce((p, d) => p * d, 1);
  return reshape(x, [...x.shape.slice(0, s), mid, ...x.shape.slice(e + 1)]);
}

/** x itself when contiguous, else a contiguous copy (identity gradient). */
export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous()) return x;
  return clone(x);
}

/** A contiguous copy with its own storage (identity gradient). */
export function clone(x: Tensor): Tensor {
  x.assertAlive('clone');
  const y = zerosRaw(x);
  x.backend.copy(viewOf(x), viewOf(y));
  return record('clone', y, [x], (g) => [g.detach()]);
}

/**
 * Constant padding. `pads` = [lastBefore, lastAfter, secondLastBefore, ...] like torch.nn.functional.pad.
 * Shape: each padded dim grows by before + after.
 */
export function pad(x: Tensor, pads: readonly number[], value = 0): Tensor {
  if (pads.length % 2 !== 0 || pads.length / 2 > x.ndim) {
    throw new ShapeError(`pad: ${pads.length} pad values for a tensor of ${x.ndim} dims [${x.shape}]`);
  }
  if (pads.some((p) => !Number.isInteger(p) || p < 0)) throw new ShapeError(`pad: negative or fractional [${pads}]`);
  const before = x.shape.map(() => 0);
  const after = x.shape.map(() => 0);
  for (let i = 0; i < pads.length / 2; i++) {
    before[x.ndim - 1 - i] = pads[2 * i];
    after[x.ndim - 1 - i] = pads[2 * i + 1];
  }
  const shape = x.shape.map((d, i) => d + before[i] + after[i]);
  const y = zerosRaw(x, shape);
  if (value !== 0) x.backend.fill(y.storage.buf, value);
  const cst = contiguousStrides(shape);
  const off = before.reduce((p, b, i) => p + b * cst[i], 0);
  x.backend.copy(viewOf(x), { buf: y.storage.buf, shape: x.shape, strides: cst, offset: off });
  return record('pad', y, [x], (g) => [contiguousRaw(new Tensor(g.storage, x.shape, cst, off))]);
}

/** Concatenate along axis; all other dims must match. */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new ShapeError('concat: no tensors');
  checkSame('concat', ...xs);
  const a = normAxis('concat', axis, xs[0].ndim);
  for (const t of xs) {
    if (t.ndim !== xs[0].ndim || t.shape.some((d, i) => i !== a && d !== xs[0].shape[i])) {
      throw new ShapeError(`concat: shapes ${xs.map((q) => `[${q.shape}]`).join(', ')} differ off axis ${a}`);
    }
  }
  const shape = xs[0].shape.map((d, i) => (i === a ? xs.reduce((p, t) => p + t.shape[a], 0) : d));
  const y = zerosRaw(xs[0], shape);
  const cst = contiguousStrides(shape);
  const offsets: number[] = [];
  let pos = 0;
  for (const t of xs) {
    offsets.push(pos);
    t.backend.copy(viewOf(t), { buf: y.storage.buf, shape: t.shape, strides: cst, offset: pos * cst[a] });
    pos += t.shape[a];
  }
  return record('concat', y, xs, (g) =>
    xs.map((t, i) => (t.requiresGrad ? contiguousRaw(new Tensor(g.storage, t.shape, cst, offsets[i] * cst[a])) : null)),
  );
}

/** Stack along a new axis. */
export function stack(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new ShapeError('stack: no tensors');
  const a = normAxis('stack', axis, xs[0].ndim + 1);
  return concat(
    xs.map((t) => unsqueeze(t, a)),
    a,
  );
}

/** In-place copy of src (broadcast) into dst. Bumps dst's version. */
export function copyInto(dst: Tensor, src: Tensor): void {
  dst.assertWritable('copy_');
  checkSame('copy_', dst, src);
  dst.backend.copy(viewOf(src, dst.shape), viewOf(dst));
  dst.storage.version++;
}

/** In-place fill. Bumps dst's version. */
export function fillInto(dst: Tensor, value: number): void {
  dst.assertWritable('fill_');
  if (dst.offset === 0 && dst.isContiguous() && dst.storage.buf.size === dst.size) {
    dst.backend.fill(dst.storage.buf, value);
  } else {
    tidy(() => dst.backend.copy(viewOf(scalarLike(dst, value), dst.shape), viewOf(dst)));
  }
  dst.storage.version++;
}
