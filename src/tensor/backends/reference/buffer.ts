/**
 * Reference backend buffers: a plain typed array plus a freed flag. The live counter makes leaks visible.
 */

import { BackendError } from '../../../errors.js';
import type { BackendBuffer } from '../../backend.js';
import { type DType, type TypedArray, typedArray } from '../../dtype.js';

export class RefBuffer implements BackendBuffer {
  freed = false;
  constructor(
    readonly data: TypedArray,
    readonly dtype: DType,
  ) {}
  get size(): number {
    return this.data.length;
  }
}

/** Tracks live buffers for one backend instance. */
export class RefHeap {
  live = 0;
  alloc(size: number, dtype: DType): RefBuffer {
    this.live++;
    return new RefBuffer(typedArray(dtype, size), dtype);
  }
  wrap(data: TypedArray, dtype: DType): RefBuffer {
    this.live++;
    return new RefBuffer(data, dtype);
  }
  free(b: BackendBuffer): void {
    const r = asRef(b, 'free');
    if (r.freed) throw new BackendError(`reference.free: buffer of ${r.size} elements freed twice`);
    r.freed = true;
    this.live--;
  }
}

/** Checked downcast: a buffer from another backend, or a freed one, is a BackendError naming the op. */
export function asRef(b: BackendBuffer, op: string): RefBuffer {
  if (!(b instanceof RefBuffer)) throw new BackendError(`reference.${op}: buffer belongs to another backend`);
  if (b.freed) throw new BackendError(`reference.${op}: use of a freed buffer (${b.size} elements)`);
  return b;
}

/** Data of a buffer, checked. */
export function dataOf(b: BackendBuffer, op: string): TypedArray {
  return asRef(b, op).data;
}
