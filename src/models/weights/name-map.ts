/**
 * Name and layout mapping between weight-file conventions and OUR state-dict names (timm's ResNetV2 names,
 * OIHW conv kernels): `stem.conv.weight`, `stages.{s}.blocks.{u}.{norm1,norm2,norm3}.{weight,bias}`,
 * `stages.{s}.blocks.{u}.{conv1,conv2,conv3}.weight`, `stages.{s}.blocks.0.downsample.conv.weight`,
 * `norm.{weight,bias}`, `head.fc.{weight,bias}` (weight [C, 2048wf, 1, 1]); s and u are 0-based.
 * Sources: official BiT .npz (`resnet/...`, HWIO kernels, 1-based block/unit), timm (identity) and MindCV
 * (`layer{b}.{u}...`, gamma/beta). Every mapper returns the mapped weights plus `unexpected` (names it does
 * not know) and `skipped` (optimizer / training state it recognised and dropped). Invariant: mapped arrays
 * keep their dtype; only layout (transpose) and names change.
 */
import { CheckpointError } from '../../errors.js';
import { allocArray, type NamedArray, type WeightMap } from './types.js';

/** Result of a name mapping. */
export interface MappedWeights {
  weights: WeightMap;
  /** Source names that matched no known parameter. */
  unexpected: string[];
  /** Source names recognised as optimizer / training state and deliberately not loaded. */
  skipped: string[];
}

/** Permute a 4-D array: out axis k is input axis perm[k]. */
export function transpose4d(
  arr: NamedArray,
  perm: readonly [number, number, number, number],
  name: string,
  file = 'weights',
): NamedArray {
  if (arr.shape.length !== 4) {
    throw new CheckpointError(
      `${file}: entry '${arr.name}': expected a 4-D kernel, got shape [${arr.shape.join(', ')}]`,
    );
  }
  const s = arr.shape;
  const outShape = perm.map((p) => s[p]!);
  const inStride = [s[1]! * s[2]! * s[3]!, s[2]! * s[3]!, s[3]!, 1];
  const st = perm.map((p) => inStride[p]!);
  const src = arr.data as Float32Array;
  const out = allocArray(arr.dtype, src.length) as Float32Array;
  let o = 0;
  for (let a = 0; a < outShape[0]!; a++)
    for (let b = 0; b < outShape[1]!; b++)
      for (let c = 0; c < outShape[2]!; c++) {
        const base = a * st[0]! + b * st[1]! + c * st[2]!;
        for (let d = 0; d < outShape[3]!; d++) out[o++] = src[base + d * st[3]!]!;
      }
  return { name, shape: outShape, dtype: arr.dtype, data: out };
}

const HWIO_TO_OIHW = [3, 2, 0, 1] as const;
const OIHW_TO_HWIO = [2, 3, 1, 0] as const;

function rename(arr: NamedArray, name: string): NamedArray {
  return { ...arr, name, shape: [...arr.shape] };
}

function put(out: WeightMap, arr: NamedArray, file: string): void {
  if (out.has(arr.name)) throw new CheckpointError(`${file}: entry '${arr.name}': mapped twice`);
  out.set(arr.name, arr);
}

const CONV_OF: Record<string, string> = { a: 'conv1', b: 'conv2', c: 'conv3' };
const NORM_OF: Record<string, string> = { a: 'norm1', b: 'norm2', c: 'norm3' };
const GB: Record<string, string> = { gamma: 'weight', beta: 'bias' };

/** Official BiT .npz names (HWIO kernels) -> our names (OIHW). */
export function fromBitNpz(map: WeightMap, file = 'npz'): MappedWeights {
  const weights: WeightMap = new Map();
  const unexpected: string[] = [];
  for (const [key, arr] of map) {
    let m: RegExpExecArray | null;
    if (key === 'resnet/root_block/standardized_conv2d/kernel') {
      put(weights, transpose4d(arr, HWIO_TO_OIHW, 'stem.conv.weight', file), file);
    } else if ((m = /^resnet\/block(\d+)\/unit(\d+)\/([abc])\/group_norm\/(gamma|beta)$/.exec(key))) {
      const n = `stages.${+m[1]! - 1}.blocks.${+m[2]! - 1}.${NORM_OF[m[3]!]}.${GB[m[4]!]}`;
      put(weights, rename(arr, n), file);
    } else if ((m = /^resnet\/block(\d+)\/unit(\d+)\/([abc])\/standardized_conv2d\/kernel$/.exec(key))) {
      const n = `stages.${+m[1]! - 1}.blocks.${+m[2]! - 1}.${CONV_OF[m[3]!]}.weight`;
      put(weights, transpose4d(arr, HWIO_TO_OIHW, n, file), file);
    } else if ((m = /^resnet\/block(\d+)\/unit(\d+)\/a\/proj\/standardized_conv2d\/kernel$/.exec(key))) {
      const n = `stages.${+m[1]! - 1}.blocks.${+m[2]! - 1}.downsample.conv.weight`;
      put(weights, transpose4d(arr, HWIO_TO_OIHW, n, file), file);
    } else if ((m = /^resnet\/group_norm\/(gamma|beta)$/.exec(key))) {
      put(weights, rename(arr, `norm.${GB[m[1]!]}`), file);
    } else if (key === 'resnet/head/conv2d/kernel') {
      put(weights, transpose4d(arr, HWIO_TO_OIHW, 'head.fc.weight', file), file);
    } else if (key === 'resnet/head/conv2d/bias') {
      put(weights, rename(arr, 'head.fc.bias'), file);
    } else unexpected.push(key);
  }
  return { weights, unexpected, skipped: [] };
}

/** Our names (OIHW) -> official BiT .npz names (HWIO), for `convert`. */
export function toBitNpz(map: WeightMap): MappedWeights {
  const weights: WeightMap = new Map();
  const unexpected: string[] = [];
  const unit = (s: string, u: string) => `resnet/block${+s + 1}/unit${String(+u + 1).padStart(2, '0')}`;
  const letter: Record<string, string> = { '1': 'a', '2': 'b', '3': 'c' };
  const tfGb: Record<string, string> = { weight: 'gamma', bias: 'beta' };
  for (const [key, arr] of map) {
    let m: RegExpExecArray | null;
    if (key === 'stem.conv.weight') {
      put(weights, transpose4d(arr, OIHW_TO_HWIO, 'resnet/root_block/standardized_conv2d/kernel'), 'toBitNpz');
    } else if ((m = /^stages\.(\d+)\.blocks\.(\d+)\.norm([123])\.(weight|bias)$/.exec(key))) {
      put(weights, rename(arr, `${unit(m[1]!, m[2]!)}/${letter[m[3]!]}/group_norm/${tfGb[m[4]!]}`), 'toBitNpz');
    } else if ((m = /^stages\.(\d+)\.blocks\.(\d+)\.conv([123])\.weight$/.exec(key))) {
      const n = `${unit(m[1]!, m[2]!)}/${letter[m[3]!]}/standardized_conv2d/kernel`;
      put(weights, transpose4d(arr, OIHW_TO_HWIO, n), 'toBitNpz');
    } else if ((m = /^stages\.(\d+)\.blocks\.(\d+)\.downsample\.conv\.weight$/.exec(key))) {
      const n = `${unit(m[1]!, m[2]!)}/a/proj/standardized_conv2d/kernel`;
      put(weights, transpose4d(arr, OIHW_TO_HWIO, n), 'toBitNpz');
    } else if ((m = /^norm\.(weight|bias)$/.exec(key))) {
      put(weights, rename(arr, `resnet/group_norm/${tfGb[m[1]!]}`), 'toBitNpz');
    } else if (key === 'head.fc.weight') {
      put(weights, transpose4d(headTo4d(arr, 'toBitNpz'), OIHW_TO_HWIO, 'resnet/head/conv2d/kernel'), 'toBitNpz');
    } else if (key === 'head.fc.bias') {
      put(weights, rename(arr, 'resnet/head/conv2d/bias'), 'toBitNpz');
    } else unexpected.push(key);
  }
  return { weights, unexpected, skipped: [] };
}

/** Regular expression for every name in our state dict (BatchNorm buffers of the norm 'bn' ablation included). */
export const OUR_NAME =
  /^(stem\.conv\.weight|stages\.\d+\.blocks\.\d+\.(norm[123]\.(weight|bias|running_mean|running_var|num_batches_tracked)|conv[123]\.weight|downsample\.conv\.weight)|norm\.(weight|bias|running_mean|running_var|num_batches_tracked)|head\.fc\.(weight|bias))$/;

/** Expected rank of one of our parameters (4 for convs, 1 for norms and the head bias, 0 for BN's batch count). */
export function expectedRank(name: string): number {
  if (name.endsWith('.num_batches_tracked')) return 0;
  return name.endsWith('.bias') || /norm\d?\.(weight|running_mean|running_var)$/.test(name) ? 1 : 4;
}

/**
 * timm names are ours: keep known names (checking ranks); `optimizer.*` (our training state) is skipped, the
 * rest is unexpected.
 * @throws CheckpointError when a known name has the wrong rank.
 */
export function fromTimm(map: WeightMap, file = 'safetensors'): MappedWeights {
  const weights: WeightMap = new Map();
  const unexpected: string[] = [];
  const skipped: string[] = [];
  for (const [key, arr] of map) {
    if (!OUR_NAME.test(key)) {
      // bit-ts training checkpoints keep SGD momentum under optimizer.momentum/<param>
      (key.startsWith('optimizer.') ? skipped : unexpected).push(key);
      continue;
    }
    const a = key === 'head.fc.weight' ? headTo4d(arr, file) : arr;
    if (a.shape.length !== expectedRank(key)) {
      throw new CheckpointError(`${file}: entry '${key}': rank ${a.shape.length}, expected ${expectedRank(key)}`);
    }
    put(weights, rename(a, key), file);
  }
  return { weights, unexpected, skipped };
}

/** A classifier weight stored as a dense [C, F] matrix becomes [C, F, 1, 1]. */
function headTo4d(arr: NamedArray, file: string): NamedArray {
  if (arr.shape.length === 4) return arr;
  if (arr.shape.length === 2) return { ...arr, shape: [arr.shape[0]!, arr.shape[1]!, 1, 1] };
  throw new CheckpointError(`${file}: entry '${arr.name}': classifier weight must be 2-D or 4-D`);
}

/** MindSpore optimizer / training-state names: loaded models skip and report them. */
export const OPTIMIZER_STATE =
  /^(learning_rate|momentum|global_step|current_iterator_step|last_overflow_iterator_step|epoch_num|step_num|loss_scale|scale_sense|beta1_power|beta2_power|weight_decay|(accum|stat|ema|moments|adam_m|adam_v|accu_grads|mean_grad|mean_square|grad_accum)\..*)$/;

/** MindCV BiT_ResNet .ckpt names -> ours; optimizer state goes to `skipped`. */
export function fromMindCV(map: WeightMap, file = 'ckpt'): MappedWeights {
  const weights: WeightMap = new Map();
  const unexpected: string[] = [];
  const skipped: string[] = [];
  for (const [key, arr] of map) {
    let m: RegExpExecArray | null;
    if (key === 'conv1.weight') put(weights, rename(arr, 'stem.conv.weight'), file);
    else if ((m = /^layer(\d+)\.(\d+)\.gn([123])\.(gamma|beta)$/.exec(key))) {
      put(weights, rename(arr, `stages.${+m[1]! - 1}.blocks.${m[2]}.norm${m[3]}.${GB[m[4]!]}`), file);
    } else if ((m = /^layer(\d+)\.(\d+)\.conv([123])\.weight$/.exec(key))) {
      put(weights, rename(arr, `stages.${+m[1]! - 1}.blocks.${m[2]}.conv${m[3]}.weight`), file);
    } else if ((m = /^layer(\d+)\.(\d+)\.down_sample\.0\.weight$/.exec(key))) {
      put(weights, rename(arr, `stages.${+m[1]! - 1}.blocks.${m[2]}.downsample.conv.weight`), file);
    } else if ((m = /^gn\.(gamma|beta)$/.exec(key))) put(weights, rename(arr, `norm.${GB[m[1]!]}`), file);
    else if (key === 'classifier.weight') put(weights, rename(headTo4d(arr, file), 'head.fc.weight'), file);
    else if (key === 'classifier.bias') put(weights, rename(arr, 'head.fc.bias'), file);
    else if (OPTIMIZER_STATE.test(key)) skipped.push(key);
    else unexpected.push(key);
  }
  return { weights, unexpected, skipped };
}

/** Our names -> MindCV BiT_ResNet names, for `convert`. */
export function toMindCV(map: WeightMap): MappedWeights {
  const weights: WeightMap = new Map();
  const unexpected: string[] = [];
  const msGb: Record<string, string> = { weight: 'gamma', bias: 'beta' };
  for (const [key, arr] of map) {
    let m: RegExpExecArray | null;
    if (key === 'stem.conv.weight') put(weights, rename(arr, 'conv1.weight'), 'toMindCV');
    else if ((m = /^stages\.(\d+)\.blocks\.(\d+)\.norm([123])\.(weight|bias)$/.exec(key))) {
      put(weights, rename(arr, `layer${+m[1]! + 1}.${m[2]}.gn${m[3]}.${msGb[m[4]!]}`), 'toMindCV');
    } else if ((m = /^stages\.(\d+)\.blocks\.(\d+)\.conv([123])\.weight$/.exec(key))) {
      put(weights, rename(arr, `layer${+m[1]! + 1}.${m[2]}.conv${m[3]}.weight`), 'toMindCV');
    } else if ((m = /^stages\.(\d+)\.blocks\.(\d+)\.downsample\.conv\.weight$/.exec(key))) {
      put(weights, rename(arr, `layer${+m[1]! + 1}.${m[2]}.down_sample.0.weight`), 'toMindCV');
    } else if ((m = /^norm\.(weight|bias)$/.exec(key))) put(weights, rename(arr, `gn.${msGb[m[1]!]}`), 'toMindCV');
    else if (key === 'head.fc.weight') put(weights, rename(headTo4d(arr, 'toMindCV'), 'classifier.weight'), 'toMindCV');
    else if (key === 'head.fc.bias') put(weights, rename(arr, 'classifier.bias'), 'toMindCV');
    else unexpected.push(key);
  }
  return { weights, unexpected, skipped: [] };
}
