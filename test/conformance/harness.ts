/**
 * Conformance harness: run the same Tensor-level computation (forward, then backward with a seeded seed
 * gradient) on the reference backend and on a backend under test, from identical float32 inputs, and compare
 * outputs and every input gradient within a tolerance class from test/tolerances.ts.
 */

import { expect } from 'vitest';
import { type BackendName, getBackend, probeBackends } from '../../src/tensor/backends/registry.js';
import type { Backend, Tensor } from '../../src/tensor/index.js';
import * as F from '../../src/tensor/index.js';
import { Rng } from '../../src/tensor/random.js';
import { expectClose } from '../tolerances.js';

export interface Spec {
  shapes: number[][];
  /** inputs that should be positive (log, sqrt, pow base) */
  positive?: boolean[];
  /** inputs that do not require grad */
  noGrad?: boolean[];
}

const refBackend = F.createReferenceBackend();

function makeInputs(spec: Spec, seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return spec.shapes.map((s, i) => {
    const n = s.reduce((p, d) => p * d, 1);
    const v = new Float32Array(n);
    for (let j = 0; j < n; j++) v[j] = spec.positive?.[i] ? 0.5 + 2 * rng.uniform() : rng.normal();
    return v;
  });
}

async function run(
  b: Backend,
  f: (...xs: Tensor[]) => Tensor,
  spec: Spec,
  data: Float32Array[],
  seed: number,
  grad: boolean,
) {
  // Forward and backward inside one tidy scope; the output and copies of the input gradients leave it, and
  // are read back asynchronously afterwards (the only readback webgpu offers).
  const { y, grads } = F.tidy(() => {
    const xs = data.map((d, i) =>
      F.fromTyped(d, spec.shapes[i], { backend: b, requiresGrad: grad && !spec.noGrad?.[i] }),
    );
    const y = f(...xs);
    const grads: (Tensor | null)[] = [];
    if (grad && y.requiresGrad) {
      const rng = new Rng(seed + 99);
      const g = new Float32Array(y.size);
      for (let i = 0; i < g.length; i++) g[i] = rng.normal();
      y.backward(F.fromTyped(g, y.shape, { backend: b }));
      for (const x of xs) grads.push(x.grad ? F.noGrad(() => x.grad!.clone()) : null);
      for (const x of xs) x.zeroGrad();
    }
    return { y: y.detach(), grads };
  });
  try {
    const out = await y.data();
    const gs: (Float32Array | Float64Array | null)[] = [];
    for (const g of grads) gs.push(g ? ((await g.data()) as Float32Array | Float64Array) : null);
    return { out, shape: [...y.shape], grads: gs };
  } finally {
    y.dispose();
    for (const g of grads) g?.dispose();
  }
}

/** Compare backend `b` with the reference on f at spec (forward and, when `grad`, all input gradients). */
export async function conform(
  b: Backend,
  f: (...xs: Tensor[]) => Tensor,
  spec: Spec,
  seed: number,
  tol: { fwd: { rtol: number; atol: number }; grad?: { rtol: number; atol: number } },
  grad = true,
): Promise<void> {
  const data = makeInputs(spec, seed);
  const live = b.liveBuffers();
  const want = await run(refBackend, f, spec, data, seed, grad);
  const got = await run(b, f, spec, data, seed, grad);
  expect(got.shape).toEqual(want.shape);
  expectClose(got.out, want.out, tol.fwd, `${b.name} forward`);
  want.grads.forEach((g, i) => {
    if (g) expectClose(got.grads[i]!, g, tol.grad ?? tol.fwd, `${b.name} grad of input ${i}`);
  });
  expect(b.liveBuffers()).toBe(live);
}

/**
 * Backends to test: the CPU ones must be available (CI fails otherwise); webgpu is tested where an adapter
 * exists, and is required too when BIT_REQUIRE_WEBGPU=1 (CI sets it after installing a software adapter), so a
 * missing adapter fails the suite instead of skipping it.
 */
export const REQUIRE_WEBGPU = process.env.BIT_REQUIRE_WEBGPU === '1';
export const REQUIRED: BackendName[] = [
  'wasm',
  'gpujs-webasm',
  'gpujs-cpu',
  ...(REQUIRE_WEBGPU ? ['gpujs-webgpu' as const] : []),
];
export const OPTIONAL: BackendName[] = REQUIRE_WEBGPU ? [] : ['gpujs-webgpu'];

export async function availableBackends(): Promise<{ name: BackendName; backend: Backend | null; reason: string }[]> {
  const probes = await probeBackends([...REQUIRED, ...OPTIONAL]);
  const out = [];
  for (const p of probes) {
    out.push({ name: p.name, backend: p.available ? await getBackend(p.name) : null, reason: p.reason });
  }
  return out;
}
