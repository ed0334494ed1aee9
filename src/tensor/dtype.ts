/**
 * Data types. float32 is the training dtype on every backend; float64 exists on the reference backend for
 * gradcheck. Typed-array helpers keep the mapping between a dtype and its JS storage in one place.
 */

export type DType = 'float32' | 'float64';

export type TypedArray = Float32Array | Float64Array;

/** Allocate a zeroed typed array for `dtype`. */
export function typedArray(dtype: DType, size: number): TypedArray {
  return dtype === 'float64' ? new Float64Array(size) : new Float32Array(size);
}

/** Copy `data` into a new typed array of `dtype` (rounding to float32 where asked). */
export function toTyped(data: ArrayLike<number>, dtype: DType): TypedArray {
  return dtype === 'float64' ? Float64Array.from(data) : Float32Array.from(data);
}

/** Bytes per element. */
export function bytesPerElement(dtype: DType): number {
  return dtype === 'float64' ? 8 : 4;
}
