/**
 * The ResNetV2-BiT block plan as data, and what is computed from it without allocating: the configuration and
 * its widths, `resnetV2Plan` (every conv and norm of every unit, in parameter order, with the projection rule),
 * parameter names and shapes (timm's state-dict names), spatial sizes, and fvcore-convention MACs. The modules
 * in resnet-v2.ts are built from the same plan, so shapes, counts and MACs cannot drift from the network.
 */

import { ConfigError } from '../errors.js';
import type { Backend } from '../tensor/backend.js';
import type { Rng } from '../tensor/random.js';

/** Full configuration of a ResNetV2-BiT. */
export interface ResNetV2Config {
  /** Units per stage, e.g. [3, 4, 6, 3] for R50. */
  blockUnits: readonly number[];
  /** Width multiplier wf (1, 2, 3, 4). */
  widthFactor: number;
  /** Classes of the head conv; 0 = no classifier (output: pooled features [N, 2048*wf]). */
  numClasses: number;
  /** Width of stage 0's bottleneck at wf 1 (64 in BiT). */
  baseWidth?: number;
  /** Stem output channels (default baseWidth * wf). */
  stemWidth?: number;
  /** GroupNorm groups (32 in BiT). */
  gnGroups?: number;
  /** Normalization: 'gn' (BiT) or 'bn' (ablation). */
  norm?: 'gn' | 'bn';
  /** BatchNorm only: images per statistics group in training (ghost BN, simulated devices; 0: whole batch). */
  bnGhostBatch?: number;
  /** Weight-standardized body and stem convs (true in BiT). */
  ws?: boolean;
  /** StdConv eps: 1e-10 official/MindCV (default), 1e-8 timm. */
  wsEps?: number;
  /** Zero the head weight and bias (official BiT fine-tuning). Default false: N(0, 0.01) weight, zero bias. */
  zeroHead?: boolean;
  /** Seed of the init Rng (default 0); ignored when `rng` is given. */
  seed?: number;
  rng?: Rng;
  backend?: Backend;
}

/** Resolved widths of a config. */
export interface ResNetV2Widths {
  stem: number;
  /** Per stage: [cin of unit 0, cmid, cout]. */
  stages: { cin: number; cmid: number; cout: number; stride: number; units: number }[];
  features: number;
  gnGroups: number;
}

/** Channel plan of a config (validates it). */
export function resnetV2Widths(cfg: ResNetV2Config): ResNetV2Widths {
  const wf = cfg.widthFactor;
  const base = cfg.baseWidth ?? 64;
  const groups = cfg.gnGroups ?? 32;
  if (cfg.blockUnits.length === 0 || cfg.blockUnits.some((u) => !Number.isInteger(u) || u < 1)) {
    throw new ConfigError(`resnetV2: blockUnits must be positive integers, got [${cfg.blockUnits}]`);
  }
  if (!Number.isInteger(wf) || wf < 1 || !Number.isInteger(base) || base < 1) {
    throw new ConfigError(`resnetV2: widthFactor ${wf} and baseWidth ${base} must be positive integers`);
  }
  if (!Number.isInteger(cfg.numClasses) || cfg.numClasses < 0) {
    throw new ConfigError(`resnetV2: numClasses must be an integer >= 0, got ${cfg.numClasses}`);
  }
  const stem = cfg.stemWidth ?? base * wf;
  let cin = stem;
  const stages = cfg.blockUnits.map((units, s) => {
    const cmid = base * 2 ** s * wf;
    const st = { cin, cmid, cout: 4 * cmid, stride: s === 0 ? 1 : 2, units };
    cin = st.cout;
    return st;
  });
  if ((cfg.norm ?? 'gn') === 'gn') {
    for (const st of stages) {
      for (const c of [st.cin, st.cmid, st.cout]) {
        if (c % groups !== 0) {
          throw new ConfigError(`resnetV2: ${c} channels are not divisible by gnGroups ${groups}; lower gnGroups`);
        }
      }
    }
  }
  return { stem, stages, features: cin, gnGroups: groups };
}

/** A convolution of the plan. `at`: whether it reads the unit's input resolution or its output resolution. */
export interface PlanConv {
  readonly kind: 'conv';
  readonly name: string;
  readonly cin: number;
  readonly cout: number;
  readonly k: number;
  readonly stride: number;
  readonly pad: number;
  readonly at: 'in' | 'out';
}

/** A normalization layer of the plan (GroupNorm or BatchNorm over `c` channels). */
export interface PlanNorm {
  readonly kind: 'norm';
  readonly name: string;
  readonly c: number;
  readonly at: 'in' | 'out';
}

/** One pre-activation bottleneck unit: its layers in registration (= parameter) order. */
export interface UnitPlan {
  /** `stages.{s}.blocks.{u}` */
  readonly prefix: string;
  readonly stage: number;
  readonly stride: number;
  readonly layers: readonly (PlanConv | PlanNorm)[];
  /** The layer that sets the unit's output resolution (conv2, the strided 3x3). */
  readonly resample: PlanConv;
  /** The same layers by role (the block's typed handles; `layers` lists exactly these, in this order). */
  readonly norm1: PlanNorm;
  readonly conv1: PlanConv;
  readonly norm2: PlanNorm;
  readonly conv2: PlanConv;
  readonly norm3: PlanNorm;
  readonly conv3: PlanConv;
  /** The projection shortcut `downsample.conv`, or null for an identity shortcut. */
  readonly downsample: PlanConv | null;
}

/** The whole network as data: what the constructor builds, and what shapes and MACs are computed from. */
export interface ResNetV2Plan {
  readonly widths: ResNetV2Widths;
  readonly stem: PlanConv;
  /** After the stem conv: zero pad `pad`, then max pool k x k / stride (no norm, no ReLU in the stem). */
  readonly stemPool: { readonly pad: number; readonly k: number; readonly stride: number };
  readonly units: readonly UnitPlan[];
  readonly norm: PlanNorm;
  readonly numClasses: number;
}

const conv = (name: string, cin: number, cout: number, k: number, stride: number, at: 'in' | 'out'): PlanConv => ({
  kind: 'conv',
  name,
  cin,
  cout,
  k,
  stride,
  pad: (k - 1) / 2,
  at,
});
const norm = (name: string, c: number, at: 'in' | 'out'): PlanNorm => ({ kind: 'norm', name, c, at });

/**
 * The block plan, stated once. Unit u of stage s: norm1 (cin) -> conv1 1x1 -> norm2 -> conv2 3x3 (the unit's
 * stride, pad 1) -> norm3 -> conv3 1x1 to cout; a projection shortcut `downsample.conv` (1x1, the unit's stride)
 * where the unit changes resolution or width (unit 0 of each stage in BiT).
 */
export function resnetV2Plan(cfg: ResNetV2Config): ResNetV2Plan {
  const widths = resnetV2Widths(cfg);
  const units: UnitPlan[] = [];
  widths.stages.forEach((st, s) => {
    for (let u = 0; u < st.units; u++) {
      const cin = u === 0 ? st.cin : st.cout;
      const stride = u === 0 ? st.stride : 1;
      const { cmid, cout } = st;
      const roles = {
        norm1: norm('norm1', cin, 'in'),
        conv1: conv('conv1', cin, cmid, 1, 1, 'in'),
        norm2: norm('norm2', cmid, 'in'),
        conv2: conv('conv2', cmid, cmid, 3, stride, 'in'),
        norm3: norm('norm3', cmid, 'out'),
        conv3: conv('conv3', cmid, cout, 1, 1, 'out'),
        downsample: stride !== 1 || cin !== cout ? conv('downsample.conv', cin, cout, 1, stride, 'in') : null,
      };
      const { norm1, conv1, norm2, conv2, norm3, conv3, downsample } = roles;
      const layers = [norm1, conv1, norm2, conv2, norm3, conv3, ...(downsample ? [downsample] : [])];
      units.push({ prefix: `stages.${s}.blocks.${u}`, stage: s, stride, layers, resample: conv2, ...roles });
    }
  });
  return {
    widths,
    stem: { ...conv('stem.conv', 3, widths.stem, 7, 2, 'in'), pad: 3 },
    stemPool: { pad: 1, k: 3, stride: 2 },
    units,
    norm: norm('norm', widths.features, 'in'),
    numClasses: cfg.numClasses,
  };
}

/**
 * Parameter names and shapes of a config, in `namedParameters()` order, computed without allocating.
 * (BN buffers are not parameters and are not listed.)
 */
export function resnetV2ParamShapes(cfg: ResNetV2Config): [string, number[]][] {
  const plan = resnetV2Plan(cfg);
  const out: [string, number[]][] = [];
  const add = (prefix: string, l: PlanConv | PlanNorm) => {
    const n = `${prefix}${l.name}`;
    if (l.kind === 'conv') out.push([`${n}.weight`, [l.cout, l.cin, l.k, l.k]]);
    else out.push([`${n}.weight`, [l.c]], [`${n}.bias`, [l.c]]);
  };
  add('', plan.stem);
  for (const u of plan.units) for (const l of u.layers) add(`${u.prefix}.`, l);
  add('', plan.norm);
  if (cfg.numClasses > 0) {
    const f = plan.widths.features;
    out.push(['head.fc.weight', [cfg.numClasses, f, 1, 1]], ['head.fc.bias', [cfg.numClasses]]);
  }
  return out;
}

/** Total parameter count of a config (analytic). */
export function resnetV2NumParameters(cfg: ResNetV2Config): number {
  return resnetV2ParamShapes(cfg).reduce((s, [, sh]) => s + sh.reduce((p, d) => p * d, 1), 0);
}

/** Output side of a conv or pool: floor((h + 2p - k) / s) + 1. */
function outSide(h: number, k: number, s: number, p: number): number {
  return Math.floor((h + 2 * p - k) / s) + 1;
}

/** Output side of a unit whose input side is h. */
function unitOutSide(u: UnitPlan, h: number): number {
  return outSide(h, u.resample.k, u.resample.stride, u.resample.pad);
}

/** Spatial side after the stem and after each stage, for a square input of side `res`. */
export function resnetV2SpatialSizes(cfg: ResNetV2Config, res: number): { stem: number; stages: number[] } {
  const plan = resnetV2Plan(cfg);
  const { stem: c, stemPool: p } = plan;
  const stem = outSide(outSide(res, c.k, c.stride, c.pad) + 2 * p.pad, p.k, p.stride, 0);
  const stages: number[] = [];
  let h = stem;
  for (const u of plan.units) {
    h = unitOutSide(u, h);
    stages[u.stage] = h;
  }
  return { stem, stages };
}

/** Compute of one forward, by kind (see `resnetV2Macs`). */
export interface MacsBreakdown {
  /** Convolution multiply-accumulates (stem, body, projections, head conv). */
  conv: number;
  /** Weight standardization: 4 per standardized weight (fvcore's count for a non-affine batch_norm). */
  ws: number;
  /** Normalization: 5 per normalized element (fvcore's count for an affine group/batch norm). */
  norm: number;
  /** Global average pool: 1 per input element. */
  pool: number;
  /** conv + ws + norm + pool: the convention of timm's published GMACs (fvcore). */
  total: number;
}

/**
 * Compute of one forward of a square `res` input, analytically. `total` follows fvcore's counting, the one
 * behind timm's published BiT GMACs (R50x1 4.23 at 224): conv MACs + 4 per standardized weight + 5 per
 * normalized element + 1 per pooled element; ReLU, add and max pool are free. `conv` alone is the plain
 * convolution count (R50x1: 4.09 G at 224).
 */
export function resnetV2MacsBreakdown(cfg: ResNetV2Config, res: number): MacsBreakdown {
  const plan = resnetV2Plan(cfg);
  const { stem } = plan;
  const stemSide = outSide(res, stem.k, stem.stride, stem.pad);
  let conv = stem.cin * stem.cout * stem.k * stem.k * stemSide * stemSide;
  let norm = 0;
  let ws = (cfg.ws ?? true) ? stem.cout * stem.cin * stem.k * stem.k : 0;
  let h = resnetV2SpatialSizes(cfg, res).stem;
  for (const u of plan.units) {
    const ho = unitOutSide(u, h);
    for (const l of u.layers) {
      const side = l.at === 'in' ? h : ho;
      if (l.kind === 'norm') {
        norm += l.c * side * side;
        continue;
      }
      const o = outSide(side, l.k, l.stride, l.pad);
      conv += l.cin * l.cout * l.k * l.k * o * o;
      if (cfg.ws ?? true) ws += l.cout * l.cin * l.k * l.k;
    }
    h = ho;
  }
  const f = plan.widths.features;
  norm += f * h * h;
  conv += f * cfg.numClasses;
  const out = { conv, ws: 4 * ws, norm: 5 * norm, pool: f * h * h };
  return { ...out, total: out.conv + out.ws + out.norm + out.pool };
}

/** Total compute of one forward at a square `res` input, fvcore convention (see resnetV2MacsBreakdown). */
export function resnetV2Macs(cfg: ResNetV2Config, res: number): number {
  return resnetV2MacsBreakdown(cfg, res).total;
}
