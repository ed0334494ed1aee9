/**
 * Tensor creation: from nested arrays or typed arrays, constant fills, ranges and seeded random draws.
 * Random values are drawn on the host from the seeded Rng (src/tensor/random.ts) and uploaded, so the same seed
 * gives the same tensor on every backend. Options: dtype (default float32), backend (default: the engine's),
 * requiresGrad. Importing this module installs the Tensor op methods (src/autograd/tensor-methods.ts).
 */

import '../autograd/tensor-methods.js';
import { ShapeError } from '../errors.js';
import type { Backend } from './backend.js';
import type { DType } from './dtype.js';
import { getDefaultBackend } from './engine.js';
import { globalRng, type Rng } from './random.js';
import { fromBuffer } from './raw.js';
import { type Shape, sizeOf } from './shape.js';
import type { NestedArray, Tensor } from './tensor.js';

export interface CreateOptions {
  dtype?: DType;
  backend?: Backend;
  requiresGrad?: boolean;
}

function make(values: ArrayLike<number> | null, shape: Shape, o: CreateOptions): Tensor {
  const backend = o.backend ?? getDefaultBackend();
  const dtype = o.dtype ?? 'float32';
  const buf = values ? backend.upload(values, dtype) : backend.alloc(sizeOf(shape), dtype);
  const t = fromBuffer(backend, buf, shape);
  if (o.requiresGrad) t.requiresGrad = true;
  return t;
}

/** A tensor from a number or nested arrays (rectangular). */
export function tensor(data: NestedArray, o: CreateOptions = {}): Tensor {
  const shape: number[] = [];
  let cur: NestedArray = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0] as NestedArray;
  }
  const flat: number[] = [];
  const walk = (v: NestedArray, d: number) => {
    if (d === shape.length) {
      if (Array.isArray(v)) throw new ShapeError('tensor: ragged nested array');
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[d]) throw new ShapeError(`tensor: ragged nested array at depth ${d}`);
    for (const x of v) walk(x, d + 1);
  };
  walk(data, 0);
  return make(flat, shape, o);
}

/** A tensor of `shape` from a flat typed (or plain) array of exactly sizeOf(shape) elements. */
export function fromTyped(data: ArrayLike<number>, shape: Shape, o: CreateOptions = {}): Tensor {
  if (data.length !== sizeOf(shape)) {
    throw new ShapeError(`fromTyped: ${data.length} values for shape [${shape}] (${sizeOf(shape)} elements)`);
  }
  return make(data, shape, o);
}

export function zeros(shape: Shape, o: CreateOptions = {}): Tensor {
  return make(null, shape, o);
}

export function ones(shape: Shape, o: CreateOptions = {}): Tensor {
  return full(shape, 1, o);
}

export function full(shape: Shape, value: number, o: CreateOptions = {}): Tensor {
  const t = make(null, shape, { ...o, requiresGrad: false });
  t.backend.fill(t.storage.buf, value);
  if (o.requiresGrad) t.requiresGrad = true;
  return t;
}

/** [start, end) with step, like torch.arange. */
export function arange(start: number, end?: number, step = 1, o: CreateOptions = {}): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (step === 0) throw new ShapeError('arange: step must be non-zero');
  const n = Math.max(0, Math.ceil((end - start) / step));
  return make(
    Array.from({ length: n }, (_, i) => start + i * step),
    [n],
    o,
  );
}

/** N(0, 1) draws from the seeded generator (global unless `rng` is given). */
export function randn(shape: Shape, o: CreateOptions & { rng?: Rng; mean?: number; std?: number } = {}): Tensor {
  const v = new Float64Array(sizeOf(shape));
  (o.rng ?? globalRng).fillNormal(v, o.mean ?? 0, o.std ?? 1);
  return make(v, shape, o);
}

/** U[lo, hi) draws (default [0, 1)) from the seeded generator. */
export function rand(shape: Shape, o: CreateOptions & { rng?: Rng; low?: number; high?: number } = {}): Tensor {
  const v = new Float64Array(sizeOf(shape));
  (o.rng ?? globalRng).fillUniform(v, o.low ?? 0, o.high ?? 1);
  return make(v, shape, o);
}

/** zeros/ones/full shaped like t (same backend and dtype). */
export function zerosLike(t: Tensor, o: CreateOptions = {}): Tensor {
  return zeros(t.shape, { dtype: t.dtype, backend: t.backend, ...o });
}
export function onesLike(t: Tensor, o: CreateOptions = {}): Tensor {
  return ones(t.shape, { dtype: t.dtype, backend: t.backend, ...o });
}
export function fullLike(t: Tensor, value: number, o: CreateOptions = {}): Tensor {
  return full(t.shape, value, { dtype: t.dtype, backend: t.backend, ...o });
}
