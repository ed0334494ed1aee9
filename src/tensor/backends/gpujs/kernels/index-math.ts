/**
 * Integer-exact index arithmetic for gpu.js kernel bodies, written once: `idiv(a, b)` = floor(a / b).
 *
 * Why: gpu.js computes every kernel index in f32 (webgpu: WGSL f32; webasm: wasm f32), and WGSL allows f32
 * division an error of 2.5 ULP (`%` is derived from it: x - y * trunc(x / y)). SwiftShader gives 97 / 97 =
 * 0.99999994, so `t % w`, `(t - t % w) / w` and `Math.floor(t / w)` can be off by one; real GPUs also divide
 * approximately. Additions, subtractions, multiplications and `Math.floor` of integers below 2^24 are exact.
 *
 * Invariant of every kernel in ./: no index is ever derived from a division or `%` assumed exact. A thread index
 * is unravelled as `q = idiv(t, w); r = t - q * w` (then q is unravelled further); a quotient known to be an
 * integer is rewritten without dividing (e.g. conv's (y + pad - ky) / s = idiv(y + pad, s) - a). Indices stay
 * below 2^24 (the chunk limit of ../strided.ts), where f32 integers and their products are exact.
 *
 * How kernels call it: gpu.js transpiles kernel source text, and test runners rewrite references to imported
 * bindings (vitest: `(0, __vite_ssr_import_1__.idiv)(...)`), which gpu.js cannot parse. So a kernel module does
 * NOT import `idiv`: it declares it (`declare function idiv(a: number, b: number): number;`, erased at compile
 * time) and its launch specs pass `INDEX_FUNCTIONS`, which gpu.js compiles next to the kernel.
 */

import type { KernelHelper } from '../context.js';

/**
 * floor(a / b) exactly, for integers a (|a| < 2^24) and b >= 1, under division with a few ULP of error.
 * The estimate from (a + 0.5) / b is within one of the quotient (the + 0.5 keeps it off integer boundaries, so
 * it is usually exact); one compare step each way fixes it. q * b <= a is an exact product; a product above
 * 2^24 may round but stays above a, so each compare still decides right.
 */
export function idiv(a: number, b: number): number {
  let q = Math.floor((a + 0.5) / b);
  if (q * b > a) q = q - 1;
  if ((q + 1) * b <= a) q = q + 1;
  return q;
}

/** The helpers above as gpu.js functions (float arguments and result on every mode); pass as `functions`. */
export const INDEX_FUNCTIONS: readonly KernelHelper[] = [
  { source: idiv, settings: { argumentTypes: { a: 'Number', b: 'Number' }, returnType: 'Number' } },
];
