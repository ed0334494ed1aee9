/**
 * The op table: every elementwise primitive defined once. An entry gives the op's scalar semantics as ONE
 * JavaScript expression over `a` (unary) or `a`, `b` (binary), written within gpu.js's JS subset (ternaries,
 * comparisons, arithmetic, Math.*; no NaN literal, no self-comparison) so that every backend compiles the same
 * text, and its gradient. Everything else is generated from here:
 * - the reference backend's scalar functions (reference/elementwise.ts),
 * - the strided JS loops of the CPU backends and the wasm backend's scalar paths (strided-loops.ts),
 * - the gpu.js elementwise kernel source (gpujs/kernels/elementwise.ts),
 * - the differentiable ops and their Tensor methods (src/autograd/ops/elementwise.ts, tensor-methods.ts).
 * Hand-written SIMD kernels (wasm add/sub/mul/relu and the broadcast-scalar family) are explicit overrides of
 * a subset, tested against the generated loops.
 *
 * Invariants: `UnaryOp` / `BinaryOp` list exactly the keys of the tables (mapped types make a missing entry,
 * or a missing field of an entry, a compile error). Gradient formulas are pure math over `GradMath`: autograd
 * evaluates them with raw kernels inside a tidy scope and sums them back over broadcast axes; they never
 * dispose anything. `grad: null` marks an op that is not differentiable (its output never requires grad).
 */

export type UnaryOp =
  | 'neg'
  | 'abs'
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'rsqrt'
  | 'relu'
  | 'sigmoid'
  | 'tanh'
  | 'sign'
  | 'square'
  | 'reciprocal'
  | 'softplus';

export type BinaryOp =
  | 'add'
  | 'sub'
  | 'mul'
  | 'div'
  | 'pow'
  | 'maximum'
  | 'minimum'
  | 'eq'
  | 'ne'
  | 'lt'
  | 'le'
  | 'gt'
  | 'ge';

/** The math a gradient formula may use: every table op, on tensors or (for binary ops) plain numbers. */
export type GradMath<T> = { readonly [K in UnaryOp]: (x: T) => T } & {
  readonly [K in BinaryOp]: (a: T | number, b: T | number) => T;
};

/** d/dx of a unary op as a vector-Jacobian product: g = upstream gradient, x = input, y = output. */
export type UnaryGrad = <T>(m: GradMath<T>, g: T, x: T, y: T) => T;
/** The gradient reaching one input of a binary op (before summing over broadcast axes). */
export type BinaryGrad = <T>(m: GradMath<T>, g: T, a: T, b: T, y: T) => T;

export interface UnaryDef {
  /**
   * The scalar semantics: a JS expression over `a` (the CPU backends evaluate it in float64 and round to the
   * buffer's dtype; gpu.js compiles the same text to float32).
   */
  readonly js: string;
  readonly grad: UnaryGrad | null;
}

export interface BinaryDef {
  readonly js: string;
  readonly grad: { readonly a: BinaryGrad; readonly b: BinaryGrad } | null;
}

/** A stable logistic: never exp of a positive argument, so no overflow to inf/inf. */
const SIGMOID = 'a >= 0 ? 1 / (1 + Math.exp(-a)) : Math.exp(a) / (1 + Math.exp(a))';

export const UNARY_OPS: { readonly [K in UnaryOp]: UnaryDef } = {
  neg: { js: '-a', grad: (m, g) => m.neg(g) },
  abs: { js: 'Math.abs(a)', grad: (m, g, x) => m.mul(g, m.sign(x)) },
  exp: { js: 'Math.exp(a)', grad: (m, g, _x, y) => m.mul(g, y) },
  log: { js: 'Math.log(a)', grad: (m, g, x) => m.div(g, x) },
  sqrt: { js: 'Math.sqrt(a)', grad: (m, g, _x, y) => m.div(g, m.mul(y, 2)) },
  rsqrt: {
    js: '1 / Math.sqrt(a)',
    grad: (m, g, _x, y) => m.mul(g, m.mul(m.mul(m.mul(y, y), y), -0.5)),
  },
  /**
   * PyTorch's relu exactly: NaN stays NaN (a damaged activation is never hidden), -0 stays -0. The gradient
   * passes where the output is not zero (PyTorch's threshold_backward): 0 at 0, g at NaN.
   */
  relu: { js: 'a < 0 ? 0 : a', grad: (m, g, _x, y) => m.mul(g, m.ne(y, 0)) },
  sigmoid: { js: SIGMOID, grad: (m, g, _x, y) => m.mul(g, m.mul(m.sub(1, y), y)) },
  /** Saturated beyond |a| > 20, where tanh rounds to +-1 in float64 already (so GPUs need not reach exp overflow). */
  tanh: { js: 'a > 20 ? 1 : a < -20 ? -1 : Math.tanh(a)', grad: (m, g, _x, y) => m.mul(g, m.sub(1, m.mul(y, y))) },
  sign: { js: 'a > 0 ? 1 : a < 0 ? -1 : 0', grad: null },
  square: { js: 'a * a', grad: (m, g, x) => m.mul(g, m.mul(x, 2)) },
  reciprocal: { js: '1 / a', grad: (m, g, _x, y) => m.neg(m.mul(g, m.mul(y, y))) },
  /** log(1 + e^a), linear above 20 (PyTorch's threshold); gradient sigmoid(a). */
  softplus: { js: 'a > 20 ? a : Math.log1p(Math.exp(a))', grad: (m, g, x) => m.mul(g, m.sigmoid(x)) },
};

/** maximum/minimum: full gradient to the selected input, half to each on ties (PyTorch). */
const pick: BinaryGrad = (m, g, a, b, y) => m.mul(g, m.sub(m.eq(a, y), m.mul(m.eq(a, b), 0.5)));
const pickB: BinaryGrad = (m, g, a, b, y) => m.mul(g, m.sub(m.eq(b, y), m.mul(m.eq(a, b), 0.5)));
const compare = (js: string): BinaryDef => ({ js, grad: null });

export const BINARY_OPS: { readonly [K in BinaryOp]: BinaryDef } = {
  add: { js: 'a + b', grad: { a: (_m, g) => g, b: (_m, g) => g } },
  sub: { js: 'a - b', grad: { a: (_m, g) => g, b: (m, g) => m.neg(g) } },
  mul: { js: 'a * b', grad: { a: (m, g, _a, b) => m.mul(g, b), b: (m, g, a) => m.mul(g, a) } },
  div: {
    js: 'a / b',
    grad: { a: (m, g, _a, b) => m.div(g, b), b: (m, g, _a, b, y) => m.neg(m.mul(g, m.div(y, b))) },
  },
  /**
   * JS's a ** b, with a negative base and an integral exponent spelled as +-|a| ** b (GPU pow is defined for
   * a >= 0 only); odd b flips the sign. Identical values in JS, where both forms are IEEE pow.
   */
  pow: {
    js: 'a >= 0 || b !== Math.floor(b) ? a ** b : (b - 2 * Math.floor(b * 0.5) === 1 ? -1 : 1) * (-a) ** b',
    grad: {
      a: (m, g, a, b) => m.mul(g, m.mul(m.pow(a, m.sub(b, 1)), b)),
      b: (m, g, a, _b, y) => m.mul(g, m.mul(m.log(a), y)),
    },
  },
  /** NaN in either operand gives NaN (PyTorch), by comparisons alone (a + b is NaN exactly when no test held). */
  maximum: { js: 'a > b ? a : b >= a ? b : a + b', grad: { a: pick, b: pickB } },
  minimum: { js: 'a < b ? a : b <= a ? b : a + b', grad: { a: pick, b: pickB } },
  eq: compare('a === b ? 1 : 0'),
  ne: compare('a !== b ? 1 : 0'),
  lt: compare('a < b ? 1 : 0'),
  le: compare('a <= b ? 1 : 0'),
  gt: compare('a > b ? 1 : 0'),
  ge: compare('a >= b ? 1 : 0'),
};

/** Op names in table order (for generators and tests). */
export const UNARY_NAMES = Object.keys(UNARY_OPS) as UnaryOp[];
export const BINARY_NAMES = Object.keys(BINARY_OPS) as BinaryOp[];
