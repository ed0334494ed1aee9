/**
 * Early freeing of intermediates in inference forwards. Under `noGrad` nothing reads an activation after its
 * consumers are issued, so the model's forward disposes each intermediate as soon as its last consumer ran, instead
 * of leaving every activation of the forward alive until the caller's `tidy` scope ends: the allocator hands the
 * just-freed (cache-warm) buffer to the next op and peak memory is a few activations, not all of them. With grad
 * recording on, nothing is freed (the backward needs the activations). Env BIT_INFER_EARLY_FREE=0 turns it off (read
 * once, at load: the A/B switch for the bench).
 *
 * Invariant: only tensors the forward itself created are freed, never the caller's input nor the returned result.
 */

import { envOn } from '../env.js';
import { isGradEnabled } from '../tensor/engine.js';
import type { Tensor } from '../tensor/tensor.js';

const ENABLED = envOn('BIT_INFER_EARLY_FREE');

/** Whether the forward now running may free its intermediates (no graph is recorded, and the switch is on). */
export function freesEarly(): boolean {
  return ENABLED && !isGradEnabled();
}

/** Dispose `t` unless it is one of `keep` (the caller's input, a result, a tensor still needed). */
export function release(t: Tensor, ...keep: Tensor[]): void {
  if (!keep.includes(t)) t.dispose();
}

/**
 * y = fs[n-1](...fs[0](x)): each step's input is freed once the next step is issued when `free` (never x itself).
 */
export function chain(x: Tensor, steps: readonly ((t: Tensor) => Tensor)[], free: boolean): Tensor {
  let y = x;
  for (const f of steps) {
    const z = f(y);
    if (free && y !== x) release(y, z);
    y = z;
  }
  return y;
}
