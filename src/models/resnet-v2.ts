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
 * numClasses 0 for a feature extractor ([N, 2048*wf] out). Under `noGrad` the forwards free each intermediate
 * activation once its consumers are issued (./early-free.ts). The unit's residual add is folded into conv3
 * (`conv3.forward(h, shortcut)`: the fused conv2dAdd primitive, the same bits as conv3 then add) unless env
 * BIT_FUSE_RESADD=0 (read at load; `setFusedResidualAdd` for in-process A/B runs). The block plan is stated once,
 * in resnet-v2-plan.ts (`resnetV2Plan`): these modules are built from it, and `resnetV2ParamShapes` and
 * `resnetV2Macs` compute shapes and compute cost from it analytically, allocating nothing (R152x4 holds 928M
 * weights).
 */

import { envOn } from '../env.js';
import { ConfigError } from '../errors.js';
import { ModuleList } from '../nn/containers.js';
import { Conv2d, StdConv2d } from '../nn/conv.js';
import { headWeight } from '../nn/init.js';
import { AdaptiveAvgPool2d, Flatten, Identity, MaxPool2d } from '../nn/layers.js';
import { Module } from '../nn/module.js';
import { BatchNorm2d, GroupNorm } from '../nn/norm.js';
import type { Backend } from '../tensor/backend.js';
import { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { chain, freesEarly, release } from './early-free.js';
import {
  type PlanConv,
  type ResNetV2Config,
  type ResNetV2Plan,
  type ResNetV2Widths,
  resnetV2Plan,
  type UnitPlan,
} from './resnet-v2-plan.js';

export * from './resnet-v2-plan.js';

function makeNorm(cfg: ResNetV2Config, c: number, groups: number): Module {
  return (cfg.norm ?? 'gn') === 'bn'
    ? new BatchNorm2d(c, { backend: cfg.backend, ghostBatch: cfg.bnGhostBatch ?? 0 })
    : new GroupNorm(groups, c, { backend: cfg.backend });
}

type ConvMaker = (c: PlanConv) => Conv2d;

let fuseResidualAdd = envOn('BIT_FUSE_RESADD');

/** Fold each unit's residual add into its conv3 (true, the default) or run conv3 then add; returns the old value. */
export function setFusedResidualAdd(on: boolean): boolean {
  const old = fuseResidualAdd;
  fuseResidualAdd = on;
  return old;
}

/** relu(norm(x)): GroupNorm's fused primitive (`forwardRelu`), BatchNorm's composite. */
function normRelu(norm: Module, x: Tensor): Tensor {
  return norm instanceof GroupNorm ? norm.forwardRelu(x) : norm.forward(x).relu();
}

function convMaker(cfg: ResNetV2Config, rng: Rng): ConvMaker {
  const ws = cfg.ws ?? true;
  return (c) => {
    const o = { stride: c.stride, padding: c.pad, rng, backend: cfg.backend };
    return ws
      ? new StdConv2d(c.cin, c.cout, c.k, { ...o, eps: cfg.wsEps ?? 1e-10 })
      : new Conv2d(c.cin, c.cout, c.k, o);
  };
}

/**
 * Stem: conv 7x7/2 pad 3 -> zero pad 1 -> max pool 3x3/2 (the plan's stemPool). [N,3,H,W] -> [N,stem,~H/4,~W/4].
 * The zero pad is fused into the pool (padValue 0: a window whose maximum is a padding zero passes no gradient,
 * exactly as the explicit pad's discarded border).
 */
export class Stem extends Module {
  readonly conv: Conv2d;
  private readonly pool: MaxPool2d;
  constructor(conv: Conv2d, pool: ResNetV2Plan['stemPool']) {
    super();
    this.conv = this.registerModule('conv', conv);
    this.pool = new MaxPool2d(pool.k, pool.stride, pool.pad, 0);
  }
  forward(x: Tensor): Tensor {
    return chain(x, [(t) => this.conv.forward(t), (t) => this.pool.forward(t)], freesEarly());
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

  constructor(unit: UnitPlan, makeConv: ConvMaker, makeNorm: (c: number) => Module) {
    super();
    // registration (= parameter) order is the plan's `layers` order: norm1, conv1, norm2, conv2, norm3, conv3,
    // downsample
    this.norm1 = this.registerModule('norm1', makeNorm(unit.norm1.c));
    this.conv1 = this.registerModule('conv1', makeConv(unit.conv1));
    this.norm2 = this.registerModule('norm2', makeNorm(unit.norm2.c));
    this.conv2 = this.registerModule('conv2', makeConv(unit.conv2));
    this.norm3 = this.registerModule('norm3', makeNorm(unit.norm3.c));
    this.conv3 = this.registerModule('conv3', makeConv(unit.conv3));
    this.downsample = unit.downsample
      ? this.registerModule('downsample', new DownsampleConv(makeConv(unit.downsample)))
      : null;
  }

  forward(x: Tensor): Tensor {
    const free = freesEarly();
    const p = normRelu(this.norm1, x);
    const shortcut = this.downsample ? this.downsample.forward(p) : x;
    const fused = fuseResidualAdd;
    const h = chain(
      p,
      [
        (t) => this.conv1.forward(t),
        (t) => normRelu(this.norm2, t),
        (t) => this.conv2.forward(t),
        (t) => normRelu(this.norm3, t),
        ...(fused ? [] : [(t: Tensor) => this.conv3.forward(t)]),
      ],
      free,
    );
    // fused: h is relu(norm3(.)), conv3's input, freed right after conv3 as the unfused chain frees it
    const out = fused ? this.conv3.forward(h, shortcut) : h.add(shortcut);
    if (free) {
      release(p, x, shortcut, h, out);
      release(h, x, out);
      release(shortcut, x, out);
    }
    return out;
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
    return chain(
      x,
      [...this.blocks].map((b) => (t: Tensor) => b.forward(t)),
      freesEarly(),
    );
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
    const fc = this.fc;
    const steps = [(t: Tensor) => this.pool.forward(t), ...(fc ? [(t: Tensor) => fc.forward(t)] : [])];
    // flatten is a view: freeing its source tensor leaves the storage to the view
    return chain(x, [...steps, (t) => this.flat.forward(t)], freesEarly());
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
    const plan = resnetV2Plan(cfg);
    this.widths = plan.widths;
    const rng = cfg.rng ?? new Rng(cfg.seed ?? 0);
    const conv = convMaker(cfg, rng);
    const norm = (c: number) => makeNorm(cfg, c, plan.widths.gnGroups);
    this.stem = this.registerModule('stem', new Stem(conv(plan.stem), plan.stemPool));
    const stages = plan.widths.stages.map((_, s) =>
      plan.units.filter((u) => u.stage === s).map((u) => new PreActBottleneck(u, conv, norm)),
    );
    this.stages = this.registerModule('stages', new ModuleList(stages.map((b) => new ResNetStage(b))));
    this.norm = this.registerModule('norm', norm(plan.norm.c));
    this._head = this.registerModule(
      'head',
      new ClassifierHead(plan.widths.features, cfg.numClasses, {
        zero: cfg.zeroHead ?? false,
        rng,
        backend: cfg.backend,
      }),
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
    return chain(
      x,
      [
        (t) => this.stem.forward(t),
        ...[...this.stages].map((s) => (t: Tensor) => s.forward(t)),
        (t) => normRelu(this.norm, t),
      ],
      freesEarly(),
    );
  }

  /** [N,3,H,W] -> [N, numClasses] (or [N, 2048*wf] without a classifier). */
  forward(x: Tensor): Tensor {
    return chain(x, [(t) => this.forwardFeatures(t), (t) => this._head.forward(t)], freesEarly());
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
