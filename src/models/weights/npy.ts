/**
 * NPY (numpy .npy) encode/decode for one array. Supports format versions 1.0 (2-byte header length), 2.0 and
 * 3.0 (4-byte length, UTF-8 header), little-endian or byte-order-free descrs <f4 <f8 <f2 <i1 <i2 <i4 <i8 |u1
 * |b1, C order, and fortran_order=True (transposed to C order on load). Big-endian data and structured or
 * object dtypes are rejected with a CheckpointError. Invariant: the byte count is checked against the
 * header's shape before any array is allocated; the header itself is at most 64 KiB.
 */
import { CheckpointError } from '../../errors.js';
import { allocArray, arrayBytes, type DType, decodeLE, type NamedArray, shapeSize } from './types.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** Longest header accepted: a simple dtype/shape dict is < 200 bytes (numpy itself refuses > 10000). */
const MAX_HEADER = 65536;

const DESCR_TO_DTYPE: Record<string, DType> = {
  f4: 'float32',
  f8: 'float64',
  f2: 'float16',
  i1: 'int8',
  i2: 'int16',
  i4: 'int32',
  i8: 'int64',
  u1: 'uint8',
  b1: 'bool',
};

const DTYPE_TO_DESCR: Partial<Record<DType, string>> = {
  float32: '<f4',
  float64: '<f8',
  float16: '<f2',
  int8: '|i1',
  int16: '<i2',
  int32: '<i4',
  int64: '<i8',
  uint8: '|u1',
  bool: '|b1',
};

/** True when `buf` starts with the NPY magic string. */
export function isNpy(buf: Uint8Array): boolean {
  return buf.length >= 6 && MAGIC.every((b, i) => buf[i] === b);
}

interface NpyHeader {
  dtype: DType;
  fortran: boolean;
  shape: number[];
}

function parseHeader(text: string, where: string): NpyHeader {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]*)['"]/.exec(text);
  if (!descr) throw new CheckpointError(`${where}: NPY header has no simple 'descr' (structured dtypes unsupported)`);
  const fo = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  if (!fo) throw new CheckpointError(`${where}: NPY header has no 'fortran_order'`);
  const sh = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!sh) throw new CheckpointError(`${where}: NPY header has no 'shape' tuple`);
  const d = descr[1]!;
  const order = d[0];
  const code = d.slice(1);
  const dtype = DESCR_TO_DTYPE[code];
  if (!dtype || !['<', '|', '=', '>'].includes(order ?? '')) {
    throw new CheckpointError(`${where}: unsupported dtype '${d}' (want <f4 <f8 <f2 <i1 <i2 <i4 <i8 |u1 |b1)`);
  }
  if (order === '>' && !['i1', 'u1', 'b1'].includes(code)) {
    throw new CheckpointError(`${where}: big-endian dtype '${d}' is not supported; re-save little-endian`);
  }
  const parts = sh[1]!
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const shape = parts.map((s) => {
    const v = /^\d+L?$/.test(s) ? Number.parseInt(s, 10) : Number.NaN;
    if (!Number.isSafeInteger(v)) throw new CheckpointError(`${where}: bad dimension '${s}' in NPY shape`);
    return v;
  });
  return { dtype, fortran: fo[1] === 'True', shape };
}

/** Reorder a Fortran-order buffer of `shape` into C order. */
function fortranToC(src: NamedArray['data'], dtype: DType, shape: number[]): NamedArray['data'] {
  const n = src.length;
  const out = allocArray(dtype, n);
  const nd = shape.length;
  if (nd <= 1 || n === 0) return src;
  // Fortran strides (in elements) for each axis
  const fstride = new Array<number>(nd);
  let s = 1;
  for (let a = 0; a < nd; a++) {
    fstride[a] = s;
    s *= shape[a]!;
  }
  const idx = new Array<number>(nd).fill(0);
  let f = 0;
  for (let c = 0; c < n; c++) {
    (out as Float32Array)[c] = (src as Float32Array)[f]!;
    for (let a = nd - 1; a >= 0; a--) {
      idx[a]!++;
      f += fstride[a]!;
      if (idx[a]! < shape[a]!) break;
      f -= fstride[a]! * shape[a]!;
      idx[a] = 0;
    }
  }
  return out;
}

/**
 * Decode one .npy file.
 * @param name the array name to record (and to quote in errors).
 * @param file the containing file, for error messages.
 * @throws CheckpointError on a bad magic, version, header, dtype, or a data length that does not match the shape.
 */
export function decodeNpy(buf: Uint8Array, name: string, file: string): NamedArray {
  const where = `${file}: entry '${name}'`;
  if (!isNpy(buf)) throw new CheckpointError(`${where}: not an NPY array (bad magic)`);
  if (buf.length < 10) throw new CheckpointError(`${where}: truncated NPY header`);
  const major = buf[6]!;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let hlen: number;
  let hstart: number;
  if (major === 1) {
    hlen = dv.getUint16(8, true);
    hstart = 10;
  } else if (major === 2 || major === 3) {
    if (buf.length < 12) throw new CheckpointError(`${where}: truncated NPY header`);
    hlen = dv.getUint32(8, true);
    hstart = 12;
  } else {
    throw new CheckpointError(`${where}: unsupported NPY format version ${major}.${buf[7]}`);
  }
  if (hlen > MAX_HEADER) {
    throw new CheckpointError(`${where}: NPY header length ${hlen} is over the ${MAX_HEADER}-byte limit`);
  }
  if (hstart + hlen > buf.length) {
    throw new CheckpointError(`${where}: NPY header length ${hlen} runs past the end (${buf.length} bytes)`);
  }
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(buf.subarray(hstart, hstart + hlen));
  const h = parseHeader(text, where);
  const body = buf.subarray(hstart + hlen);
  shapeSize(h.shape, file, name);
  let data = decodeLE(body, h.dtype, h.shape, file, name);
  if (h.fortran) data = fortranToC(data, h.dtype, h.shape);
  return { name, shape: h.shape, dtype: h.dtype, data };
}

/**
 * Encode one array as .npy (version 1.0 when the header fits, else 2.0), C order, little-endian.
 * @throws CheckpointError when the dtype has no NPY equivalent (bfloat16).
 */
export function encodeNpy(arr: NamedArray): Uint8Array {
  const descr = DTYPE_TO_DESCR[arr.dtype];
  if (!descr) throw new CheckpointError(`entry '${arr.name}': dtype ${arr.dtype} cannot be stored in NPY`);
  const shapeText = arr.shape.length === 1 ? `(${arr.shape[0]},)` : `(${arr.shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  let pre = 10;
  if (header.length + 1 + pre > 0xffff) pre = 12;
  const total = Math.ceil((pre + header.length + 1) / 64) * 64;
  header = header + ' '.repeat(total - pre - header.length - 1) + '\n';
  const data = arrayBytes(arr);
  const out = new Uint8Array(total + data.length);
  out.set(MAGIC, 0);
  out[6] = pre === 10 ? 1 : 2;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (pre === 10) dv.setUint16(8, header.length, true);
  else dv.setUint32(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[pre + i] = header.charCodeAt(i);
  out.set(data, total);
  return out;
}
