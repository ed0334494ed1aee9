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
 * How kernels use it: a kernel body calls `idiv(a, b)`, declared in its module (`declare function idiv(...)`,
 * erased by TypeScript; never imported: test runners rewrite imported names in function source text), and its
 * launch spec passes `exactIndexSource(kernel)`: the kernel's source with every call expanded inline by
 * `expandIdiv`. Inline, not a gpu.js helper function: the webasm backend runs kernels 4 lanes wide (SIMD) but calls
 * helpers one lane at a time, which made elementwise kernels 1.7x slower.
 */

import { BackendError } from '../../../../errors.js';
import type { KernelFn } from '../op-gen.js';

/**
 * The exact floor(a / b) for integers 0 <= a < 2^23 and b >= 1, under a division with error up to 2.5 ULP, as a
 * kernel expression (a, b: expression source). The estimate q = floor((a + 0.5) / b) is within one of the
 * quotient, because a + 0.5 is exact and (a + 0.5) / b sits at least 0.5 / b from an integer, while its error is
 * at most 2.5 ULP: <= 1.25 for b = 1 (quotient below 2^23, ULP <= 0.5), <= 0.625 for b = 2, 3 (below 2^22), and
 * < 2.5 / b <= 0.84 for b >= 3. One compare each way corrects it: q * b > a (q one too big), (q + 1) * b <= a
 * (one too small). Those products are exact below 2^24; one above it may round, but stays above a, so each
 * compare still decides right. q is written three times; compilers evaluate it once (pure expression).
 */
function exactFloorDiv(a: string, b: string): string {
  const q = `Math.floor(((${a}) + 0.5) / (${b}))`;
  return `(${q} - (${q} * (${b}) > (${a}) ? 1 : 0) + ((${q} + 1) * (${b}) <= (${a}) ? 1 : 0))`;
}

const CALL = /\bidiv\s*\(/g;

/** `src` with every `idiv(a, b)` call replaced by its exact inline form (arguments expanded first). */
export function expandIdiv(src: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    CALL.lastIndex = at;
    const hit = CALL.exec(src);
    if (!hit) return out + src.slice(at);
    const open = hit.index + hit[0].length;
    let depth = 0;
    let comma = -1;
    let end = open;
    for (; end < src.length; end++) {
      const c = src[end];
      if (c === '(' || c === '[') depth++;
      else if ((c === ')' || c === ']') && depth-- === 0) break;
      else if (c === ',' && depth === 0) {
        if (comma >= 0) break;
        comma = end;
      }
    }
    if (end >= src.length || src[end] !== ')' || comma < 0) {
      throw new BackendError(`gpujs kernel source: idiv(...) at ${hit.index} must have exactly two arguments`);
    }
    const a = expandIdiv(src.slice(open, comma).trim());
    const b = expandIdiv(src.slice(comma + 1, end).trim());
    out += src.slice(at, hit.index) + exactFloorDiv(a, b);
    at = end + 1;
  }
}

const expanded = new WeakMap<KernelFn, string>();

/** The source gpu.js compiles for `kernel`: its text with idiv expanded (computed once per kernel function). */
export function exactIndexSource(kernel: KernelFn): string {
  let src = expanded.get(kernel);
  if (src === undefined) {
    src = expandIdiv(kernel.toString());
    expanded.set(kernel, src);
  }
  return src;
}
