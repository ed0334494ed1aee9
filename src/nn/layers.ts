/**
 * Parameter-free and simple layers: ReLU, MaxPool2d, ConstantPad2d, AdaptiveAvgPool2d(1), Flatten, Identity,
 * Dropout (seeded mask from the Rng passed in; inverted scaling 1/(1-p) in train mode, identity in eval) and
 * Linear (y = x W^T + b, W [out, in], PyTorch's default uniform init from the Rng).
 */

import { flatten, matmul, maxPool2d, mean, mul, pad, relu, transpose } from '../autograd/ops/index.js';
import { ConfigError, ShapeError } from '../errors.js';
import type { Backend } from '../tensor/backend.js';
import { fromTyped } from '../tensor/creation.js';
import { globalRng, type Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { defaultBias, defaultWeight } from './init.js';
import { Module, Parameter } from './module.js';

/** max(x, 0), any shape. */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/** y = x. */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/**
 * Max pooling [N,C,H,W] -> [N,C,OH,OW]; `padding` cells of `padValue` on every side (default -Infinity like
 * PyTorch; BiT's stem pads with 0: `new MaxPool2d(3, 2, 1, 0)` equals ConstantPad2d(1, 0) + MaxPool2d(3, 2)).
 */
export class MaxPool2d extends Module {
  constructor(
    readonly kernelSize: number,
    readonly stride = kernelSize,
    readonly padding = 0,
    readonly padValue = Number.NEGATIVE_INFINITY,
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, this.stride, this.padding, this.padValue);
  }
}

/** Pad the last two dims by `padding` on every side with `value`. [N,C,H,W] -> [N,C,H+2p,W+2p]. */
export class ConstantPad2d extends Module {
  constructor(
    readonly padding: number,
    readonly value = 0,
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    const p = this.padding;
    return pad(x, [p, p, p, p], this.value);
  }
}

/** Global average pooling to 1x1: mean over H, W, keepdim. [N,C,H,W] -> [N,C,1,1]. Only output size 1. */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize = 1) {
    super();
    if (outputSize !== 1)
      throw new ConfigError(`AdaptiveAvgPool2d: only output size 1 is supported, got ${outputSize}`);
  }
  forward(x: Tensor): Tensor {
    if (x.ndim !== 4) throw new ShapeError(`AdaptiveAvgPool2d: expected [N,C,H,W], got [${x.shape}]`);
    return mean(x, [2, 3], true);
  }
}

/** Flatten dims startDim..endDim into one: [N,C,1,1] -> [N,C] with the defaults. */
export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }
}

/** Inverted dropout: in train mode zero each element with probability p and scale the rest by 1/(1-p). */
export class Dropout extends Module {
  private readonly rng: Rng;
  constructor(
    readonly p = 0.5,
    rng?: Rng,
  ) {
    super();
    if (!(p >= 0 && p < 1)) throw new ConfigError(`Dropout: p must be in [0, 1), got ${p}`);
    this.rng = rng ?? globalRng;
  }
  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    const m = new Float32Array(x.size);
    const scale = 1 / (1 - this.p);
    for (let i = 0; i < m.length; i++) m[i] = this.rng.uniform() >= this.p ? scale : 0;
    const mask = fromTyped(m, x.shape, { backend: x.backend, dtype: x.dtype });
    return mul(x, mask);
  }
}

export interface LinearOptions {
  bias?: boolean;
  rng?: Rng;
  backend?: Backend;
}

/** y = x W^T + b. x [..., in] -> [..., out]; weight [out, in], bias [out]. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: LinearOptions = {},
  ) {
    super();
    const rng = opts.rng ?? globalRng;
    const shape = [outFeatures, inFeatures];
    this.weight = this.registerParameter('weight', Parameter(defaultWeight(shape, rng), shape, opts.backend));
    this.bias =
      (opts.bias ?? true)
        ? this.registerParameter(
            'bias',
            Parameter(defaultBias(outFeatures, inFeatures, rng), [outFeatures], opts.backend),
          )
        : null;
  }
  forward(x: Tensor): Tensor {
    if (x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new ShapeError(`Linear: expected last dim ${this.inFeatures}, got [${x.shape}]`);
    }
    const y = matmul(x, transpose(this.weight, 0, 1));
    return this.bias ? y.add(this.bias) : y;
  }
}
