/**
 * gpu.js backend buffers. A GpujsBuffer holds a Float32Array (cpu, webasm: gpu.js reads and returns host arrays)
 * or, in webgpu mode, a Promise of a device array (./device.ts: the data stays in a GPU buffer; ops are issued
 * synchronously and chained on their inputs' Promises; readback is asynchronous). With `asyncBuffers` on cpu/webasm
 * it is a Promise of a host array (the async plumbing without an adapter).
 * The engine sees only `size` and `dtype`. In-place primitives replace the held data on the SAME object.
 * Invariants: float32 only; every op output is a fresh array (immutable kernels), never an alias of an input.
 */

import { BackendError } from '../../../errors.js';
import type { BackendBuffer } from '../../backend.js';
import type { DType } from '../../dtype.js';
import type { Arr } from './op-gen.js';

let nextId = 1;

/** A float32 buffer owned by one gpu.js backend. */
export class GpujsBuffer implements BackendBuffer {
  readonly dtype: DType = 'float32';
  readonly id = nextId++;
  freed = false;

  constructor(
    readonly owner: string,
    readonly size: number,
    /** Host data (cpu, webasm). */
    public data: Float32Array | null,
    /** Pending data (webgpu: a device array; asyncBuffers: a host array). */
    public pending: Promise<Arr> | null,
  ) {}
}

/** Narrow an engine buffer to ours, checking owner and liveness. */
export function asGpujs(owner: string, op: string, b: BackendBuffer): GpujsBuffer {
  if (!(b instanceof GpujsBuffer) || b.owner !== owner) {
    throw new BackendError(`${owner} ${op}: buffer does not belong to this backend`);
  }
  if (b.freed) throw new BackendError(`${owner} ${op}: buffer ${b.id} used after free()`);
  return b;
}
