/**
 * Named models: the six BiT ResNetV2s of the paper and our small CPU variants, with the aliases other code
 * bases use (BiT-S-/BiT-M- prefixes, timm `resnetv2_50x1_bit[m][_in21k][.tag]`, MindCV `BiT_resnet50`).
 * `countParameters` and `gmacs`/`gflops` work from the config alone and never allocate weights.
 *
 * Small variants (ours; every structural rule of the spec kept, GN groups lowered so that each group holds
 * 2 channels in the narrowest layer, the same ratio as R50x1's first stage, 64 channels / 32 groups):
 *   bit-tiny   = R14 [1,1,1,1], base width 16, 8 GN groups   (0.50M params without a classifier)
 *   bit-small  = R26 [2,2,2,2], base width 32, 16 GN groups  (3.5M)
 *   bit-medium = R50 [3,4,6,3], base width 32, 16 GN groups  (5.9M)
 *   bit-tiny-w24 = R14 [1,1,1,1], base width 24, 12 GN groups (1.1M): the Tiny ImageNet upstream of the
 *                reproductions (widest R14 whose 5 published checkpoints fit 30 MB; ~550 img/s at 32 px, wasm)
 */

import { ConfigError } from '../errors.js';
import {
  type ResNetV2,
  type ResNetV2Config,
  resnetV2,
  resnetV2Macs,
  resnetV2NumParameters,
  resnetV2ParamShapes,
} from './resnet-v2.js';

/** Architecture part of a config (what a name fixes). */
export type ModelArch = Pick<ResNetV2Config, 'blockUnits' | 'widthFactor' | 'baseWidth' | 'gnGroups'>;

export interface ModelEntry {
  /** Canonical name. */
  name: string;
  aliases: readonly string[];
  arch: ModelArch;
  description: string;
}

const R50 = [3, 4, 6, 3];
const R101 = [3, 4, 23, 3];
const R152 = [3, 8, 36, 3];

function bit(depth: 50 | 101 | 152, wf: number, units: readonly number[]): ModelEntry {
  const mindcv = depth !== 152 && (wf === 1 || (depth === 50 && wf === 3));
  const tag = `R${depth}x${wf}`;
  const aliases = [`BiT-S-${tag}`, `BiT-M-${tag}`, `resnetv2_${depth}x${wf}_bit`, `resnetv2_${depth}x${wf}_bitm`];
  aliases.push(`resnetv2_${depth}x${wf}_bitm_in21k`, `resnetv2_${depth}x${wf}_bit_in21k`);
  if (mindcv) aliases.push(wf === 1 ? `BiT_resnet${depth}` : `BiT_resnet${depth}x${wf}`);
  return {
    name: `BiT-${tag}`,
    aliases,
    arch: { blockUnits: units, widthFactor: wf },
    description: `BiT ResNetV2-${depth} x${wf} (GN+WS, pre-activation)`,
  };
}

/** Every registered model. */
export const MODELS: readonly ModelEntry[] = [
  bit(50, 1, R50),
  bit(50, 3, R50),
  bit(101, 1, R101),
  bit(101, 3, R101),
  bit(152, 2, R152),
  bit(152, 4, R152),
  {
    name: 'bit-tiny',
    aliases: ['BiT-R14-w16'],
    arch: { blockUnits: [1, 1, 1, 1], widthFactor: 1, baseWidth: 16, gnGroups: 8 },
    description: 'CPU variant: R14, base width 16, 8 GN groups',
  },
  {
    name: 'bit-small',
    aliases: ['BiT-R26-w32'],
    arch: { blockUnits: [2, 2, 2, 2], widthFactor: 1, baseWidth: 32, gnGroups: 16 },
    description: 'CPU variant: R26, base width 32, 16 GN groups',
  },
  {
    name: 'bit-medium',
    aliases: ['BiT-R50-w32'],
    arch: { blockUnits: [3, 4, 6, 3], widthFactor: 1, baseWidth: 32, gnGroups: 16 },
    description: 'CPU variant: R50 layout at half width, 16 GN groups',
  },
  {
    name: 'bit-tiny-w24',
    aliases: ['BiT-R14-w24'],
    arch: { blockUnits: [1, 1, 1, 1], widthFactor: 1, baseWidth: 24, gnGroups: 12 },
    description: "CPU variant: R14, base width 24, 12 GN groups (the reproductions' Tiny ImageNet upstream)",
  },
];

const norm = (s: string) => s.toLowerCase().replace(/_/g, '-');
const index = new Map<string, ModelEntry>();
for (const m of MODELS) for (const n of [m.name, ...m.aliases]) index.set(norm(n), m);

/**
 * The entry for a name or alias (case-insensitive; a timm pretrained tag after '.' is ignored).
 * @throws ConfigError listing the known names.
 */
export function getModelEntry(name: string): ModelEntry {
  const key = norm(name.split('.')[0]);
  const e = index.get(key);
  if (!e) throw new ConfigError(`unknown model '${name}'; known: ${MODELS.map((m) => m.name).join(', ')}`);
  return e;
}

/** Canonical names of every registered model. */
export function listModels(): string[] {
  return MODELS.map((m) => m.name);
}

/** Options of `createModel`: everything but the architecture. */
export type CreateModelOptions = Partial<Omit<ResNetV2Config, 'blockUnits' | 'widthFactor'>> & { numClasses?: number };

/** The full config of a named model (numClasses defaults to 1000). */
export function modelConfig(name: string, opts: CreateModelOptions = {}): ResNetV2Config {
  const e = getModelEntry(name);
  return { ...e.arch, ...opts, numClasses: opts.numClasses ?? 1000 };
}

/** Build a named model. */
export function createModel(name: string, opts: CreateModelOptions = {}): ResNetV2 {
  return resnetV2(modelConfig(name, opts));
}

/** Parameter count of a named model with `numClasses` classes (0: no classifier). Allocates nothing. */
export function countParameters(name: string, numClasses = 1000): number {
  return resnetV2NumParameters(modelConfig(name, { numClasses }));
}

/** Parameter names and shapes of a named model (no allocation). */
export function parameterShapes(name: string, numClasses = 1000): [string, number[]][] {
  return resnetV2ParamShapes(modelConfig(name, { numClasses }));
}

/**
 * Giga multiply-accumulates per image at a square `res` input (default 224, 1000 classes), in the fvcore
 * convention of timm's published numbers (convs + weight standardization + norms + pool; see
 * resnetV2MacsBreakdown for the parts and the plain conv count).
 */
export function gmacs(name: string, res = 224, numClasses = 1000): number {
  return resnetV2Macs(modelConfig(name, { numClasses }), res) / 1e9;
}

/** GFLOPs per image (2 x GMACs). */
export function gflops(name: string, res = 224, numClasses = 1000): number {
  return 2 * gmacs(name, res, numClasses);
}
