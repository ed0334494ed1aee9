/**
 * i32 expressions for kernel emitters, so index arithmetic reads as a formula instead of stack code:
 * `f.assign(xp, add(x, shl(mul(p, mul(h, w)), 2)))` emits exactly `get x; get p; get h; get w; mul; mul;
 * i32.const 2; shl; add; set xp`. A plain number is a LOCAL (its index, as params and locals are named);
 * constants are written `lit(v)`, except the shift amount of `shl`, which is a constant.
 *
 * Invariant: an expression emits its operands left to right, then its operator (postfix), so rewriting stack
 * code as expressions leaves the emitted bytes unchanged.
 */

import { type Expr, type FnBuilder, Op } from './module-builder.js';

export type { Expr };

const node = (emit: (f: FnBuilder) => void): Expr => ({ emit });
const binary =
  (op: number) =>
  (a: Expr, b: Expr): Expr =>
    node((f) => f.push(a).push(b).op(op));

/** An i32 constant. */
export const lit = (v: number): Expr => node((f) => f.i32(v));
export const add = binary(Op.i32Add);
export const sub = binary(Op.i32Sub);
export const mul = binary(Op.i32Mul);
export const divU = binary(Op.i32DivU);
export const remU = binary(Op.i32RemU);
export const and = binary(Op.i32And);
export const or = binary(Op.i32Or);
export const eq = binary(Op.i32Eq);
export const ltS = binary(Op.i32LtS);
export const ltU = binary(Op.i32LtU);
export const gtS = binary(Op.i32GtS);
export const geS = binary(Op.i32GeS);
export const leS = binary(Op.i32LeS);
/** a << bits (bits a constant). */
export const shl = (a: Expr, bits: number): Expr => node((f) => f.push(a).i32(bits).op(Op.i32Shl));
/** Byte address of f32 element i of the buffer at byte pointer p: p + i*4. */
export const f32At = (p: Expr, i: Expr): Expr => add(p, shl(i, 2));
