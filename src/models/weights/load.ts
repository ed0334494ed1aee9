/**
 * One entry point for pretrained weights: detect the container (ZIP magic -> NPZ, plausible 8-byte header
 * length followed by '{' -> safetensors, else .ckpt by extension or as a last resort protobuf), then detect
 * the naming convention (official BiT `resnet/...`, timm/ours, MindCV `layer{b}...`) and map to OUR names.
 * Invariant: the result's weights always use our names and OIHW kernels; everything not loaded is reported.
 */
import { CheckpointError } from '../../errors.js';
import { decodeCkpt } from './ckpt.js';
import { fromBitNpz, fromMindCV, fromTimm, type MappedWeights } from './name-map.js';
import { decodeNpz } from './npz.js';
import { decodeSafetensors } from './safetensors.js';
import type { DecodeOptions, WeightMap } from './types.js';

/** Container formats. */
export type WeightFormat = 'npz' | 'safetensors' | 'ckpt';
/** Naming conventions. */
export type WeightNaming = 'bit' | 'timm' | 'mindcv';

/** What {@link decodeWeights} (and node-io's `loadWeightsFile`) returns. */
export interface LoadedWeights extends MappedWeights {
  format: WeightFormat;
  naming: WeightNaming;
  /** safetensors `__metadata__` (empty for other formats). */
  metadata: Record<string, string>;
  /** ckpt entries that are not numeric tensors (strings, RNG state). */
  nonTensor: string[];
}

/** Guess the container format from the first bytes, falling back to the file extension. */
export function detectFormat(bytes: Uint8Array, fileName: string): WeightFormat {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && (bytes[2] === 3 || bytes[2] === 5)) return 'npz';
  if (bytes.length >= 9) {
    const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
    if (n >= 2n && n <= BigInt(bytes.length - 8) && bytes[8] === 0x7b) return 'safetensors';
  }
  const dot = fileName.lastIndexOf('.');
  const ext = dot > fileName.lastIndexOf('/') ? fileName.slice(dot).toLowerCase() : '';
  if (ext === '.npz') return 'npz';
  if (ext === '.safetensors') return 'safetensors';
  if (ext === '.ckpt') return 'ckpt';
  // MindSpore checkpoints start with field 1 (Checkpoint.value), wire type 2: byte 0x0a
  if (bytes[0] === 0x0a) return 'ckpt';
  throw new CheckpointError(`${fileName}: unknown weight file format (not .npz, .safetensors or .ckpt)`);
}

/** Guess the naming convention from the parameter names. */
export function detectNaming(names: Iterable<string>, fileName: string): WeightNaming {
  let bit = 0;
  let timm = 0;
  let mindcv = 0;
  for (const n of names) {
    if (n.startsWith('resnet/')) bit++;
    else if (n.startsWith('stem.') || n.startsWith('stages.') || n.startsWith('head.fc.')) timm++;
    else if (n === 'conv1.weight' || /^layer\d+\./.test(n) || n.startsWith('gn.') || n.startsWith('classifier.'))
      mindcv++;
  }
  const best = Math.max(bit, timm, mindcv);
  if (best === 0) throw new CheckpointError(`${fileName}: no BiT, timm or MindCV parameter names found`);
  return bit === best ? 'bit' : timm === best ? 'timm' : 'mindcv';
}

/**
 * Decode weight-file bytes into our names.
 * @throws CheckpointError naming the file, entry and problem.
 */
export function decodeWeights(bytes: Uint8Array, fileName: string, opts: DecodeOptions = {}): LoadedWeights {
  const format = detectFormat(bytes, fileName);
  let raw: WeightMap;
  let metadata: Record<string, string> = {};
  let nonTensor: string[] = [];
  if (format === 'npz') raw = decodeNpz(bytes, fileName, opts);
  else if (format === 'safetensors') {
    const st = decodeSafetensors(bytes, fileName);
    raw = st.weights;
    metadata = st.metadata;
  } else {
    const ck = decodeCkpt(bytes, fileName);
    raw = ck.weights;
    nonTensor = ck.nonTensor;
  }
  const naming = detectNaming(raw.keys(), fileName);
  const mapped =
    naming === 'bit'
      ? fromBitNpz(raw, fileName)
      : naming === 'timm'
        ? fromTimm(raw, fileName)
        : fromMindCV(raw, fileName);
  return { ...mapped, format, naming, metadata, nonTensor };
}
