/**
 * MindSpore .ckpt read and write (protobuf, proto2 schema below, decoded with protobufjs reflection).
 * A file is a concatenation of one-Value `Checkpoint` messages; protobuf merge semantics make the whole file
 * one Checkpoint whose values keep file order. Consecutive Values with the same tag are slices of one tensor:
 * MindSpore writes np.array_split chunks along axis 0, each carrying the FULL dims, so contents are joined and
 * the shape is the slices' dims (or, for slices that carry their own dims, the sum of axis 0). dims [0] with
 * one element is a scalar (MindSpore's convention). Newer MindSpore appends `crc_num` + a 10-byte big-endian
 * CRC-32 of the preceding bytes; it is stripped and verified. Encrypted files do not parse as protobuf and
 * are reported as possibly encrypted. Invariant: all sizes are checked against the file before allocating, and
 * a pre-pass caps each tensor's dims count (protobufjs would build one object per dim).
 */
import protobuf from 'protobufjs';
import { CheckpointError } from '../../errors.js';
import {
  arrayBytes,
  crc32,
  DTYPE_BYTES,
  type DType,
  decodeLE,
  type NamedArray,
  shapeSize,
  type WeightMap,
} from './types.js';

/** The checkpoint schema (MindSpore `checkpoint.proto`, tensor part). */
export const CKPT_PROTO = `
syntax = "proto2";
message Checkpoint { repeated Value value = 1; }
message Value { required string tag = 1; optional TensorProto tensor = 2; }
message TensorProto {
  repeated int64 dims = 1;
  required string tensor_type = 2;
  required bytes tensor_content = 3;
}
`;

const root = protobuf.parse(CKPT_PROTO, { keepCase: true }).root;
const CheckpointMsg = root.lookupType('Checkpoint');

const MS_TO_DTYPE: Record<string, DType> = {
  Float32: 'float32',
  Float64: 'float64',
  Float16: 'float16',
  BFloat16: 'bfloat16',
  Int8: 'int8',
  Int16: 'int16',
  Int32: 'int32',
  Int64: 'int64',
  UInt8: 'uint8',
  Bool: 'bool',
};
const DTYPE_TO_MS = Object.fromEntries(Object.entries(MS_TO_DTYPE).map(([k, v]) => [v, k])) as Record<DType, string>;
/** Non-tensor tensor_type values MindSpore writes (strings, RNG state): listed as skipped, not decoded. */
const NON_TENSOR_TYPES = new Set(['str', 'random_op', 'mapparameter']);

const CRC_MARK = [0x63, 0x72, 0x63, 0x5f, 0x6e, 0x75, 0x6d]; // "crc_num"

/** Decoded checkpoint: numeric tensors plus the tags of entries that are not numeric tensors. */
export interface CkptContent {
  weights: WeightMap;
  /** Tags of string / RNG-state entries that carry no numeric tensor. */
  nonTensor: string[];
  /** True when a crc_num trailer was found (and verified). */
  hadCrc: boolean;
}

interface RawTensor {
  dims?: (number | { toNumber(): number })[];
  tensor_type?: string;
  tensor_content?: Uint8Array;
}
interface RawValue {
  tag?: string;
  tensor?: RawTensor;
}

function num(d: number | { toNumber(): number }): number {
  return typeof d === 'number' ? d : d.toNumber();
}

/** Strip and verify a `crc_num` trailer; returns the protobuf part. */
function stripCrc(bytes: Uint8Array, file: string): { body: Uint8Array; hadCrc: boolean } {
  const n = bytes.length;
  if (n < 17 || !CRC_MARK.every((b, i) => bytes[n - 17 + i] === b)) return { body: bytes, hadCrc: false };
  let stored = 0n;
  for (let i = n - 10; i < n; i++) stored = (stored << 8n) | BigInt(bytes[i]!);
  const body = bytes.subarray(0, n - 17);
  const actual = crc32(body);
  if (stored !== BigInt(actual)) {
    throw new CheckpointError(
      `${file}: crc_num trailer says ${stored} but the content's CRC-32 is ${actual}: file corrupt`,
    );
  }
  return { body, hadCrc: true };
}

function resolveShape(file: string, tag: string, slices: RawTensor[], dtype: DType, total: number): number[] {
  const dims0 = (slices[0]!.dims ?? []).map(num);
  const itemsize = DTYPE_BYTES[dtype];
  if (total % itemsize !== 0) {
    throw new CheckpointError(`${file}: entry '${tag}': ${total} content bytes is not a multiple of ${itemsize}`);
  }
  const count = total / itemsize;
  if ((dims0.length === 1 && dims0[0] === 0) || dims0.length === 0) {
    if (count === 1) return [];
    if (dims0.length === 1 && count === 0) return [0];
  }
  if (shapeSize(dims0, file, tag) === count) return dims0;
  if (slices.length > 1 && dims0.length > 0) {
    const all = slices.map((s) => (s.dims ?? []).map(num));
    const rest = dims0.slice(1).join(',');
    if (all.every((d) => d.length === dims0.length && d.slice(1).join(',') === rest)) {
      const shape = [all.reduce((s, d) => s + d[0]!, 0), ...dims0.slice(1)];
      if (shapeSize(shape, file, tag) === count) return shape;
    }
  }
  throw new CheckpointError(
    `${file}: entry '${tag}': dims [${dims0.join(', ')}] of ${DTYPE_TO_MS[dtype]} do not match ${total} content bytes` +
      (slices.length > 1 ? ` in ${slices.length} slices` : ''),
  );
}

/** Most dims one tensor may list (MindSpore tensors have at most 8; protobufjs would build an object each). */
const MAX_DIMS = 64;

/** Read a varint at `p`; returns [value, next offset] or null when it runs past `end`. */
function varint(b: Uint8Array, p: number, end: number): [number, number] | null {
  let v = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (p >= end) return null;
    const x = b[p++]!;
    v += (x & 0x7f) * mul;
    if (x < 0x80) return [v, p];
    mul *= 128;
  }
  return null;
}

/**
 * Walk `b[start, end)` as protobuf fields, calling `onLen(field, from, to)` for length-delimited ones and
 * `onVarint(field)` for varints. Returns false on malformed wire data (protobufjs then reports it).
 */
function walk(
  b: Uint8Array,
  start: number,
  end: number,
  onLen: (field: number, from: number, to: number) => boolean,
  onVarint: (field: number) => void = () => {},
): boolean {
  let p = start;
  while (p < end) {
    const key = varint(b, p, end);
    if (!key) return false;
    p = key[1];
    const field = Math.floor(key[0] / 8);
    const wt = key[0] % 8;
    if (wt === 0) {
      const v = varint(b, p, end);
      if (!v) return false;
      p = v[1];
      onVarint(field);
    } else if (wt === 2) {
      const len = varint(b, p, end);
      if (!len || len[1] + len[0] > end) return false;
      if (!onLen(field, len[1], len[1] + len[0])) return false;
      p = len[1] + len[0];
    } else if (wt === 1 || wt === 5) p += wt === 1 ? 8 : 4;
    else return false;
  }
  return p === end;
}

/**
 * Count each tensor's dims before protobufjs decodes anything, so a file listing millions of dims (one
 * JS object each) is refused at the cost of one pass over its bytes.
 */
function checkDimCounts(b: Uint8Array, file: string): void {
  walk(b, 0, b.length, (f, from, to) => {
    if (f !== 1) return true;
    return walk(b, from, to, (vf, tf, tt) => {
      if (vf !== 2) return true;
      let dims = 0;
      const count = () => {
        if (++dims > MAX_DIMS) {
          throw new CheckpointError(`${file}: a tensor lists more than ${MAX_DIMS} dims: file corrupt`);
        }
      };
      return walk(
        b,
        tf,
        tt,
        (df, a, z) => {
          if (df === 1) for (let i = a; i < z; i++) if (b[i]! < 0x80) count();
          return true;
        },
        (df) => {
          if (df === 1) count();
        },
      );
    });
  });
}

/**
 * Decode MindSpore checkpoint bytes.
 * @param fileName used in error messages.
 * @throws CheckpointError naming the file and entry: unparseable (maybe encrypted), unknown tensor_type,
 *   dims that do not match the content, a CRC mismatch, or a duplicate non-consecutive tag.
 */
export function decodeCkpt(bytes: Uint8Array, fileName: string): CkptContent {
  const { body, hadCrc } = stripCrc(bytes, fileName);
  checkDimCounts(body, fileName);
  let msg: { value?: RawValue[] };
  try {
    msg = CheckpointMsg.decode(body) as unknown as { value?: RawValue[] };
  } catch (e) {
    throw new CheckpointError(
      `${fileName}: cannot parse as a MindSpore checkpoint (protobuf): ${(e as Error).message}. ` +
        'The file may be encrypted (saved with enc_key; decrypt it with MindSpore first) or corrupt.',
    );
  }
  const values = msg.value ?? [];
  if (values.length === 0 && body.length > 0) {
    throw new CheckpointError(`${fileName}: no checkpoint values found; the file may be encrypted or not a .ckpt`);
  }
  const weights: WeightMap = new Map();
  const nonTensor: string[] = [];
  let i = 0;
  while (i < values.length) {
    const tag = values[i]!.tag ?? '';
    let j = i + 1;
    while (j < values.length && values[j]!.tag === tag) j++;
    const group = values.slice(i, j);
    i = j;
    const where = `${fileName}: entry '${tag}'`;
    if (weights.has(tag) || nonTensor.includes(tag))
      throw new CheckpointError(`${where}: tag appears twice, not consecutively`);
    if (group.some((v) => !v.tensor)) {
      nonTensor.push(tag); // e.g. a MapTensor value (field 3), which this reader does not decode
      continue;
    }
    const slices = group.map((v) => v.tensor!);
    const type = slices[0]!.tensor_type ?? '';
    if (slices.some((s) => s.tensor_type !== type))
      throw new CheckpointError(`${where}: slices disagree on tensor_type`);
    if (NON_TENSOR_TYPES.has(type)) {
      nonTensor.push(tag);
      continue;
    }
    const dtype = MS_TO_DTYPE[type];
    if (!dtype) throw new CheckpointError(`${where}: unsupported tensor_type '${type}'`);
    const total = slices.reduce((s, t) => s + (t.tensor_content?.length ?? 0), 0);
    const shape = resolveShape(fileName, tag, slices, dtype, total);
    let content: Uint8Array;
    if (slices.length === 1) content = slices[0]!.tensor_content ?? new Uint8Array(0);
    else {
      content = new Uint8Array(total);
      let o = 0;
      for (const s of slices) {
        const c = s.tensor_content ?? new Uint8Array(0);
        content.set(c, o);
        o += c.length;
      }
    }
    weights.set(tag, { name: tag, shape, dtype, data: decodeLE(content, dtype, shape, fileName, tag) });
  }
  return { weights, nonTensor, hadCrc };
}

/** Options for the checkpoint writer. */
export interface CkptWriteOptions {
  /** Split tensors larger than this many bytes into axis-0 slices (MindSpore uses 512 MiB). */
  sliceBytes?: number;
  /** Append MindSpore's `crc_num` trailer. */
  crc?: boolean;
}

/** Encode arrays as a MindSpore checkpoint: one Checkpoint message per Value, full dims on every slice. */
export function encodeCkpt(weights: Iterable<NamedArray> | WeightMap, opts: CkptWriteOptions = {}): Uint8Array {
  const list = weights instanceof Map ? [...weights.values()] : [...weights];
  const sliceBytes = opts.sliceBytes ?? 512 * 1024 * 1024;
  const chunks: Uint8Array[] = [];
  for (const a of list) {
    const bytes = arrayBytes(a);
    const dims = a.shape.length === 0 ? [0] : a.shape;
    const rows = a.shape.length === 0 ? 1 : a.shape[0]!;
    const rowBytes = rows > 0 ? bytes.length / rows : 0;
    const nSlices = Math.max(1, Math.min(rows, Math.ceil(bytes.length / sliceBytes)));
    // np.array_split: the first (rows % n) slices get one extra row
    const base = Math.floor(rows / nSlices);
    const extra = rows % nSlices;
    let r = 0;
    for (let s = 0; s < nSlices; s++) {
      const take = a.shape.length === 0 ? 1 : base + (s < extra ? 1 : 0);
      const part = a.shape.length === 0 ? bytes : bytes.subarray(r * rowBytes, (r + take) * rowBytes);
      r += take;
      const m = CheckpointMsg.create({
        value: [{ tag: a.name, tensor: { dims, tensor_type: DTYPE_TO_MS[a.dtype], tensor_content: part } }],
      });
      chunks.push(CheckpointMsg.encode(m).finish());
    }
    if (DTYPE_BYTES[a.dtype] * shapeSize(a.shape, 'ckpt writer', a.name) !== bytes.length) {
      throw new CheckpointError(`entry '${a.name}': data does not match shape [${a.shape.join(', ')}]`);
    }
  }
  const len = chunks.reduce((s, c) => s + c.length, 0);
  const out = new Uint8Array(len + (opts.crc ? 17 : 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  if (opts.crc) {
    out.set(CRC_MARK, o);
    let c = BigInt(crc32(out.subarray(0, len)));
    for (let k = 9; k >= 0; k--) {
      out[o + 7 + k] = Number(c & 0xffn);
      c >>= 8n;
    }
  }
  return out;
}
