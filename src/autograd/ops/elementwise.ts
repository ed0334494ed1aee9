/**
 * Differentiable elementwise ops with NumPy broadcasting, generated from the op table (src/tensor/op-table.ts):
 * each op's forward is the backend primitive of that name and its gradient is the table's formula, evaluated
 * with raw kernels (`rawMath`) inside backward's tidy scope, then summed back to each input's shape with sumTo
 * (the adjoint of broadcasting). Ops whose table gradient is null (comparisons, sign) return tensors that do not
 * require grad. `where` and `cast` are not table ops: their backward is written here.
 */

import { AutogradError } from '../../errors.js';
import type { DType } from '../../tensor/dtype.js';
import {
  BINARY_NAMES,
  BINARY_OPS,
  type BinaryOp,
  type GradMath,
  UNARY_NAMES,
  UNARY_OPS,
  type UnaryOp,
} from '../../tensor/op-table.js';
import { rawBinary, rawBinaryScalar, rawUnary, rawWhere, scalarLike, sumTo } from '../../tensor/raw.js';
import type { Tensor } from '../../tensor/tensor.js';
import { launch } from '../dispatch.js';
import { record } from '../graph.js';

type Operand = Tensor | number;

function rawOperands(op: BinaryOp, a: Operand, b: Operand): Tensor {
  if (typeof a !== 'number') return typeof b === 'number' ? rawBinaryScalar(op, a, b) : rawBinary(op, a, b);
  if (typeof b !== 'number') return rawBinaryScalar(op, b, a, true);
  throw new AutogradError(`${op}: at least one operand must be a tensor`);
}

/** The op table's ops on raw tensors (no graph): what gradient formulas are evaluated with. */
export const rawMath = Object.fromEntries([
  ...UNARY_NAMES.map((op) => [op, (x: Tensor) => rawUnary(op, x)]),
  ...BINARY_NAMES.map((op) => [op, (a: Operand, b: Operand) => rawOperands(op, a, b)]),
]) as GradMath<Tensor>;

/** g summed back to t's shape; a fresh tensor even when no axis was broadcast (gradients never alias g). */
function reduceTo(g: Tensor, t: Tensor): Tensor {
  const r = sumTo(g, t.shape);
  return r === g ? g.detach() : r;
}

/** op(a), differentiable per the op table. Shape: a's. */
export function unaryOp(op: UnaryOp, a: Tensor): Tensor {
  const y = rawUnary(op, a);
  const grad = UNARY_OPS[op].grad;
  if (!grad) return y;
  return record(op, y, [a], (g) => [reduceTo(grad(rawMath, g, a, y), a)], { save: [a] });
}

/** op(a, b) with broadcasting, differentiable per the op table. Numbers are lifted to 0-d tensors. */
export function binaryOp(op: BinaryOp, a: Operand, b: Operand): Tensor {
  const grad = BINARY_OPS[op].grad;
  if (!grad) return rawOperands(op, a, b);
  const ref = typeof a === 'number' ? b : a;
  if (typeof ref === 'number') throw new AutogradError(`${op}: at least one operand must be a tensor`);
  const A = typeof a === 'number' ? scalarLike(ref, a) : a;
  const B = typeof b === 'number' ? scalarLike(ref, b) : b;
  const owned = [A, B].filter((_t, i) => typeof [a, b][i] === 'number');
  const y = rawBinary(op, A, B);
  return record(
    op,
    y,
    [A, B],
    (g) => [
      A.requiresGrad ? reduceTo(grad.a(rawMath, g, A, B, y), A) : null,
      B.requiresGrad ? reduceTo(grad.b(rawMath, g, A, B, y), B) : null,
    ],
    { save: [A, B], owned },
  );
}

/** Broadcasting a + b. Shapes: broadcast(a.shape, b.shape). */
export const add = (a: Tensor, b: Operand): Tensor => binaryOp('add', a, b);
/** Broadcasting a - b. */
export const sub = (a: Tensor, b: Operand): Tensor => binaryOp('sub', a, b);
/** Broadcasting a * b. */
export const mul = (a: Tensor, b: Operand): Tensor => binaryOp('mul', a, b);
/** Broadcasting a / b. */
export const div = (a: Tensor, b: Operand): Tensor => binaryOp('div', a, b);
/** Broadcasting a ** b. */
export const pow = (a: Tensor, b: Operand): Tensor => binaryOp('pow', a, b);
/** Elementwise maximum (broadcasting); NaN if either is NaN; ties split the gradient evenly. */
export const maximum = (a: Tensor, b: Operand): Tensor => binaryOp('maximum', a, b);
/** Elementwise minimum (broadcasting). */
export const minimum = (a: Tensor, b: Operand): Tensor => binaryOp('minimum', a, b);
/** Comparison to a 0/1 tensor (not differentiable). */
export const compare = (op: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge', a: Tensor, b: Operand): Tensor =>
  binaryOp(op, a, b);

/** -a */
export const neg = (a: Tensor): Tensor => unaryOp('neg', a);
/** |a| (gradient sign(a), 0 at 0) */
export const abs = (a: Tensor): Tensor => unaryOp('abs', a);
/** e^a */
export const exp = (a: Tensor): Tensor => unaryOp('exp', a);
/** natural log */
export const log = (a: Tensor): Tensor => unaryOp('log', a);
/** square root */
export const sqrt = (a: Tensor): Tensor => unaryOp('sqrt', a);
/** 1/sqrt(a) */
export const rsqrt = (a: Tensor): Tensor => unaryOp('rsqrt', a);
/** max(a, 0); gradient 0 at 0 (PyTorch convention). */
export const relu = (a: Tensor): Tensor => unaryOp('relu', a);
/** 1/(1+e^-a), computed without overflow for any a. */
export const sigmoid = (a: Tensor): Tensor => unaryOp('sigmoid', a);
/** tanh(a) */
export const tanh = (a: Tensor): Tensor => unaryOp('tanh', a);
/** a*a */
export const square = (a: Tensor): Tensor => unaryOp('square', a);
/** 1/a */
export const reciprocal = (a: Tensor): Tensor => unaryOp('reciprocal', a);
/** -1, 0 or 1 (not differentiable). */
export const sign = (a: Tensor): Tensor => unaryOp('sign', a);
/** log(1 + e^a) (a above 20 passes through); gradient sigmoid(a). */
export const softplus = (a: Tensor): Tensor => unaryOp('softplus', a);

/** cond != 0 ? a : b, broadcasting all three. Differentiable in a and b (g routed by cond). */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  const ref = typeof a === 'number' ? (typeof b === 'number' ? cond : b) : a;
  const A = typeof a === 'number' ? scalarLike(ref, a) : a;
  const B = typeof b === 'number' ? scalarLike(ref, b) : b;
  const owned = [A, B].filter((_t, i) => typeof [a, b][i] === 'number');
  return record(
    'where',
    rawWhere(cond, A, B),
    [A, B],
    (g) => {
      const z = scalarLike(g, 0);
      return [
        A.requiresGrad ? reduceTo(rawWhere(cond, g, z), A) : null,
        B.requiresGrad ? reduceTo(rawWhere(cond, z, g), B) : null,
      ];
    },
    { save: [cond], owned },
  );
}

/** Cast to another dtype; the gradient is cast back. */
export function cast(a: Tensor, dtype: DType): Tensor {
  if (a.dtype === dtype) return a.clone();
  const y = launch([a], a.shape, (b, x) => b.cast(x, dtype));
  return record('cast', y, [a], (g) => [launch([g], g.shape, (b, x) => b.cast(x, a.dtype))]);
}
