/**
 * The op table: every elementwise primitive defined once. An entry gives the op's scalar semantics as ONE
 * JavaScript expression over `a` (unary) or `a`, `b` (binary), the gpu.js form of the same expression where
 * gpu.js's JS subset needs a different spelling, and its gradient. Everything else is generated from here:
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
  | 'reciprocal';

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
  /** The scalar semantics: a JS expression over `a` (float64 arithmetic, rounded to the buffer's dtype). */
  readonly js: string;
  /** The same function in gpu.js's JS subset (GLSL float32); `js` when they agree. */
  readonly gpu: string;
  readonly grad: UnaryGrad | null;
}

export interface BinaryDef {
  readonly js: string;
  readonly gpu: string;
  readonly grad: { readonly a: BinaryGrad; readonly b: BinaryGrad } | null;
}

/** A stable logistic: never exp of a positive argument, so no overflow to inf/inf. */
const SIGMOID = 'a >= 0 ? 1 / (1 + Math.exp(-a)) : Math.exp(a) / (1 + Math.exp(a))';

export const UNARY_OPS: { readonly [K in UnaryOp]: UnaryDef } = {
  neg: { js: '-a', gpu: '-a', grad: (m, g) => m.neg(g) },
  abs: { js: 'Math.abs(a)', gpu: 'Math.abs(a)', grad: (m, g, x) => m.mul(g, m.sign(x)) },
  exp: { js: 'Math.exp(a)', gpu: 'Math.exp(a)', grad: (m, g, _x, y) => m.mul(g, y) },
  log: { js: 'Math.log(a)', gpu: 'Math.log(a)', grad: (m, g, x) => m.div(g, x) },
  sqrt: { js: 'Math.sqrt(a)', gpu: 'Math.sqrt(a)', grad: (m, g, _x, y) => m.div(g, m.mul(y, 2)) },
  rsqrt: {
    js: '1 / Math.sqrt(a)',
    gpu: '1 / Math.sqrt(a)',
    grad: (m, g, _x, y) => m.mul(g, m.mul(m.mul(m.mul(y, y), y), -0.5)),
  },
  /** Gradient 0 at 0 (PyTorch's convention); NaN maps to 0. */
  relu: { js: 'a > 0 ? a : 0', gpu: 'a > 0 ? a : 0', grad: (m, g, x) => m.mul(g, m.gt(x, 0)) },
  sigmoid: { js: SIGMOID, gpu: SIGMOID, grad: (m, g, _x, y) => m.mul(g, m.mul(m.sub(1, y), y)) },
  tanh: { js: 'Math.tanh(a)', gpu: 'Math.tanh(a)', grad: (m, g, _x, y) => m.mul(g, m.sub(1, m.mul(y, y))) },
  sign: { js: 'a > 0 ? 1 : a < 0 ? -1 : 0', gpu: 'a > 0 ? 1 : a < 0 ? -1 : 0', grad: null },
  square: { js: 'a * a', gpu: 'a * a', grad: (m, g, x) => m.mul(g, m.mul(x, 2)) },
  reciprocal: { js: '1 / a', gpu: '1 / a', grad: (m, g, _x, y) => m.neg(m.mul(g, m.mul(y, y))) },
};

/** maximum/minimum: full gradient to the selected input, half to each on ties (PyTorch). */
const pick: BinaryGrad = (m, g, a, b, y) => m.mul(g, m.sub(m.eq(a, y), m.mul(m.eq(a, b), 0.5)));
const pickB: BinaryGrad = (m, g, a, b, y) => m.mul(g, m.sub(m.eq(b, y), m.mul(m.eq(a, b), 0.5)));
const compare = (js: string): BinaryDef => ({ js, gpu: js, grad: null });

export const BINARY_OPS: { readonly [K in BinaryOp]: BinaryDef } = {
  add: { js: 'a + b', gpu: 'a + b', grad: { a: (_m, g) => g, b: (_m, g) => g } },
  sub: { js: 'a - b', gpu: 'a - b', grad: { a: (_m, g) => g, b: (m, g) => m.neg(g) } },
  mul: { js: 'a * b', gpu: 'a * b', grad: { a: (m, g, _a, b) => m.mul(g, b), b: (m, g, a) => m.mul(g, a) } },
  div: {
    js: 'a / b',
    gpu: 'a / b',
    grad: { a: (m, g, _a, b) => m.div(g, b), b: (m, g, _a, b, y) => m.neg(m.mul(g, m.div(y, b))) },
  },
  pow: {
    js: 'a ** b',
    gpu: 'a ** b',
    grad: {
      a: (m, g, a, b) => m.mul(g, m.mul(m.pow(a, m.sub(b, 1)), b)),
      b: (m, g, a, _b, y) => m.mul(g, m.mul(m.log(a), y)),
    },
  },
  /** NaN in either operand gives NaN (PyTorch); gpu.js has no NaN literal and keeps the plain comparison. */
  maximum: { js: '(a !== a || b !== b) ? NaN : (a > b ? a : b)', gpu: 'a > b ? a : b', grad: { a: pick, b: pickB } },
  minimum: { js: '(a !== a || b !== b) ? NaN : (a < b ? a : b)', gpu: 'a < b ? a : b', grad: { a: pick, b: pickB } },
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
