/**
 * Convolution layers over NCHW input with OIHW weights: `Conv2d` (optional bias) and `StdConv2d`, BiT's
 * weight-standardized convolution: every forward standardizes each output filter of the raw weight through
 * the fused `weightStandardize` op (mean 0, biased variance 1 over Cin x kh x kw, eps inside the sqrt), so the
 * gradient flows through the standardization to the raw weight. StdConv2d never has a bias in BiT. In eval mode
 * under `noGrad` the standardized kernel is cached per module, keyed on the weight's storage version, within a
 * byte budget shared by all modules (./std-weight-cache.ts); a kernel beyond the budget (and every kernel in
 * train mode under `noGrad`) is freed as soon as its conv is issued (nothing can need it later), so an inference
 * forward never holds more than the budget plus one standardized kernel, not a second copy of every weight until
 * the caller's `tidy` scope ends (BiT-R152x4: 3.75 GB).
 *
 * `forward(x, addend)` returns conv(x) + addend (addend of the output's shape) through the fused `conv2dAdd`
 * primitive: a ResNet unit's residual add folded into its last conv (with a bias: conv2d + bias, then the add).
 *
 * Init (from the Rng passed in): kaiming normal fan_out relu (timm's BiT init) unless `init: 'torch'`
 * (PyTorch's default uniform); a bias starts at zero.
 */

import { add, conv2d, conv2dAdd, weightStandardize } from '../autograd/ops/index.js';
import { ShapeError } from '../errors.js';
import type { Backend } from '../tensor/backend.js';
import { isGradEnabled } from '../tensor/engine.js';
import { globalRng, type Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { constant, defaultWeight, kaimingNormal } from './init.js';
import { Module, Parameter } from './module.js';
import { StdKernelSlot } from './std-weight-cache.js';

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  groups?: number;
  /** Add a learnable bias [Cout] (default false: BiT convs have none except the head). */
  bias?: boolean;
  /** Weight init: 'kaiming' (normal, fan_out, relu; default), 'torch' (PyTorch's default uniform), 'zeros'. */
  init?: 'kaiming' | 'torch' | 'zeros';
  rng?: Rng;
  backend?: Backend;
}

/** Plain 2-D convolution. x [N, Cin, H, W] -> [N, Cout, OH, OW]; weight [Cout, Cin/groups, k, k]. */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: number;
  readonly padding: number;
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    opts: Conv2dOptions = {},
  ) {
    super();
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
    this.groups = opts.groups ?? 1;
    if (inChannels % this.groups !== 0 || outChannels % this.groups !== 0) {
      throw new ShapeError(`Conv2d: channels ${inChannels}->${outChannels} not divisible by groups ${this.groups}`);
    }
    const shape = [outChannels, inChannels / this.groups, kernelSize, kernelSize];
    const rng = opts.rng ?? globalRng;
    const init = opts.init ?? 'kaiming';
    const w =
      init === 'zeros' ? constant(shape, 0) : init === 'torch' ? defaultWeight(shape, rng) : kaimingNormal(shape, rng);
    this.weight = this.registerParameter('weight', Parameter(w, shape, opts.backend));
    this.bias = opts.bias
      ? this.registerParameter('bias', Parameter(constant([outChannels], 0), [outChannels], opts.backend))
      : null;
  }

  /** The kernel used by forward (the raw weight here; standardized in StdConv2d). */
  effectiveWeight(): Tensor {
    return this.weight;
  }

  /** conv(x) [+ bias], plus `addend` [N, Cout, OH, OW] when given (fused: `conv2dAdd`). */
  forward(x: Tensor, addend?: Tensor | null): Tensor {
    return this.convWith(x, this.effectiveWeight(), addend);
  }

  /** conv2d of x with kernel w, this layer's bias and geometry, plus the addend if any. */
  protected convWith(x: Tensor, w: Tensor, addend?: Tensor | null): Tensor {
    const opts = { stride: this.stride, padding: this.padding, groups: this.groups };
    if (!addend) return conv2d(x, w, this.bias, opts);
    return this.bias ? add(conv2d(x, w, this.bias, opts), addend) : conv2dAdd(x, w, addend, opts);
  }
}

export interface StdConv2dOptions extends Conv2dOptions {
  /** eps inside the sqrt of the standardization: 1e-10 (official BiT, MindCV; default) or 1e-8 (timm). */
  eps?: number;
}

/** Weight-standardized convolution (BiT). Same shapes as Conv2d. */
export class StdConv2d extends Conv2d {
  readonly eps: number;
  /** The standardized kernel kept for eval-mode forwards under noGrad (./std-weight-cache.ts). */
  private readonly cached = new StdKernelSlot();

  constructor(inChannels: number, outChannels: number, kernelSize: number, opts: StdConv2dOptions = {}) {
    super(inChannels, outChannels, kernelSize, opts);
    this.eps = opts.eps ?? 1e-10;
  }

  /** Standardized kernel W_hat (recomputed each call, differentiable). */
  override effectiveWeight(): Tensor {
    return weightStandardize(this.weight, this.eps);
  }

  override forward(x: Tensor, addend?: Tensor | null): Tensor {
    if (isGradEnabled()) {
      // a recorded forward is training: the weight is about to change, so the cached kernel is only memory
      this.cached.clear();
      return super.forward(x, addend);
    }
    if (this.training) this.cached.clear();
    else {
      const hit = this.cached.get(this.weight);
      if (hit) return this.convWith(x, hit, addend);
    }
    const w = this.effectiveWeight();
    if (!this.training && this.cached.offer(this.weight, w)) return this.convWith(x, w, addend);
    try {
      return this.convWith(x, w, addend);
    } finally {
      w.dispose();
    }
  }

  protected override releaseCaches(): void {
    this.cached.clear();
  }
}
