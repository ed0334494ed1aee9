/**
 * Shared helpers for the gpu.js backend tests: one backend per mode per test file (kernel builds are the slow part),
 * the reference backend as oracle, and seeded float32 data. Every mode, webgpu included, is read back through the
 * asynchronous `read()` (webgpu's readSync throws by design). Which modes run: test/webgpu-required.ts (webgpu is
 * skipped without an adapter, and fails instead under BIT_REQUIRE_WEBGPU=1).
 */

import type { Backend, BackendBuffer, Conv2dGeom, StridedView } from '../../../../src/tensor/backend.js';
import { createGpujsBackend, type GpujsBackend } from '../../../../src/tensor/backends/gpujs/index.js';
import { createReferenceBackend } from '../../../../src/tensor/backends/reference/index.js';
import { expectClose, TOL } from '../../../tolerances.js';
import { assertRunnable, backendsUnderTest, type UnderTest } from '../../../webgpu-required.js';

export type Mode = 'webasm' | 'cpu' | 'webgpu';
/** Every gpu.js mode, each with its run / skip / fail decision here. */
export const MODES: readonly UnderTest<Mode>[] = await backendsUnderTest<Mode>(['webasm', 'cpu', 'webgpu']);
export const ref = createReferenceBackend();

/** Lazily created backends, one per mode; dispose in afterAll. */
export function backendPool(opts: { chunkLimit?: number; reductions?: 'two-stage' | 'per-row' } = {}) {
  const made = new Map<string, GpujsBackend>();
  return {
    /** The backend of `m` (throws, failing the test, when webgpu is required here but missing). */
    async get(m: UnderTest<Mode>): Promise<GpujsBackend> {
      assertRunnable(m);
      let b = made.get(m.name);
      if (!b) {
        b = await createGpujsBackend(m.name, opts);
        made.set(m.name, b);
      }
      return b;
    },
    dispose() {
      for (const b of made.values()) b.dispose();
      made.clear();
    },
  };
}

/** Deterministic pseudo-random float32 values in [lo, hi). */
export function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = lo + ((s >>> 0) / 4294967296) * (hi - lo);
  }
  return out;
}

/** Row-major strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/** A contiguous view over a buffer. */
export function view(buf: BackendBuffer, shape: readonly number[]): StridedView {
  return { buf, shape, strides: stridesOf(shape), offset: 0 };
}

/** Upload the same data to both backends. */
export function up(b: Backend, data: ArrayLike<number>): BackendBuffer {
  return b.upload(data, 'float32');
}

/** Compare a gpu.js result buffer with a reference result buffer (asynchronous readback on every mode). */
export async function same(
  g: Backend,
  gb: BackendBuffer,
  rb: BackendBuffer,
  tol: { rtol: number; atol: number },
  what: string,
): Promise<void> {
  expectClose(await g.read(gb), await ref.read(rb), tol, what);
}

/** Same strided view, re-targeted at another buffer. */
export function retarget(v: StridedView, buf: BackendBuffer): StridedView {
  return { ...v, buf };
}

/** conv2d forward, gradInput and gradWeight of `g` on `b` equal the reference (random x, w, dy from `seed`). */
export async function sameConv(b: Backend, g: Conv2dGeom, seed: number): Promise<void> {
  const x = rand(g.n * g.cin * g.h * g.w, seed);
  const w = rand(g.cout * (g.cin / g.groups) * g.kh * g.kw, seed + 1);
  const dy = rand(g.n * g.cout * g.oh * g.ow, seed + 2);
  await same(b, b.conv2d(up(b, x), up(b, w), g), ref.conv2d(up(ref, x), up(ref, w), g), TOL.linear, 'fwd');
  const gi = b.conv2dGradInput(up(b, dy), up(b, w), g);
  await same(b, gi, ref.conv2dGradInput(up(ref, dy), up(ref, w), g), TOL.linear, 'gradInput');
  const gw = b.conv2dGradWeight(up(b, x), up(b, dy), g);
  await same(b, gw, ref.conv2dGradWeight(up(ref, x), up(ref, dy), g), TOL.linear, 'gradWeight');
}
