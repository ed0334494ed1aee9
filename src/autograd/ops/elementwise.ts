/**
 * Differentiable elementwise ops with NumPy broadcasting. Backward math (g = upstream gradient, summed back to
 * each input's shape with sumTo, the adjoint of broadcasting):
 *   add: (g, g)   sub: (g, -g)   mul: (g*b, g*a)   div: (g/b, -g*a/b^2)   pow: (g*b*a^(b-1), g*log(a)*a^b)
 *   maximum/minimum: g routed to the selected input (ties split evenly, as PyTorch does)
 *   neg: -g  abs: g*sign(a)  exp: g*y  log: g/a  sqrt: g/(2y)  rsqrt: -g*y^3/2  relu: g*(a>0)
 *   sigmoid: g*y*(1-y)  tanh: g*(1-y^2)  where: (-, g where c, g where !c)  cast: g cast back
 * Comparisons return 0/1 tensors and are not differentiable.
 */

import type { BinaryOp } from '../../tensor/backend.js';
import type { DType } from '../../tensor/dtype.js';
import {
  fromBuffer,
  rawBinary,
  rawBinaryScalar,
  rawUnary,
  rawWhere,
  scalarLike,
  sumTo,
  withDense,
} from '../../tensor/raw.js';
import type { Tensor } from '../../tensor/tensor.js';
import { record } from '../graph.js';

type Operand = Tensor | number;

function lift(a: Tensor, b: Operand): Tensor {
  return typeof b === 'number' ? scalarLike(a, b) : b;
}

/** Run a raw binary op with scalar operands lifted, recording the given backward. */
function binary(
  name: BinaryOp,
  a: Tensor,
  bIn: Operand,
  back: (g: Tensor, a: Tensor, b: Tensor, y: Tensor) => [Tensor | null, Tensor | null],
): Tensor {
  const b = lift(a, bIn);
  const y = rawBinary(name, a, b);
  const owned = typeof bIn === 'number' ? [b] : [];
  return record(
    name,
    y,
    [a, b],
    (g) => {
      const [ga, gb] = back(g, a, b, y);
      return [reduceTo(ga, a), reduceTo(gb, b)];
    },
    { save: [a, b], owned },
  );
}

function reduceTo(g: Tensor | null, t: Tensor): Tensor | null {
  if (!g || !t.requiresGrad) {
    g?.dispose();
    return null;
  }
  const r = sumTo(g, t.shape);
  if (r !== g) g.dispose();
  return r;
}

/** Broadcasting a + b. Shapes: broadcast(a.shape, b.shape). */
export function add(a: Tensor, b: Operand): Tensor {
  return binary('add', a, b, (g) => [g.detach(), g.detach()]);
}

/** Broadcasting a - b. */
export function sub(a: Tensor, b: Operand): Tensor {
  return binary('sub', a, b, (g) => [g.detach(), rawUnary('neg', g)]);
}

/** Broadcasting a * b. */
export function mul(a: Tensor, b: Operand): Tensor {
  return binary('mul', a, b, (g, x, y) => [
    x.requiresGrad ? rawBinary('mul', g, y) : null,
    y.requiresGrad ? rawBinary('mul', g, x) : null,
  ]);
}

/** Broadcasting a / b. */
export function div(a: Tensor, b: Operand): Tensor {
  return binary('div', a, b, (g, x, y, out) => {
    const ga = x.requiresGrad ? rawBinary('div', g, y) : null;
    let gb: Tensor | null = null;
    if (y.requiresGrad) {
      const t = rawBinary('div', out, y);
      const t2 = rawBinary('mul', g, t);
      gb = rawUnary('neg', t2);
      t.dispose();
      t2.dispose();
    }
    return [ga, gb];
  });
}

/** Broadcasting a ** b. */
export function pow(a: Tensor, b: Operand): Tensor {
  return binary('pow', a, b, (g, x, e, out) => {
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (x.requiresGrad) {
      const em1 = rawBinaryScalar('sub', e, 1);
      const p = rawBinary('pow', x, em1);
      const t = rawBinary('mul', p, e);
      ga = rawBinary('mul', g, t);
      for (const z of [em1, p, t]) z.dispose();
    }
    if (e.requiresGrad) {
      const l = rawUnary('log', x);
      const t = rawBinary('mul', l, out);
      gb = rawBinary('mul', g, t);
      l.dispose();
      t.dispose();
    }
    return [ga, gb];
  });
}

function minmax(op: 'maximum' | 'minimum', a: Tensor, b: Operand): Tensor {
  return binary(op, a, b, (g, x, y, out) => {
    // mask_x = (x == out) - 0.5 * (x == y): full gradient to the chosen input, half each on ties.
    const ex = rawBinary('eq', x, out);
    const ey = rawBinary('eq', y, out);
    const tie = rawBinary('eq', x, y);
    const half = rawBinaryScalar('mul', tie, 0.5);
    const mx = rawBinary('sub', ex, half);
    const my = rawBinary('sub', ey, half);
    const ga = x.requiresGrad ? rawBinary('mul', g, mx) : null;
    const gb = y.requiresGrad ? rawBinary('mul', g, my) : null;
    for (const z of [ex, ey, tie, half, mx, my]) z.dispose();
    return [ga, gb];
  });
}

/** Elementwise maximum (broadcasting). */
export function maximum(a: Tensor, b: Operand): Tensor {
  return minmax('maximum', a, b);
}

/** Elementwise minimum (broadcasting). */
export function minimum(a: Tensor, b: Operand): Tensor {
  return minmax('minimum', a, b);
}

/** Comparison to a 0/1 tensor (not differentiable). */
export function compare(op: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge', a: Tensor, b: Operand): Tensor {
  if (typeof b === 'number') return rawBinaryScalar(op, a, b);
  return rawBinary(op, a, b);
}

function unary(
  name: 'neg' | 'abs' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'relu' | 'sigmoid' | 'tanh',
  a: Tensor,
  back: (g: Tensor, x: Tensor, y: Tensor) => Tensor,
): Tensor {
  const y = rawUnary(name, a);
  return record(name, y, [a], (g) => [back(g, a, y)], { save: [a] });
}

/** Chain temporaries: run fns in order, each fed the previous result, disposing intermediates. */
function chain(first: Tensor, ...steps: ((t: Tensor) => Tensor)[]): Tensor {
  let cur = first;
  for (const s of steps) {
    const next = s(cur);
    cur.dispose();
    cur = next;
  }
  return cur;
}

/** -a */
export function neg(a: Tensor): Tensor {
  return unary('neg', a, (g) => rawUnary('neg', g));
}
/** |a| (gradient sign(a), 0 at 0) */
export function abs(a: Tensor): Tensor {
  return unary('abs', a, (g, x) => chain(rawUnary('sign', x), (s) => rawBinary('mul', g, s)));
}
/** e^a */
export function exp(a: Tensor): Tensor {
  return unary('exp', a, (g, _x, y) => rawBinary('mul', g, y));
}
/** natural log */
export function log(a: Tensor): Tensor {
  return unary('log', a, (g, x) => rawBinary('div', g, x));
}
/** square root */
export function sqrt(a: Tensor): Tensor {
  return unary('sqrt', a, (g, _x, y) => chain(rawBinaryScalar('mul', y, 2), (t) => rawBinary('div', g, t)));
}
/** 1/sqrt(a) */
export function rsqrt(a: Tensor): Tensor {
  return unary('rsqrt', a, (g, _x, y) =>
    chain(
      rawBinary('mul', y, y),
      (t) => rawBinary('mul', t, y),
      (t) => rawBinaryScalar('mul', t, -0.5),
      (t) => rawBinary('mul', g, t),
    ),
  );
}
/** max(a, 0); gradient 0 at 0 (PyTorch convention). */
export function relu(a: Tensor): Tensor {
  return unary('relu', a, (g, x) => chain(rawBinaryScalar('gt', x, 0), (m) => rawBinary('mul', g, m)));
}
/** 1/(1+e^-a) */
export function sigmoid(a: Tensor): Tensor {
  return unary('sigmoid', a, (g, _x, y) =>
    chain(
      rawBinaryScalar('sub', y, 1, true),
      (t) => rawBinary('mul', t, y),
      (t) => rawBinary('mul', g, t),
    ),
  );
}
/** tanh(a) */
export function tanh(a: Tensor): Tensor {
  return unary('tanh', a, (g, _x, y) =>
    chain(
      rawBinary('mul', y, y),
      (t) => rawBinaryScalar('sub', t, 1, true),
      (t) => rawBinary('mul', g, t),
    ),
  );
}

/** cond != 0 ? a : b, broadcasting all three. Differentiable in a and b. */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  const ref = typeof a === 'number' ? (typeof b === 'number' ? cond : b) : a;
  const A = typeof a === 'number' ? scalarLike(ref, a) : a;
  const B = typeof b === 'number' ? scalarLike(ref, b) : b;
  const y = rawWhere(cond, A, B);
  const owned = [...(typeof a === 'number' ? [A] : []), ...(typeof b === 'number' ? [B] : [])];
  return record(
    'where',
    y,
    [A, B],
    (g) => {
      const z = scalarLike(g, 0);
      const ga = A.requiresGrad ? reduceTo(rawWhere(cond, g, z), A) : null;
      const gb = B.requiresGrad ? reduceTo(rawWhere(cond, z, g), B) : null;
      z.dispose();
      return [ga, gb];
    },
    { save: [cond], owned },
  );
}

/** Cast to another dtype; the gradient is cast back. */
export function cast(a: Tensor, dtype: DType): Tensor {
  if (a.dtype === dtype) return a.clone();
  const y = fromBuffer(
    a.backend,
    withDense(a, (b) => a.backend.cast(b, dtype)),
    a.shape,
  );
  return record('cast', y, [a], (g) => [
    fromBuffer(
      g.backend,
      withDense(g, (b) => g.backend.cast(b, a.dtype)),
      g.shape,
    ),
  ]);
}
