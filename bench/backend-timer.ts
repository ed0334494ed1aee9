/**
 * Per-call timing of a backend for the profiling benches (bench/profile.ts, bench/first-step.ts): every method of
 * the instance is wrapped with a timer (wasm ops are synchronous, so a method's wall time is its cost) and
 * reported with a call-site label (the primitive plus the geometry that identifies the layer, e.g.
 * `conv2d 256->256 3x3/1 @1x1`). Invariant: a method called from inside another (readSync inside read) is
 * counted once, in the outer call; the counters methods (syncStats, heapStats) and dispose are never wrapped.
 */

import type { Backend, Conv2dGeom, GroupNormGeom } from '../src/tensor/backend.js';

/** Call-site label of a backend call: the primitive plus the geometry that identifies the layer. */
export function callSite(method: string, a: unknown[]): string {
  const conv = (g: Conv2dGeom) =>
    `${g.cin}->${g.cout} ${g.kh}x${g.kw}/${g.stride} @${g.oh}x${g.ow}${g.groups > 1 ? ` g${g.groups}` : ''}`;
  if (method.startsWith('conv2d')) return `${method} ${conv(a[method === 'conv2dAdd' ? 3 : 2] as Conv2dGeom)}`;
  if (method.startsWith('groupNorm')) {
    const at = { groupNorm: 3, groupNormRelu: 3, groupNormBackward: 5, groupNormReluBackward: 6 }[method] ?? 5;
    const g = a[at] as GroupNormGeom;
    return `${method} c${g.c} hw${g.hw}`;
  }
  if (method.startsWith('weightStandardize')) return `${method} ${a[method === 'weightStandardize' ? 1 : 4]}`;
  if (method === 'matmul') {
    const g = a[2] as { m: number; n: number; k: number };
    return `matmul ${g.m}x${g.k}x${g.n}`;
  }
  if (typeof a[0] === 'string') return `${method} ${a[0]}`;
  const b = a[0] as { size?: number } | undefined;
  return typeof b?.size === 'number' ? `${method} [${b.size}]` : method;
}

const UNWRAPPED = new Set(['syncStats', 'heapStats', 'dispose']);

/**
 * Wrap every method of `b` so that each outermost call, while `active()` holds, reports its method name, arguments
 * and wall ms to `onCall`. Mutates `b` in place (the benches own their backend).
 */
export function timeBackendCalls(
  b: Backend,
  onCall: (method: string, args: unknown[], ms: number) => void,
  active: () => boolean = () => true,
): void {
  let depth = 0;
  const rec = b as unknown as Record<string, unknown>;
  for (const key of Object.keys(rec)) {
    const f = rec[key];
    if (typeof f !== 'function' || UNWRAPPED.has(key)) continue;
    rec[key] = function (this: unknown, ...a: unknown[]) {
      if (!active() || depth > 0) return (f as (...x: unknown[]) => unknown).apply(this, a);
      depth++;
      const t = performance.now();
      try {
        return (f as (...x: unknown[]) => unknown).apply(this, a);
      } finally {
        depth--;
        onCall(key, a, performance.now() - t);
      }
    };
  }
}
