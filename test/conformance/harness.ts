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

function run(
  b: Backend,
  f: (...xs: Tensor[]) => Tensor,
  spec: Spec,
  data: Float32Array[],
  seed: number,
  grad: boolean,
) {
  return F.tidy(() => {
    const xs = data.map((d, i) =>
      F.fromTyped(d, spec.shapes[i], { backend: b, requiresGrad: grad && !spec.noGrad?.[i] }),
    );
    const y = f(...xs);
    const out = y.dataSync();
    const grads: (Float32Array | Float64Array | null)[] = [];
    if (grad && y.requiresGrad) {
      const rng = new Rng(seed + 99);
      const g = new Float32Array(y.size);
      for (let i = 0; i < g.length; i++) g[i] = rng.normal();
      y.backward(F.fromTyped(g, y.shape, { backend: b }));
      for (const x of xs) grads.push(x.grad ? x.grad.dataSync() : null);
      for (const x of xs) x.zeroGrad();
    }
    return { out, shape: [...y.shape], grads };
  });
}

/** Compare backend `b` with the reference on f at spec (forward and, when `grad`, all input gradients). */
export function conform(
  b: Backend,
  f: (...xs: Tensor[]) => Tensor,
  spec: Spec,
  seed: number,
  tol: { fwd: { rtol: number; atol: number }; grad?: { rtol: number; atol: number } },
  grad = true,
): void {
  const data = makeInputs(spec, seed);
  const live = b.liveBuffers();
  const want = run(refBackend, f, spec, data, seed, grad);
  const got = run(b, f, spec, data, seed, grad);
  expect(got.shape).toEqual(want.shape);
  expectClose(got.out, want.out, tol.fwd, `${b.name} forward`);
  want.grads.forEach((g, i) => {
    if (g) expectClose(got.grads[i]!, g, tol.grad ?? tol.fwd, `${b.name} grad of input ${i}`);
  });
  expect(b.liveBuffers()).toBe(live);
}

/** Backends to test: the CPU ones must be available (CI fails otherwise); webgpu is tested where present. */
export const REQUIRED: BackendName[] = ['wasm', 'gpujs-webasm', 'gpujs-cpu'];
export const OPTIONAL: BackendName[] = ['gpujs-webgpu'];

export async function availableBackends(): Promise<{ name: BackendName; backend: Backend | null; reason: string }[]> {
  const probes = await probeBackends([...REQUIRED, ...OPTIONAL]);
  const out = [];
  for (const p of probes) {
    out.push({ name: p.name, backend: p.available ? await getBackend(p.name) : null, reason: p.reason });
  }
  return out;
}
