/**
 * Public API of the weight-file layer: readers/writers for NPZ, safetensors and MindSpore .ckpt, name
 * mapping to and from our state-dict names, state-dict matching with the BiT head rule, and a one-call
 * loader. This layer does not depend on the tensor engine: it works on plain typed arrays (NamedArray).
 * Everything here parses and encodes bytes (browser-safe); reading paths and writing files is in
 * `node-io.ts` (`bit-ts/models/node`), which this index does not re-export.
 */
export {
  CKPT_PROTO,
  type CkptContent,
  type CkptWriteOptions,
  decodeCkpt,
  encodeCkpt,
} from './ckpt.js';
export {
  decodeWeights,
  detectFormat,
  detectNaming,
  type LoadedWeights,
  type WeightFormat,
  type WeightNaming,
} from './load.js';
export { type MatchOptions, type MatchResult, matchStateDict, type ShapeMismatch } from './match.js';
export {
  expectedRank,
  fromBitNpz,
  fromMindCV,
  fromTimm,
  type MappedWeights,
  OPTIMIZER_STATE,
  OUR_NAME,
  toBitNpz,
  toMindCV,
  transpose4d,
} from './name-map.js';
export { decodeNpy, encodeNpy, isNpy } from './npy.js';
export { decodeNpz, encodeNpz, encodeNpzChunks } from './npz.js';
export {
  decodeSafetensors,
  encodeSafetensors,
  encodeSafetensorsChunks,
  type SafetensorsContent,
} from './safetensors.js';
export {
  type ArrayData,
  crc32,
  type DecodeOptions,
  DTYPE_BYTES,
  type DType,
  decodedByteCap,
  float16ToNumber,
  float32Array,
  type NamedArray,
  numberToFloat16,
  toFloat32,
  type WeightMap,
} from './types.js';
