/**
 * ResNetV2-BiT: the pre-activation ResNet of Big Transfer, exactly as in the spec (shared/spec/bit-reference.md
 * section 1) and with timm's state-dict names (the contract the weight readers map to):
 *   stem.conv (StdConv 7x7/2 pad 3, no bias) -> zero pad 1 -> MaxPool 3x3/2 (no norm, no ReLU in the stem)
 *   stages.{s}.blocks.{u}: p = relu(norm1(x)); shortcut = downsample.conv(p) on unit 0 (1x1, stride s), else x;
 *     h = conv1(p) (1x1); h = conv2(relu(norm2(h))) (3x3, stride on unit 0, pad 1); h = conv3(relu(norm3(h)));
 *     out = h + shortcut (no activation after the add). Body convs have no bias.
 *   norm (GN over 2048*wf) -> ReLU -> global average pool -> head.fc (plain 1x1 conv WITH bias) -> flatten [N, C].
 * Widths: stage s has cmid = baseWidth * 2^s * wf, cout = 4 * cmid; stem width baseWidth * wf. Strides 1,2,2,2.
 *
 * Options beyond the spec (defaults are the spec's): baseWidth and gnGroups for small CPU variants (GN needs
 * channels divisible by the group count), norm 'bn' and ws false for the paper's GN/BN x WS ablation,
 * numClasses 0 for a feature extractor ([N, 2048*wf] out). `resnetV2ParamShapes` and `resnetV2Macs` compute
 * shapes and compute cost analytically, allocating nothing (R152x4 holds 928M weights).
 */

import { ConfigError } from '../errors.js';
import { ModuleList } from '../nn/containers.js';
import { Conv2d, StdConv2d } from '../nn/conv.js';
import { headWeight } from '../nn/init.js';
import { AdaptiveAvgPool2d, ConstantPad2d, Flatten, Identity, MaxPool2d } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { BatchNorm2d, GroupNorm } from '../nn/norm.js';
import type { Backend } from '../tensor/backend.js';
import { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';

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

function makeNorm(cfg: ResNetV2Config, c: number, groups: number): Module {
  return (cfg.norm ?? 'gn') === 'bn'
    ? new BatchNorm2d(c, { backend: cfg.backend })
    : new GroupNorm(groups, c, { backend: cfg.backend });
}

type ConvMaker = (cin: number, cout: number, k: number, stride?: number, padding?: number) => Conv2d;

function convMaker(cfg: ResNetV2Config, rng: Rng): ConvMaker {
  const ws = cfg.ws ?? true;
  return (cin, cout, k, stride = 1, padding = 0) => {
    const o = { stride, padding, rng, backend: cfg.backend };
    return ws ? new StdConv2d(cin, cout, k, { ...o, eps: cfg.wsEps ?? 1e-10 }) : new Conv2d(cin, cout, k, o);
  };
}

/** Stem: conv 7x7/2 pad 3 -> zero pad 1 -> max pool 3x3/2. [N,3,H,W] -> [N,stem,~H/4,~W/4]. */
export class Stem extends Module {
  readonly conv: Conv2d;
  private readonly padLayer = new ConstantPad2d(1, 0);
  private readonly pool = new MaxPool2d(3, 2, 0);
  constructor(conv: Conv2d) {
    super();
    this.conv = this.registerModule('conv', conv);
  }
  forward(x: Tensor): Tensor {
    return this.pool.forward(this.padLayer.forward(this.conv.forward(x)));
  }
}

/** Projection shortcut: a 1x1 (std)conv with stride, reading the pre-activated input. */
export class DownsampleConv extends Module {
  readonly conv: Conv2d;
  constructor(conv: Conv2d) {
    super();
    this.conv = this.registerModule('conv', conv);
  }
  forward(x: Tensor): Tensor {
    return this.conv.forward(x);
  }
}

/** Pre-activation bottleneck unit. [N,cin,H,W] -> [N,cout,H/stride,W/stride]. */
export class PreActBottleneck extends Module {
  readonly norm1: Module;
  readonly conv1: Conv2d;
  readonly norm2: Module;
  readonly conv2: Conv2d;
  readonly norm3: Module;
  readonly conv3: Conv2d;
  readonly downsample: DownsampleConv | null;

  constructor(
    cfg: ResNetV2Config,
    conv: ConvMaker,
    cin: number,
    cmid: number,
    cout: number,
    stride: number,
    groups: number,
  ) {
    super();
    this.norm1 = this.registerModule('norm1', makeNorm(cfg, cin, groups));
    this.conv1 = this.registerModule('conv1', conv(cin, cmid, 1));
    this.norm2 = this.registerModule('norm2', makeNorm(cfg, cmid, groups));
    this.conv2 = this.registerModule('conv2', conv(cmid, cmid, 3, stride, 1));
    this.norm3 = this.registerModule('norm3', makeNorm(cfg, cmid, groups));
    this.conv3 = this.registerModule('conv3', conv(cmid, cout, 1));
    this.downsample =
      stride !== 1 || cin !== cout
        ? this.registerModule('downsample', new DownsampleConv(conv(cin, cout, 1, stride)))
        : null;
  }

  forward(x: Tensor): Tensor {
    const p = this.norm1.forward(x).relu();
    const shortcut = this.downsample ? this.downsample.forward(p) : x;
    let h = this.conv1.forward(p);
    h = this.conv2.forward(this.norm2.forward(h).relu());
    h = this.conv3.forward(this.norm3.forward(h).relu());
    return h.add(shortcut);
  }
}

/** One stage: `blocks` applied in order. */
export class ResNetStage extends Module {
  readonly blocks: ModuleList<PreActBottleneck>;
  constructor(blocks: PreActBottleneck[]) {
    super();
    this.blocks = this.registerModule('blocks', new ModuleList(blocks));
  }
  forward(x: Tensor): Tensor {
    return this.blocks.forward(x);
  }
}

/** Head: global average pool -> 1x1 conv with bias (absent for 0 classes) -> flatten. [N,F,H,W] -> [N,C]. */
export class ClassifierHead extends Module {
  readonly fc: Conv2d | null;
  private readonly pool = new AdaptiveAvgPool2d(1);
  private readonly flat = new Flatten(1);
  constructor(features: number, numClasses: number, opts: { zero: boolean; rng: Rng; backend?: Backend }) {
    super();
    if (numClasses === 0) {
      this.fc = null;
      this.registerModule('fc', new Identity());
      return;
    }
    const fc = new Conv2d(features, numClasses, 1, { bias: true, rng: opts.rng, backend: opts.backend, init: 'zeros' });
    this.fc = this.registerModule('fc', fc);
    if (!opts.zero) {
      const shape = [numClasses, features, 1, 1];
      fc.loadStateDict({ weight: { shape, data: headWeight(shape, opts.rng, 'normal') } }, { strict: false });
    }
  }
  forward(x: Tensor): Tensor {
    let y = this.pool.forward(x);
    if (this.fc) y = this.fc.forward(y);
    return this.flat.forward(y);
  }
}

/** The BiT ResNetV2. Input [N, 3, H, W] (H, W >= 32 keeps every stage non-empty) -> logits [N, numClasses]. */
export class ResNetV2 extends Module {
  readonly config: ResNetV2Config;
  readonly widths: ResNetV2Widths;
  readonly stem: Stem;
  readonly stages: ModuleList<ResNetStage>;
  readonly norm: Module;
  private _head: ClassifierHead;

  constructor(cfg: ResNetV2Config) {
    super();
    this.config = { ...cfg };
    this.widths = resnetV2Widths(cfg);
    const rng = cfg.rng ?? new Rng(cfg.seed ?? 0);
    const conv = convMaker(cfg, rng);
    const { stem, stages, features, gnGroups } = this.widths;
    this.stem = this.registerModule('stem', new Stem(conv(3, stem, 7, 2, 3)));
    this.stages = this.registerModule(
      'stages',
      new ModuleList(
        stages.map((st) => {
          const blocks: PreActBottleneck[] = [];
          for (let u = 0; u < st.units; u++) {
            const cin = u === 0 ? st.cin : st.cout;
            blocks.push(new PreActBottleneck(cfg, conv, cin, st.cmid, st.cout, u === 0 ? st.stride : 1, gnGroups));
          }
          return new ResNetStage(blocks);
        }),
      ),
    );
    this.norm = this.registerModule('norm', makeNorm(cfg, features, gnGroups));
    this._head = this.registerModule(
      'head',
      new ClassifierHead(features, cfg.numClasses, { zero: cfg.zeroHead ?? false, rng, backend: cfg.backend }),
    );
  }

  get head(): ClassifierHead {
    return this._head;
  }

  /** Number of classes of the current head (0: features only). */
  get numClasses(): number {
    return this.config.numClasses;
  }

  /** Stem and stages, then the final norm and ReLU: [N,3,H,W] -> [N, 2048*wf, H/32, W/32] (about). */
  forwardFeatures(x: Tensor): Tensor {
    let y = this.stem.forward(x);
    y = this.stages.forward(y);
    return this.norm.forward(y).relu();
  }

  /** [N,3,H,W] -> [N, numClasses] (or [N, 2048*wf] without a classifier). */
  forward(x: Tensor): Tensor {
    return this._head.forward(this.forwardFeatures(x));
  }

  /**
   * Replace the classifier with a fresh one for `numClasses` (zero-initialized by default, as BiT fine-tuning
   * does); the old head's parameters are disposed.
   */
  resetClassifier(numClasses: number, opts: { zeroHead?: boolean; rng?: Rng } = {}): void {
    if (!Number.isInteger(numClasses) || numClasses < 0)
      throw new ConfigError(`resetClassifier: bad numClasses ${numClasses}`);
    const old = this._head;
    this._head = this.replaceModule(
      'head',
      new ClassifierHead(this.widths.features, numClasses, {
        zero: opts.zeroHead ?? true,
        rng: opts.rng ?? new Rng(this.config.seed ?? 0),
        backend: this.config.backend,
      }),
    );
    (this.config as { numClasses: number }).numClasses = numClasses;
    old.dispose();
  }
}

/** Build a ResNetV2-BiT from a config. */
export function resnetV2(cfg: ResNetV2Config): ResNetV2 {
  return new ResNetV2(cfg);
}

/**
 * Parameter names and shapes of a config, in `namedParameters()` order, computed without allocating.
 * (BN buffers are not parameters and are not listed.)
 */
export function resnetV2ParamShapes(cfg: ResNetV2Config): [string, number[]][] {
  const w = resnetV2Widths(cfg);
  const out: [string, number[]][] = [];
  const norm = (n: string, c: number) => {
    out.push([`${n}.weight`, [c]], [`${n}.bias`, [c]]);
  };
  out.push(['stem.conv.weight', [w.stem, 3, 7, 7]]);
  w.stages.forEach((st, s) => {
    for (let u = 0; u < st.units; u++) {
      const p = `stages.${s}.blocks.${u}`;
      const cin = u === 0 ? st.cin : st.cout;
      norm(`${p}.norm1`, cin);
      out.push([`${p}.conv1.weight`, [st.cmid, cin, 1, 1]]);
      norm(`${p}.norm2`, st.cmid);
      out.push([`${p}.conv2.weight`, [st.cmid, st.cmid, 3, 3]]);
      norm(`${p}.norm3`, st.cmid);
      out.push([`${p}.conv3.weight`, [st.cout, st.cmid, 1, 1]]);
      if (u === 0 && (st.stride !== 1 || cin !== st.cout))
        out.push([`${p}.downsample.conv.weight`, [st.cout, cin, 1, 1]]);
    }
  });
  norm('norm', w.features);
  if (cfg.numClasses > 0) {
    out.push(['head.fc.weight', [cfg.numClasses, w.features, 1, 1]], ['head.fc.bias', [cfg.numClasses]]);
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

/** Spatial side after the stem and after each stage, for a square input of side `res`. */
export function resnetV2SpatialSizes(cfg: ResNetV2Config, res: number): { stem: number; stages: number[] } {
  const w = resnetV2Widths(cfg);
  const stem = outSide(outSide(res, 7, 2, 3) + 2, 3, 2, 0);
  let h = stem;
  const stages = w.stages.map((st) => (h = outSide(h, 3, st.stride, 1)));
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
  const w = resnetV2Widths(cfg);
  const conv1 = outSide(res, 7, 2, 3);
  let conv = 3 * w.stem * 49 * conv1 * conv1;
  let norm = 0;
  let h = resnetV2SpatialSizes(cfg, res).stem;
  for (const st of w.stages) {
    for (let u = 0; u < st.units; u++) {
      const cin = u === 0 ? st.cin : st.cout;
      const stride = u === 0 ? st.stride : 1;
      const ho = outSide(h, 3, stride, 1);
      conv += cin * st.cmid * h * h; // conv1 at the input resolution
      conv += st.cmid * st.cmid * 9 * ho * ho; // conv2 (strided)
      conv += st.cmid * st.cout * ho * ho; // conv3
      if (u === 0 && (stride !== 1 || cin !== st.cout)) {
        const hp = outSide(h, 1, stride, 0);
        conv += cin * st.cout * hp * hp; // projection
      }
      norm += cin * h * h + st.cmid * h * h + st.cmid * ho * ho; // norm1, norm2, norm3 inputs
      h = ho;
    }
  }
  norm += w.features * h * h;
  conv += w.features * cfg.numClasses;
  const wsWeights =
    (cfg.ws ?? true)
      ? resnetV2ParamShapes(cfg)
          .filter(([k, sh]) => sh.length === 4 && !k.startsWith('head.'))
          .reduce((a, [, sh]) => a + sh.reduce((p, d) => p * d, 1), 0)
      : 0;
  const out = { conv, ws: 4 * wsWeights, norm: 5 * norm, pool: w.features * h * h };
  return { ...out, total: out.conv + out.ws + out.norm + out.pool };
}

/** Total compute of one forward at a square `res` input, fvcore convention (see resnetV2MacsBreakdown). */
export function resnetV2Macs(cfg: ResNetV2Config, res: number): number {
  return resnetV2MacsBreakdown(cfg, res).total;
}
