/**
 * Parameter initializers. Each returns host values (Float32Array, C order) drawn from the seeded Rng passed in,
 * so a model built twice from the same seed is bit-identical on every backend. Conventions follow PyTorch's
 * torch.nn.init: fan_in = shape[1] * receptive field, fan_out = shape[0] * receptive field
 * (receptive field = product of shape[2:]).
 *
 * BiT/timm from-scratch init: convs kaiming normal (fan_out, relu): std = sqrt(2 / fan_out); GroupNorm gamma 1,
 * beta 0; head either zero (official BiT fine-tuning) or N(0, 0.01) with zero bias (timm).
 */

import { ShapeError } from '../errors.js';
import type { Rng } from '../tensor/random.js';

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

/** fan_in and fan_out of a weight shape ([out, in, ...kernel]); 1-D shapes are refused. */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) throw new ShapeError(`init.fans: need at least 2 dims, got [${shape}]`);
  const rf = sizeOf(shape.slice(2));
  return { fanIn: shape[1] * rf, fanOut: shape[0] * rf };
}

/** Recommended gain for a nonlinearity (PyTorch's calculate_gain). */
export function gain(nonlinearity: 'relu' | 'linear' | 'leaky_relu', negativeSlope = 0.01): number {
  if (nonlinearity === 'relu') return Math.SQRT2;
  if (nonlinearity === 'leaky_relu') return Math.sqrt(2 / (1 + negativeSlope ** 2));
  return 1;
}

/** N(mean, std^2) values for `shape`. */
export function normal(shape: readonly number[], rng: Rng, mean = 0, std = 1): Float32Array {
  const out = new Float32Array(sizeOf(shape));
  for (let i = 0; i < out.length; i++) out[i] = mean + std * rng.normal();
  return out;
}

/** U[lo, hi) values for `shape`. */
export function uniform(shape: readonly number[], rng: Rng, lo: number, hi: number): Float32Array {
  const out = new Float32Array(sizeOf(shape));
  for (let i = 0; i < out.length; i++) out[i] = lo + (hi - lo) * rng.uniform();
  return out;
}

/** Constant values for `shape`. */
export function constant(shape: readonly number[], value: number): Float32Array {
  return new Float32Array(sizeOf(shape)).fill(value);
}

/** Kaiming (He) normal: N(0, (gain / sqrt(fan))^2); BiT/timm use mode 'fanOut', relu. */
export function kaimingNormal(
  shape: readonly number[],
  rng: Rng,
  opts: { mode?: 'fanIn' | 'fanOut'; nonlinearity?: 'relu' | 'linear' } = {},
): Float32Array {
  const f = fans(shape);
  const fan = (opts.mode ?? 'fanOut') === 'fanOut' ? f.fanOut : f.fanIn;
  return normal(shape, rng, 0, gain(opts.nonlinearity ?? 'relu') / Math.sqrt(fan));
}

/** PyTorch's default Conv/Linear weight init: kaiming uniform with a = sqrt(5), i.e. U(+-1/sqrt(fan_in)). */
export function defaultWeight(shape: readonly number[], rng: Rng): Float32Array {
  const b = 1 / Math.sqrt(fans(shape).fanIn);
  return uniform(shape, rng, -b, b);
}

/** PyTorch's default bias init: U(+-1/sqrt(fan_in)) of the matching weight. */
export function defaultBias(outFeatures: number, fanIn: number, rng: Rng): Float32Array {
  const b = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return uniform([outFeatures], rng, -b, b);
}

/**
 * Classifier-head weight: 'zero' (official BiT fine-tuning: weight and bias zero) or 'normal' (timm:
 * N(0, 0.01^2)). Biases are always zero.
 */
export function headWeight(shape: readonly number[], rng: Rng, mode: 'zero' | 'normal'): Float32Array {
  return mode === 'zero' ? constant(shape, 0) : normal(shape, rng, 0, 0.01);
}
