/**
 * One call per primitive: densify the inputs, run the backend kernel on their buffers, wrap the result, and
 * (for `primitive`) record the backward. Autograd ops are written with these so that each reads like its math;
 * the plumbing (dense copies, buffer ownership, freeing temporaries) lives here and in tidy scopes only.
 *
 * Invariants: dense copies made for a kernel are freed before the call returns (a tidy scope around the launch);
 * a kernel's returned buffers are fresh and owned by the returned tensors; backward closures run inside a tidy
 * scope (graph.ts), so they never dispose by hand.
 */

import type { Backend, BackendBuffer } from '../tensor/backend.js';
import { isGradEnabled, tidy } from '../tensor/engine.js';
import { contiguousRaw, fromBuffer, isDense } from '../tensor/raw.js';
import type { Shape } from '../tensor/shape.js';
import type { Tensor } from '../tensor/tensor.js';
import { type BackwardFn, record } from './graph.js';

type Kernel<R> = (backend: Backend, ...bufs: BackendBuffer[]) => R;

/** Run a one-output kernel on dense buffers of `inputs`; the result is a tensor of `shape`. */
export function launch(inputs: readonly Tensor[], shape: Shape, kernel: Kernel<BackendBuffer>): Tensor {
  const backend = inputs[0].backend;
  const run = () => fromBuffer(backend, kernel(backend, ...inputs.map((t) => contiguousRaw(t).storage.buf)), shape);
  // dense inputs (the common case) need no copies, so no scope to free them
  return inputs.every(isDense) ? run() : tidy(run);
}

/** Run a kernel with several named outputs; `shapes` gives each output's shape. */
export function launchAll<K extends string>(
  inputs: readonly Tensor[],
  shapes: { readonly [P in K]: Shape },
  kernel: Kernel<{ readonly [P in K]: BackendBuffer }>,
): { [P in K]: Tensor } {
  const backend = inputs[0].backend;
  const run = () => {
    const bufs = kernel(backend, ...inputs.map((t) => contiguousRaw(t).storage.buf));
    const out = {} as { [P in K]: Tensor };
    for (const k of Object.keys(shapes) as K[]) out[k] = fromBuffer(backend, bufs[k], shapes[k]);
    return out;
  };
  return inputs.every(isDense) ? run() : tidy(run);
}

/**
 * A differentiable primitive: `launch` the forward kernel and record `backward` against `inputs`.
 * `save` lists the tensors whose data backward reads (version-checked); `owned` lives as long as the graph.
 */
export function primitive(
  name: string,
  inputs: readonly Tensor[],
  shape: Shape,
  kernel: Kernel<BackendBuffer>,
  backward: BackwardFn,
  opts: { save?: readonly Tensor[]; owned?: Tensor[] } = {},
): Tensor {
  return record(name, launch(inputs, shape, kernel), inputs, backward, opts);
}

/**
 * Run a composite of differentiable ops over `inputs`. When no graph is recorded its intermediates are freed
 * at once (a tidy scope); when one is, they are the graph's nodes and live as long as the caller's scope.
 */
export function composite<T>(inputs: readonly Tensor[], fn: () => T): T {
  return isGradEnabled() && inputs.some((t) => t.requiresGrad) ? fn() : tidy(fn);
}
