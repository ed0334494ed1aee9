/**
 * Image augmentations as pure functions of (HWC image, seeded Rng) and a serializable `TransformSpec` that the
 * loader (and its workers) turn into a CHW Float32 sample. Covers BiT-HyperRule (square resize to precrop,
 * random crop, hflip p=0.5, x/127.5-1; eval: resize to crop) and the MindCV/timm recipe (RandomResizedCrop
 * with timm's 10-attempt fallback, ColorJitter in random order, ImageNet mean/std; eval: shorter side to
 * crop/crop_pct then center crop). Invariants: labels are never touched here; crops stay inside the image;
 * all randomness comes from the Rng passed in, so equal seeds give equal outputs.
 */
import { ConfigError } from '../errors.js';
import { cropView, fromView, type HwcView, hflipView, type RawImage, toRgb, toView } from './image.js';
import { resize, shorterSideSize } from './resize.js';
import type { Rng } from './rng.js';

export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

/** Color jitter strengths (torchvision ColorJitter without hue); each factor is uniform in [max(0,1-j), 1+j]. */
export interface JitterSpec {
  brightness?: number;
  contrast?: number;
  saturation?: number;
}

/** Pixel scaling applied last: 'pm1' = x/127.5-1, 'unit' = x/255, 'imagenet' = (x/255-mean)/std. */
export type Scaling = 'pm1' | 'unit' | 'imagenet';

/** Serializable description of a sample transform (sent to loader workers). */
export type TransformSpec =
  | { kind: 'bit-train'; precrop: number; crop: number; hflip?: boolean }
  | { kind: 'bit-eval'; crop: number }
  | {
      kind: 'rrc-train';
      size: number;
      scale?: [number, number];
      ratio?: [number, number];
      hflip?: boolean;
      jitter?: JitterSpec;
      scaling?: Scaling;
    }
  | { kind: 'center-eval'; size: number; cropPct?: number; scaling?: Scaling }
  | { kind: 'plain'; size?: number; scaling?: Scaling };

/** A transformed sample: CHW Float32. */
export interface ChwSample {
  data: Float32Array;
  channels: number;
  height: number;
  width: number;
}

/** BiT-HyperRule resolution: images smaller than 96x96 -> precrop 160 / crop 128, else 512 / 480 (paper: 448/384). */
export function bitResolution(height: number, width: number, variant: 'official' | 'paper' = 'official') {
  if (height * width < 96 * 96) return { precrop: 160, crop: 128 };
  return variant === 'paper' ? { precrop: 448, crop: 384 } : { precrop: 512, crop: 480 };
}

/** Uniform integer in [lo, hi] inclusive (Python's random.randint). */
function randint(rng: Rng, lo: number, hi: number): number {
  return lo + rng.nextInt(hi - lo + 1);
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Top-left corner of a uniform random `crop x crop` window inside `h x w` (torchvision RandomCrop). */
export function randomCropParams(rng: Rng, h: number, w: number, ch: number, cw: number) {
  if (ch > h || cw > w) throw new ConfigError(`randomCrop: crop ${ch}x${cw} is larger than the ${h}x${w} image`);
  return { top: randint(rng, 0, h - ch), left: randint(rng, 0, w - cw) };
}

/** Centered crop window (torchvision CenterCrop rounding). */
export function centerCropParams(h: number, w: number, ch: number, cw: number) {
  if (ch > h || cw > w) throw new ConfigError(`centerCrop: crop ${ch}x${cw} is larger than the ${h}x${w} image`);
  return { top: Math.round((h - ch) / 2), left: Math.round((w - cw) / 2) };
}

/**
 * timm RandomResizedCrop window: 10 attempts at area ~ U(scale) * H*W and log-uniform aspect ratio; if none fits,
 * the center crop clamped to the ratio range. Always inside the image with height, width >= 1.
 */
export function randomResizedCropParams(
  rng: Rng,
  h: number,
  w: number,
  scale: [number, number] = [0.08, 1],
  ratio: [number, number] = [3 / 4, 4 / 3],
): { top: number; left: number; height: number; width: number } {
  if (!(scale[0] > 0 && scale[0] <= scale[1]) || !(ratio[0] > 0 && ratio[0] <= ratio[1])) {
    throw new ConfigError(`randomResizedCrop: need 0 < scale[0] <= scale[1] and 0 < ratio[0] <= ratio[1]`);
  }
  const area = h * w;
  const logR = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = rng.uniform(scale[0], scale[1]) * area;
    const ar = Math.exp(rng.uniform(logR[0], logR[1]));
    const cw = roundHalfEven(Math.sqrt(target * ar));
    const ch = roundHalfEven(Math.sqrt(target / ar));
    if (cw >= 1 && ch >= 1 && cw <= w && ch <= h) {
      return { top: randint(rng, 0, h - ch), left: randint(rng, 0, w - cw), height: ch, width: cw };
    }
  }
  const inRatio = w / h;
  let cw = w;
  let ch = h;
  if (inRatio < ratio[0]) ch = Math.max(1, Math.min(h, roundHalfEven(w / ratio[0])));
  else if (inRatio > ratio[1]) cw = Math.max(1, Math.min(w, roundHalfEven(h * ratio[1])));
  return { top: Math.floor((h - ch) / 2), left: Math.floor((w - cw) / 2), height: ch, width: cw };
}

function clamp255(v: number): number {
  return Math.min(255, Math.max(0, v));
}

/** Blends `img` toward `other` (scalar or per-pixel gray) as torchvision `_blend`: clamp(f*img + (1-f)*other). */
function blendInPlace(d: Float32Array, f: number, other: number | Float32Array, channels: number): void {
  for (let i = 0; i < d.length; i++) {
    const o = typeof other === 'number' ? other : other[Math.floor(i / channels)]!;
    d[i] = clamp255(f * d[i]! + (1 - f) * o);
  }
}

/** Per-pixel luma (ITU-R 601-2, torchvision's rgb_to_grayscale weights) of an RGB HWC image. */
function grayscale(d: Float32Array, n: number): Float32Array {
  const g = new Float32Array(n);
  for (let i = 0; i < n; i++) g[i] = 0.2989 * d[3 * i]! + 0.587 * d[3 * i + 1]! + 0.114 * d[3 * i + 2]!;
  return g;
}

/**
 * torchvision ColorJitter (brightness, contrast, saturation; no hue) on a 0..255 RGB image: factors uniform in
 * [max(0,1-j), 1+j], applied in a random order, results clamped to [0, 255]. Returns a new Float32 image.
 */
export function colorJitter(img: RawImage, rng: Rng, j: JitterSpec): RawImage {
  const rgb = toRgb(img);
  const d = Float32Array.from(rgb.data);
  const n = rgb.height * rgb.width;
  const order = rng.permutation(3);
  const factor = (s: number | undefined) => (s && s > 0 ? rng.uniform(Math.max(0, 1 - s), 1 + s) : null);
  const fs = [factor(j.brightness), factor(j.contrast), factor(j.saturation)];
  for (const op of order) {
    const f = fs[op];
    if (f === null || f === undefined) continue;
    if (op === 0) blendInPlace(d, f, 0, 3);
    else if (op === 1) {
      const g = grayscale(d, n);
      let m = 0;
      for (let i = 0; i < n; i++) m += g[i]!;
      blendInPlace(d, f, m / n, 3);
    } else blendInPlace(d, f, grayscale(d, n), 3);
  }
  return { data: d, height: rgb.height, width: rgb.width, channels: 3 };
}

/**
 * Writes an HWC view into a new CHW Float32 array with the given scaling (`pm1`, `unit` or `imagenet`).
 * Reads through the view's strides, so crops and flips cost no copy before this point.
 */
export function viewToChw(view: HwcView, scaling: Scaling): ChwSample {
  const [h, w, c] = view.shape as [number, number, number];
  const [sy, sx, sc] = view.stride as [number, number, number];
  const out = new Float32Array(c * h * w);
  const d = view.data;
  const plane = h * w;
  for (let k = 0; k < c; k++) {
    let mul: number;
    let add: number;
    if (scaling === 'pm1') [mul, add] = [1 / 127.5, -1];
    else if (scaling === 'unit') [mul, add] = [1 / 255, 0];
    else {
      const m = IMAGENET_MEAN[k % 3]!;
      const s = IMAGENET_STD[k % 3]!;
      [mul, add] = [1 / (255 * s), -m / s];
    }
    const o = k * plane;
    for (let y = 0; y < h; y++) {
      let p = view.offset + y * sy + k * sc;
      const row = o + y * w;
      for (let x = 0; x < w; x++, p += sx) out[row + x] = d[p]! * mul + add;
    }
  }
  return { data: out, channels: c, height: h, width: w };
}

/** Range of values `scaling` maps 0..255 into, per channel. */
export function scalingRange(scaling: Scaling, channel = 0): [number, number] {
  if (scaling === 'pm1') return [-1, 1];
  if (scaling === 'unit') return [0, 1];
  const m = IMAGENET_MEAN[channel % 3]!;
  const s = IMAGENET_STD[channel % 3]!;
  return [-m / s, (1 - m) / s];
}

function checkSize(name: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isInteger(v) && v > 0)) {
    throw new ConfigError(`transform: ${name} must be a positive integer, got ${v}`);
  }
}

/** Validates a spec; throws ConfigError naming the bad field. */
export function validateSpec(spec: TransformSpec): void {
  switch (spec.kind) {
    case 'bit-train':
      checkSize('precrop', spec.precrop);
      checkSize('crop', spec.crop);
      if (spec.crop > spec.precrop) {
        throw new ConfigError(`transform bit-train: crop ${spec.crop} must be <= precrop ${spec.precrop}`);
      }
      return;
    case 'bit-eval':
      checkSize('crop', spec.crop);
      return;
    case 'rrc-train':
      checkSize('size', spec.size);
      return;
    case 'center-eval':
      checkSize('size', spec.size);
      if (spec.cropPct !== undefined && !(spec.cropPct > 0 && spec.cropPct <= 1)) {
        throw new ConfigError(`transform center-eval: cropPct must be in (0, 1], got ${spec.cropPct}`);
      }
      return;
    case 'plain':
      checkSize('size', spec.size);
      return;
    default:
      throw new ConfigError(`transform: unknown kind ${(spec as { kind: string }).kind}`);
  }
}

/**
 * Applies a transform spec to one decoded image: RGB conversion, geometry, color, scaling, HWC -> CHW.
 * @param rng per-sample generator (the loader derives it from (seed, epoch, position))
 */
export function applyTransform(spec: TransformSpec, image: RawImage, rng: Rng): ChwSample {
  const img = toRgb(image);
  switch (spec.kind) {
    case 'bit-train': {
      const resized = resize(img, spec.precrop, spec.precrop);
      const { top, left } = randomCropParams(rng, spec.precrop, spec.precrop, spec.crop, spec.crop);
      let v = cropView(toView(resized), top, left, spec.crop, spec.crop);
      if ((spec.hflip ?? true) && rng.nextFloat() < 0.5) v = hflipView(v);
      return viewToChw(v, 'pm1');
    }
    case 'bit-eval':
      return viewToChw(toView(resize(img, spec.crop, spec.crop)), 'pm1');
    case 'rrc-train': {
      const p = randomResizedCropParams(rng, img.height, img.width, spec.scale, spec.ratio);
      const cropped = fromView(cropView(toView(img), p.top, p.left, p.height, p.width));
      let out = resize(cropped, spec.size, spec.size);
      let v = toView(out);
      if ((spec.hflip ?? true) && rng.nextFloat() < 0.5) v = hflipView(v);
      if (spec.jitter) {
        out = colorJitter(fromView(v), rng, spec.jitter);
        v = toView(out);
      }
      return viewToChw(v, spec.scaling ?? 'imagenet');
    }
    case 'center-eval': {
      const pct = spec.cropPct ?? 0.875;
      const [h, w] = shorterSideSize(img.height, img.width, Math.floor(spec.size / pct));
      const { top, left } = centerCropParams(h, w, spec.size, spec.size);
      const out = resize(img, h, w, { region: { top, left, height: spec.size, width: spec.size } });
      return viewToChw(toView(out), spec.scaling ?? 'imagenet');
    }
    case 'plain': {
      const out = spec.size ? resize(img, spec.size, spec.size) : img;
      return viewToChw(toView(out), spec.scaling ?? 'pm1');
    }
    default:
      throw new ConfigError(`transform: unknown kind ${(spec as { kind: string }).kind}`);
  }
}
