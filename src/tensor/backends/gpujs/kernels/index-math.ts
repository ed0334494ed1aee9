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
 * integer is rewritten without dividing (e.g. conv's (y + pad - ky) / s = idiv(y + pad, s) - a). Every value
 * divided is below 2^23 (the chunk limit of ../strided.ts, which bounds thread ids and windows; the backend rejects
 * a larger chunkLimit), and indices stay below 2^24, where f32 integers and their products are exact.
 *
 * How kernels call it: gpu.js transpiles kernel source text, and test runners rewrite references to imported
 * bindings (vitest: `(0, __vite_ssr_import_1__.idiv)(...)`), which gpu.js cannot parse. So a kernel module does
 * NOT import `idiv`: it declares it (`declare function idiv(a: number, b: number): number;`, erased at compile
 * time) and its launch specs pass `INDEX_FUNCTIONS`, which gpu.js compiles next to the kernel.
 */

import type { KernelHelper } from '../context.js';

/**
 * floor(a / b) exactly, for integers 0 <= a < 2^23 and b >= 1, under a division with error up to 2.5 ULP.
 * Why one compare step each way is enough: a + 0.5 is exact, and (a + 0.5) / b sits at least 0.5 / b away from
 * an integer. Its error is at most 2.5 ULP: <= 1.25 for b = 1 (the quotient is below 2^23, ULP <= 0.5), <= 0.625
 * for b = 2, 3 (quotient below 2^22), < 2.5 * 2^-23 * 2^23 / b <= 0.84 for b >= 3; so the estimate's floor is
 * within one of the quotient (and usually exact). The products q * b, (q + 1) * b are exact below 2^24; one above
 * it may round, but stays above a, so each compare still decides right.
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
