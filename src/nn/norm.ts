/**
 * Normalization layers over [N, C, ...] input.
 * - `GroupNorm`: BiT's norm, the fused `groupNorm` op: statistics per sample per group over (C/G x spatial),
 *   biased variance, eps inside the sqrt, then per-channel affine (gamma 1, beta 0 at init). `forwardRelu` is
 *   relu(forward(x)) as the fused `groupNormRelu` primitive (ResNetV2's pre-activation), or the unfused composite
 *   when the environment sets BIT_FUSE_GN_RELU=0 (read once, at load: the A/B switch for the bench).
 * - `BatchNorm2d`: for the GN/BN ablation, built from composite ops. Train: batch mean and biased variance over
 *   (N, H, W) normalize; running stats move by `momentum` (0.1) toward the batch mean and the UNBIASED batch
 *   variance (PyTorch semantics). Eval: the running stats normalize. State-dict names follow PyTorch:
 *   weight, bias, running_mean, running_var, num_batches_tracked.
 *   `ghostBatch` g > 0 ("ghost" batch norm, simulated devices): in training, statistics are computed per
 *   consecutive micro-batch of g images (the batch [N,C,H,W] viewed as [N/g, g, C, H, W]), as each of N/g
 *   devices would with its local batch; the output equals per-chunk BN exactly, and the gradient of a mean loss
 *   over the whole batch is the mean over all devices. The running stats move once per batch toward the mean of
 *   the micro-batch statistics. N not divisible by g is a ShapeError (no silent fallback).
 */

import { groupNorm, groupNormRelu } from '../autograd/ops/index.js';
import { envOn } from '../env.js';
import { ShapeError } from '../errors.js';
import type { Backend } from '../tensor/backend.js';
import { noGrad } from '../tensor/engine.js';
import type { Tensor } from '../tensor/tensor.js';
import { constant } from './init.js';
import { Buffer, Module, Parameter } from './module.js';

/** Whether `GroupNorm.forwardRelu` runs the fused primitive: false only when BIT_FUSE_GN_RELU is '0'. */
export const FUSE_GROUP_NORM_RELU = envOn('BIT_FUSE_GN_RELU');

export interface GroupNormOptions {
  eps?: number;
  /** Learnable per-channel gamma and beta (default true). */
  affine?: boolean;
  backend?: Backend;
}

/** GroupNorm(groups, channels). x [N, C, ...] -> same shape. */
export class GroupNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly eps: number;

  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    opts: GroupNormOptions = {},
  ) {
    super();
    if (numChannels % numGroups !== 0) {
      throw new ShapeError(`GroupNorm: ${numChannels} channels are not divisible by ${numGroups} groups`);
    }
    this.eps = opts.eps ?? 1e-5;
    const g = constant([numChannels], 1);
    const b = constant([numChannels], 0);
    if (opts.affine ?? true) {
      this.weight = this.registerParameter('weight', Parameter(g, [numChannels], opts.backend));
      this.bias = this.registerParameter('bias', Parameter(b, [numChannels], opts.backend));
    } else {
      this.weight = Buffer(g, [numChannels], opts.backend);
      this.bias = Buffer(b, [numChannels], opts.backend);
    }
  }

  forward(x: Tensor): Tensor {
    if (x.ndim < 2 || x.shape[1] !== this.numChannels) {
      throw new ShapeError(`GroupNorm: expected [N, ${this.numChannels}, ...], got [${x.shape}]`);
    }
    return groupNorm(x, this.numGroups, this.weight, this.bias, this.eps);
  }

  /** relu(forward(x)) in one fused primitive (see the file comment for the BIT_FUSE_GN_RELU=0 switch). */
  forwardRelu(x: Tensor): Tensor {
    if (!FUSE_GROUP_NORM_RELU) return this.forward(x).relu();
    if (x.ndim < 2 || x.shape[1] !== this.numChannels) {
      throw new ShapeError(`GroupNorm: expected [N, ${this.numChannels}, ...], got [${x.shape}]`);
    }
    return groupNormRelu(x, this.numGroups, this.weight, this.bias, this.eps);
  }
}

export interface BatchNormOptions {
  eps?: number;
  /** Weight of the new batch statistic in the running average (PyTorch's momentum, default 0.1). */
  momentum?: number;
  affine?: boolean;
  backend?: Backend;
  /** Images per statistics group in training (0: the whole batch). See the file comment. */
  ghostBatch?: number;
}

/** BatchNorm2d(channels). x [N, C, H, W] -> same shape. */
export class BatchNorm2d extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;
  readonly momentum: number;
  /** Running mean [C] (updated in place). */
  readonly runningMean: Tensor;
  /** Running unbiased variance [C] (updated in place). */
  readonly runningVar: Tensor;
  /** Number of training batches seen (0-d). */
  readonly numBatchesTracked: Tensor;
  /** Images per statistics group in training (0: the whole batch). */
  readonly ghostBatch: number;

  constructor(
    readonly numFeatures: number,
    opts: BatchNormOptions = {},
  ) {
    super();
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum ?? 0.1;
    this.ghostBatch = opts.ghostBatch ?? 0;
    if (!Number.isInteger(this.ghostBatch) || this.ghostBatch < 0)
      throw new ShapeError(`BatchNorm2d: ghostBatch must be a non-negative integer, got ${this.ghostBatch}`);
    const c = numFeatures;
    const affine = opts.affine ?? true;
    this.weight = affine ? this.registerParameter('weight', Parameter(constant([c], 1), [c], opts.backend)) : null;
    this.bias = affine ? this.registerParameter('bias', Parameter(constant([c], 0), [c], opts.backend)) : null;
    this.runningMean = this.registerBuffer('running_mean', Buffer(constant([c], 0), [c], opts.backend));
    this.runningVar = this.registerBuffer('running_var', Buffer(constant([c], 1), [c], opts.backend));
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', Buffer([0], [], opts.backend));
  }

  forward(x: Tensor): Tensor {
    const c = this.numFeatures;
    if (x.ndim !== 4 || x.shape[1] !== c)
      throw new ShapeError(`BatchNorm2d: expected [N, ${c}, H, W], got [${x.shape}]`);
    let xhat: Tensor;
    const g = this.ghostBatch;
    if (this.training && g > 0 && x.shape[0] !== g) return this.ghostForward(x, g);
    if (this.training) {
      const n = x.shape[0] * x.shape[2] * x.shape[3];
      if (n < 2) throw new ShapeError(`BatchNorm2d: need more than 1 value per channel in training, got [${x.shape}]`);
      const mean = x.mean([0, 2, 3], true);
      const xc = x.sub(mean);
      const v = xc.mul(xc).mean([0, 2, 3], true);
      xhat = xc.mul(v.add(this.eps).rsqrt());
      this.updateRunning(mean, v, n);
    } else {
      const rm = this.runningMean.reshape([1, c, 1, 1]);
      const rv = this.runningVar.reshape([1, c, 1, 1]);
      xhat = x.sub(rm).mul(rv.add(this.eps).rsqrt());
    }
    if (!this.weight || !this.bias) return xhat;
    return xhat.mul(this.weight.reshape([1, c, 1, 1])).add(this.bias.reshape([1, c, 1, 1]));
  }

  /** Training forward with statistics per micro-batch of g images ([N,C,H,W] as [N/g, g, C, H, W]). */
  private ghostForward(x: Tensor, g: number): Tensor {
    const [n, c, h, w] = x.shape as [number, number, number, number];
    if (n % g !== 0)
      throw new ShapeError(`BatchNorm2d: batch ${n} is not a multiple of the ghost batch ${g} (images per device)`);
    const per = g * h * w;
    if (per < 2) throw new ShapeError(`BatchNorm2d: need more than 1 value per channel in training, got [${x.shape}]`);
    const x5 = x.reshape([n / g, g, c, h, w]);
    const mean = x5.mean([1, 3, 4], true);
    const xc = x5.sub(mean);
    const v = xc.mul(xc).mean([1, 3, 4], true);
    let y = xc.mul(v.add(this.eps).rsqrt());
    if (this.weight && this.bias)
      y = y.mul(this.weight.reshape([1, 1, c, 1, 1])).add(this.bias.reshape([1, 1, c, 1, 1]));
    noGrad(() => this.updateRunning(mean.mean([0], true), v.mean([0], true), per));
    return y.reshape([n, c, h, w]);
  }

  private updateRunning(mean: Tensor, biasedVar: Tensor, n: number): void {
    const m = this.momentum;
    const c = this.numFeatures;
    noGrad(() => {
      const rm = this.runningMean;
      const rv = this.runningVar;
      const nm = rm.mul(1 - m).add(mean.reshape([c]).mul(m));
      const nv = rv.mul(1 - m).add(biasedVar.reshape([c]).mul((m * n) / (n - 1)));
      rm.copy_(nm);
      rv.copy_(nv);
      const inc = this.numBatchesTracked.add(1);
      this.numBatchesTracked.copy_(inc);
      for (const t of [nm, nv, inc]) t.dispose();
    });
  }
}
