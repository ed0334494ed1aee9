/**
 * The op table's expressions made exact at NaN / ±Infinity on gpu.js, webgpu first (the Backend contract's
 * "Non-finite values" section, src/tensor/backend.ts).
 *
 * Why: WGSL builtins are not IEEE at the edges and WGSL compilers may assume no NaN. On SwiftShader `log(0)` is
 * -88.03, `log(-2)` is log 2, `log(NaN)` 89.1, `exp(NaN)` +Infinity, and `!=` is an ordered compare (NaN != x is
 * false); a self-comparison `x != x` can be folded away. gpu.js 2.24 can emit neither a bitcast of an f32 nor
 * native WGSL helpers, and turns NaN / Infinity literals into errors / the largest finite float.
 *
 * How: every kernel that must see NaN takes `inf` = +Infinity as a run-time scalar argument (a uniform the
 * compiler cannot look into). `!(v <= inf)` is then true exactly for NaN (an ordered compare), `-inf` is -Infinity
 * and `inf - inf` a NaN made at run time. An op whose table expression maps NaN to NaN (evaluated here, in JS) is
 * wrapped as `a <= inf ? (expr) : a`, so a NaN input is returned as is; log and the binary ops whose builtins
 * mishandle non-finite operands get an explicit form. The same source runs on every gpu.js mode (exact in JS).
 * Invariant: every form equals the table's semantics in float64 JS on every input (test/tensor/backends/gpujs).
 */

import type { BinaryOp, UnaryOp } from '../../../backend.js';

/** Explicit forms: log(0) = -Infinity, log(x < 0) = log(-Infinity) = NaN, log(NaN) = NaN, log(+Infinity) = +Infinity. */
const UNARY_FORMS: Partial<Record<UnaryOp, string>> = {
  log: 'a > 0 ? Math.log(a) : a === 0 ? -inf : inf - inf',
};

/** b is an odd integer (false for ±Infinity: inf - 2 * inf is NaN). */
const ODD = '(b === Math.floor(b) && b - 2 * Math.floor(b * 0.5) === 1)';

/**
 * JS's `a ** b` at the edges, which a GPU pow (exp2(b * log2(a)), log2 of 0 or of a negative number finite on
 * SwiftShader) gets wrong: NaN ** 0 = 1, otherwise NaN in gives NaN; (±0) ** b is ±0 / 0 for b > 0 and ±Inf /
 * Inf for b < 0 (the sign kept for odd integers); (±Inf) ** b is ±Inf / Inf for b > 0 and 0 for b < 0;
 * a ** ±Inf is Inf or 0 by |a| vs 1 and NaN for |a| = 1; a negative finite base with a non-integral exponent
 * gives NaN. Everything else is the table's expression.
 */
const POW_EDGES = (js: string) =>
  `b === 0 ? 1 : !(a <= inf && b <= inf) ? a + b : ` +
  `a === 0 ? (b > 0 ? (${ODD} ? a : 0) : ${ODD} ? 1 / a : inf) : ` +
  `Math.abs(a) === inf ? (b > 0 ? (a < 0 && ${ODD} ? -inf : inf) : 0) : ` +
  `Math.abs(b) === inf ? (Math.abs(a) === 1 ? inf - inf : Math.abs(a) > 1 === b > 0 ? inf : 0) : ` +
  `a < 0 && b !== Math.floor(b) ? inf - inf : ${js}`;

/** ne by the ordered `===` (true only for equal non-NaN operands), negated; pow by POW_EDGES. */
const BINARY_FORMS: Partial<Record<BinaryOp, (js: string) => string>> = {
  ne: () => 'a === b ? 0 : 1',
  pow: POW_EDGES,
};

/** Whether the table's unary expression gives NaN for a NaN input (JS semantics, as the reference evaluates it). */
function keepsNaN(js: string): boolean {
  return Number.isNaN((new Function('a', `return ${js};`) as (a: number) => number)(Number.NaN));
}

/** The gpu.js expression for a unary op (over `a` and the run-time scalar `inf`). */
export function gpuUnaryExpr(op: UnaryOp, js: string): string {
  const form = UNARY_FORMS[op];
  if (form !== undefined) return form;
  return keepsNaN(js) ? `a <= inf ? (${js}) : a` : js;
}

/** The gpu.js expression for a binary op (over `a`, `b` and the run-time scalar `inf`). */
export function gpuBinaryExpr(op: BinaryOp, js: string): string {
  const form = BINARY_FORMS[op];
  return form === undefined ? js : form(js);
}
