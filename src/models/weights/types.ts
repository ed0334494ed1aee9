/**
 * Plain array representation shared by every weight-file reader and writer, independent of the tensor engine.
 * Invariants: `data.length === product(shape)` (a scalar has shape [] and one element); float16 and bfloat16
 * are kept as raw bit patterns in a Uint16Array; every typed array owns its buffer (no views into file bytes),
 * so callers may keep arrays after the file buffer is dropped. Byte order of decoded arrays is the host's
 * (little-endian hosts only, checked once).
 */
import { CheckpointError } from '../../errors.js';

/** Element types the readers understand. */
export type DType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'bool';

/** Typed array backing each dtype. */
export type ArrayData =
  | Float32Array
  | Float64Array
  | Uint16Array
  | Int8Array
  | Int16Array
  | Int32Array
  | BigInt64Array
  | Uint8Array;

/** One named array: C-order data with its shape and dtype. */
export interface NamedArray {
  name: string;
  shape: number[];
  dtype: DType;
  data: ArrayData;
}

/** Name -> array, in file order. */
export type WeightMap = Map<string, NamedArray>;

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  uint8: 1,
  bool: 1,
};

/**
 * Limits of the decoders for compressed containers (NPZ). Uncompressed formats never allocate more than the
 * file holds, so they need none.
 */
export interface DecodeOptions {
  /**
   * Most bytes the members of one archive may inflate to, all together. Default: 64 MiB + 16x the archive
   * size (np.savez_compressed weights shrink < 2x; a zip bomb claims 1000x).
   */
  maxDecodedBytes?: number;
}

/** The decoded-size cap for an archive of `fileBytes` bytes under `opts`. */
export function decodedByteCap(fileBytes: number, opts: DecodeOptions = {}): number {
  return opts.maxDecodedBytes ?? 64 * 1024 * 1024 + 16 * fileBytes;
}

const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Product of a shape, validating that every dimension is a non-negative safe integer.
 * @throws CheckpointError naming `file` and `entry` on a negative, fractional or overflowing dimension.
 */
export function shapeSize(shape: readonly number[], file: string, entry: string): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new CheckpointError(`${file}: entry '${entry}': invalid dimension ${d} in shape [${shape.join(', ')}]`);
    }
    n *= d;
    if (!Number.isSafeInteger(n)) {
      throw new CheckpointError(`${file}: entry '${entry}': shape [${shape.join(', ')}] has too many elements`);
    }
  }
  return n;
}

/** An empty typed array of `dtype` with `n` elements. */
export function allocArray(dtype: DType, n: number): ArrayData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(n);
    case 'int8':
      return new Int8Array(n);
    case 'int16':
      return new Int16Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(n);
  }
}

/**
 * Decode little-endian C-order bytes into a fresh typed array, checking the byte count against the shape
 * before allocating (so a lying header cannot trigger a huge allocation).
 * @throws CheckpointError naming `file` and `entry` when the byte length does not match shape x itemsize.
 */
export function decodeLE(
  bytes: Uint8Array,
  dtype: DType,
  shape: readonly number[],
  file: string,
  entry: string,
): ArrayData {
  if (!hostIsLittleEndian) throw new CheckpointError(`${file}: big-endian hosts are not supported`);
  const n = shapeSize(shape, file, entry);
  const expected = n * DTYPE_BYTES[dtype];
  if (bytes.length !== expected) {
    throw new CheckpointError(
      `${file}: entry '${entry}': ${bytes.length} data bytes but shape [${shape.join(', ')}] of ${dtype} needs ${expected}`,
    );
  }
  const out = allocArray(dtype, n);
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
  return out;
}

/** The raw little-endian bytes of an array (a view, not a copy). */
export function arrayBytes(arr: NamedArray): Uint8Array {
  if (!hostIsLittleEndian) throw new CheckpointError(`${arr.name}: big-endian hosts are not supported`);
  return new Uint8Array(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength);
}

/** Check that an array's data length and typed-array class agree with its shape and dtype. */
export function validateArray(arr: NamedArray, file: string): void {
  const n = shapeSize(arr.shape, file, arr.name);
  const want = allocArray(arr.dtype, 0).constructor;
  if (arr.data.constructor !== want) {
    throw new CheckpointError(
      `${file}: entry '${arr.name}': dtype ${arr.dtype} stored in ${arr.data.constructor.name}`,
    );
  }
  if (arr.data.length !== n) {
    throw new CheckpointError(
      `${file}: entry '${arr.name}': ${arr.data.length} elements but shape [${arr.shape.join(', ')}] needs ${n}`,
    );
  }
}

const f16Table = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * frac * 2 ** -24;
    else if (exp === 31) t[h] = frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return t;
})();

/** IEEE half-precision bits -> number. */
export function float16ToNumber(bits: number): number {
  return f16Table[bits & 0xffff]!;
}

/** number -> IEEE half-precision bits, round to nearest even. */
export function numberToFloat16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && r & 1)) r++;
    return sign | r;
  }
  let r = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && r & 1)) {
    r++;
    if (r === 0x400) {
      r = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | r;
}

/**
 * Convert any array to a new Float32Array (float16 and bfloat16 decoded from their bits, int64 via Number).
 * Always copies, so the result may be mutated freely.
 */
export function toFloat32(arr: NamedArray): Float32Array {
  const d = arr.data;
  const out = new Float32Array(d.length);
  if (arr.dtype === 'float16') {
    for (let i = 0; i < d.length; i++) out[i] = f16Table[(d as Uint16Array)[i]!]!;
  } else if (arr.dtype === 'bfloat16') {
    const u32 = new Uint32Array(out.buffer);
    for (let i = 0; i < d.length; i++) u32[i] = (d as Uint16Array)[i]! << 16;
  } else if (d instanceof BigInt64Array) {
    for (let i = 0; i < d.length; i++) out[i] = Number(d[i]!);
  } else {
    for (let i = 0; i < d.length; i++) out[i] = (d as Float64Array)[i]!;
  }
  return out;
}

/** A float32 NamedArray from values (copied), handy for tests and converters. */
export function float32Array(name: string, shape: number[], values: ArrayLike<number>): NamedArray {
  const data = Float32Array.from(values);
  validateArray({ name, shape, dtype: 'float32', data }, name);
  return { name, shape: [...shape], dtype: 'float32', data };
}

/** Standard CRC-32 (IEEE, as in ZIP and Python's binascii.crc32), optionally continuing from `crc`. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
