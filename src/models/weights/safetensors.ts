/**
 * safetensors read and write: 8-byte little-endian header length N, N bytes of JSON
 * {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}, then the data block.
 * Reader invariants (as in the reference implementation): the header fits in the file, offsets are relative
 * to the data block, tensors are contiguous, non-overlapping and cover the data block exactly, and each
 * tensor's byte length equals product(shape) x itemsize. Dtypes: F32 F64 F16 BF16 I8 I16 I32 I64 U8 BOOL.
 * The writer pads the header with spaces to an 8-byte boundary. Bytes in, bytes out: file I/O is in node-io.ts.
 * Checksums: the writer records the CRC-32 of every tensor's bytes in the metadata entry `bit_ts_crc32` (JSON
 * {name: crc}); the reader verifies them when that entry is present (a bit flip in our own files is a
 * CheckpointError naming the tensor) and removes it from the metadata it returns. Files without the entry
 * (timm, PyTorch, older bit-ts) load exactly as before.
 */
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

/** Metadata entry holding the per-tensor CRC-32s (hex) of files bit-ts writes. */
export const CHECKSUM_KEY = 'bit_ts_crc32';

const ST_TO_DTYPE: Record<string, DType> = {
  F32: 'float32',
  F64: 'float64',
  F16: 'float16',
  BF16: 'bfloat16',
  I8: 'int8',
  I16: 'int16',
  I32: 'int32',
  I64: 'int64',
  U8: 'uint8',
  BOOL: 'bool',
};
const DTYPE_TO_ST: Record<DType, string> = Object.fromEntries(
  Object.entries(ST_TO_DTYPE).map(([k, v]) => [v, k]),
) as Record<DType, string>;

/** Largest JSON header accepted (the reference implementation uses the same 100 MB cap). */
const MAX_HEADER = 100_000_000;

/** Decoded safetensors content. */
export interface SafetensorsContent {
  weights: WeightMap;
  metadata: Record<string, string>;
}

/**
 * Decode safetensors bytes.
 * @param fileName used in error messages.
 * @throws CheckpointError naming the file, the entry and the problem (bad header length, JSON, dtype,
 *   shape, offsets out of range, gaps or overlaps, byte length not matching the shape).
 */
export function decodeSafetensors(bytes: Uint8Array, fileName: string): SafetensorsContent {
  if (bytes.length < 8) throw new CheckpointError(`${fileName}: truncated safetensors file (${bytes.length} bytes)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  if (n64 > BigInt(bytes.length - 8) || n64 > BigInt(MAX_HEADER)) {
    throw new CheckpointError(
      `${fileName}: header length ${n64} runs past the end of the file (${bytes.length} bytes)`,
    );
  }
  const n = Number(n64);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    throw new CheckpointError(`${fileName}: header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new CheckpointError(`${fileName}: header is not a JSON object`);
  }
  const data = bytes.subarray(8 + n);
  const metadata: Record<string, string> = {};
  const specs: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    const where = `${fileName}: entry '${name}'`;
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) {
        throw new CheckpointError(`${where}: __metadata__ must be an object of strings`);
      }
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== 'string') throw new CheckpointError(`${where}: metadata value for '${k}' is not a string`);
        metadata[k] = s;
      }
      continue;
    }
    if (typeof v !== 'object' || v === null) throw new CheckpointError(`${where}: tensor info is not an object`);
    const info = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = typeof info.dtype === 'string' ? ST_TO_DTYPE[info.dtype] : undefined;
    if (!dtype) throw new CheckpointError(`${where}: unknown dtype ${JSON.stringify(info.dtype)}`);
    if (!Array.isArray(info.shape) || !info.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new CheckpointError(`${where}: shape ${JSON.stringify(info.shape)} is not a list of non-negative integers`);
    }
    const off = info.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new CheckpointError(`${where}: data_offsets ${JSON.stringify(off)} is not [begin, end]`);
    }
    const [begin, end] = off as [number, number];
    if (begin > end || end > data.length) {
      throw new CheckpointError(
        `${where}: data_offsets [${begin}, ${end}] outside the data block (${data.length} bytes)`,
      );
    }
    const shape = info.shape as number[];
    const need = shapeSize(shape, fileName, name) * DTYPE_BYTES[dtype];
    if (need !== end - begin) {
      throw new CheckpointError(
        `${where}: shape [${shape.join(', ')}] of ${info.dtype} needs ${need} bytes but data_offsets span ${end - begin}`,
      );
    }
    specs.push({ name, dtype, shape, begin, end });
  }
  const sorted = [...specs].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (const s of sorted) {
    if (s.begin !== pos) {
      const what = s.begin < pos ? 'overlaps the previous tensor' : `leaves a gap (previous tensor ends at ${pos})`;
      throw new CheckpointError(`${fileName}: entry '${s.name}': data_offsets [${s.begin}, ${s.end}] ${what}`);
    }
    pos = s.end;
  }
  if (pos !== data.length) {
    throw new CheckpointError(`${fileName}: tensors cover ${pos} bytes but the data block has ${data.length}`);
  }
  verifyChecksums(metadata, specs, data, fileName);
  const weights: WeightMap = new Map();
  for (const s of specs) {
    const arr = decodeLE(data.subarray(s.begin, s.end), s.dtype, s.shape, fileName, s.name);
    weights.set(s.name, { name: s.name, shape: s.shape, dtype: s.dtype, data: arr });
  }
  return { weights, metadata };
}

/**
 * Check the recorded CRC-32 of every tensor (when the file has them) and drop the entry from `metadata`.
 * @throws CheckpointError naming the first tensor whose bytes changed, or a tensor with no or a stray record.
 */
function verifyChecksums(
  metadata: Record<string, string>,
  specs: readonly { name: string; begin: number; end: number }[],
  data: Uint8Array,
  fileName: string,
): void {
  const raw = metadata[CHECKSUM_KEY];
  if (raw === undefined) return;
  delete metadata[CHECKSUM_KEY];
  let sums: Record<string, unknown>;
  try {
    sums = JSON.parse(raw) as Record<string, unknown>;
  } catch (e) {
    throw new CheckpointError(`${fileName}: metadata '${CHECKSUM_KEY}' is not JSON: ${(e as Error).message}`);
  }
  const damaged = (what: string) =>
    new CheckpointError(`${fileName}: ${what}: the file is damaged (a bit flip, a bad copy or an edit)`);
  for (const s of specs) {
    const want = sums[s.name];
    if (typeof want !== 'string') throw damaged(`tensor '${s.name}' has no recorded checksum`);
    const got = crc32(data.subarray(s.begin, s.end)).toString(16).padStart(8, '0');
    if (got !== want) throw damaged(`tensor '${s.name}' fails its checksum (crc32 ${got}, recorded ${want})`);
  }
  const names = new Set(specs.map((s) => s.name));
  const stray = Object.keys(sums).find((n) => !names.has(n));
  if (stray !== undefined) throw damaged(`checksum recorded for '${stray}', which the file does not hold`);
}

/** Encode arrays as safetensors, returned as chunks to concatenate (length, header, tensor data). */
export function encodeSafetensorsChunks(
  weights: Iterable<NamedArray> | WeightMap,
  metadata?: Record<string, string>,
): Uint8Array[] {
  const list = weights instanceof Map ? [...weights.values()] : [...weights];
  const header: Record<string, unknown> = {};
  const sums: Record<string, string> = {};
  const meta = { ...metadata };
  delete meta[CHECKSUM_KEY];
  if (list.length > 0) header.__metadata__ = meta; // filled in below, after the checksums
  let off = 0;
  const chunks: Uint8Array[] = [];
  for (const a of list) {
    if (a.name === '__metadata__') throw new CheckpointError(`entry '__metadata__': reserved name`);
    const bytes = arrayBytes(a);
    const need = shapeSize(a.shape, 'safetensors writer', a.name) * DTYPE_BYTES[a.dtype];
    if (bytes.length !== need) {
      throw new CheckpointError(`entry '${a.name}': ${bytes.length} bytes do not match shape [${a.shape.join(', ')}]`);
    }
    header[a.name] = { dtype: DTYPE_TO_ST[a.dtype], shape: a.shape, data_offsets: [off, off + bytes.length] };
    sums[a.name] = crc32(bytes).toString(16).padStart(8, '0');
    off += bytes.length;
    chunks.push(bytes);
  }
  if (list.length > 0) meta[CHECKSUM_KEY] = JSON.stringify(sums);
  else if (Object.keys(meta).length > 0) header.__metadata__ = meta;
  let json = JSON.stringify(header);
  let jbytes = new TextEncoder().encode(json);
  const pad = (8 - (jbytes.length % 8)) % 8;
  if (pad) {
    json += ' '.repeat(pad);
    jbytes = new TextEncoder().encode(json);
  }
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(jbytes.length), true);
  return [len, jbytes, ...chunks];
}

/** Encode arrays (and an optional string metadata map) as safetensors bytes. */
export function encodeSafetensors(
  weights: Iterable<NamedArray> | WeightMap,
  metadata?: Record<string, string>,
): Uint8Array {
  const chunks = encodeSafetensorsChunks(weights, metadata);
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
