/**
 * Moving state-dict values (parameters, buffers, momentum) between backends without hidden synchronous
 * readback. Same backend: the copy stays on the device (clone / cast), whatever the backend's readback.
 * Another backend: host arrays are uploaded directly; a Tensor is read back synchronously only when its
 * backend can do so, otherwise a BackendError says to read it first (`await t.data()`) or to use the async
 * loaders (`Module.loadStateDictAsync`).
 *
 * Invariants: the result is a new tensor owned by the caller, on `like`'s backend and dtype, shape `like.shape`.
 */

import { BackendError } from '../errors.js';
import { fromTyped } from '../tensor/creation.js';
import { noGrad } from '../tensor/engine.js';
import type { Tensor } from '../tensor/tensor.js';

/** A state value: a live tensor or a host array with its shape. */
export type StateValue = Tensor | { shape: readonly number[]; data: ArrayLike<number> };

/** Whether `v` is a Tensor (not a {shape, data} host array). */
export function isTensorValue(v: StateValue): v is Tensor {
  return typeof (v as Tensor).dataSync === 'function' && 'storage' in (v as object);
}

/**
 * A copy of `v` on `like`'s backend and dtype, shaped like `like` (no graph).
 * @throws BackendError when `v` lives on another backend that reads back only asynchronously.
 */
export function copyOnto(op: string, key: string, v: StateValue, like: Tensor): Tensor {
  return noGrad(() => {
    if (!isTensorValue(v)) return fromTyped(v.data, like.shape, { backend: like.backend, dtype: like.dtype });
    if (v.backend === like.backend) {
      const c = v.dtype === like.dtype ? v.clone() : v.to(like.dtype);
      return c.shape.length === like.shape.length && c.shape.every((d, i) => d === like.shape[i])
        ? c
        : c.reshape([...like.shape]);
    }
    let host: ArrayLike<number>;
    try {
      host = v.dataSync();
    } catch (e) {
      if (!(e instanceof BackendError)) throw e;
      throw new BackendError(
        `${op}: '${key}' lives on ${v.backend.name}, which reads back only asynchronously, and the target is on ` +
          `${like.backend.name}; read it first (await t.data()) and pass {shape, data}, or use the async loader`,
      );
    }
    return fromTyped(host, like.shape, { backend: like.backend, dtype: like.dtype });
  });
}

/** Resolve every Tensor value of `sd` to host arrays (asynchronous readback; works on every backend). */
export async function toHostState(
  sd: Iterable<[string, StateValue]>,
): Promise<Map<string, { shape: number[]; data: Float32Array | Float64Array }>> {
  const out = new Map<string, { shape: number[]; data: Float32Array | Float64Array }>();
  for (const [k, v] of sd) {
    if (isTensorValue(v)) out.set(k, { shape: [...v.shape], data: (await v.data()) as Float32Array | Float64Array });
    else out.set(k, { shape: [...v.shape], data: Float64Array.from(v.data) });
  }
  return out;
}
