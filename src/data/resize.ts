/**
 * Separable bilinear (triangle-filter) resampling of HWC images, following Pillow's `ImagingResample`:
 * half-pixel centers (`center = (i + 0.5) * scale`, the align_corners=False convention of torch), and with
 * `antialias` (the default, as Pillow) the filter support is widened by the downscale factor so strong
 * downscaling averages over the whole footprint instead of aliasing. With `antialias: false` the result equals
 * torch `interpolate(mode='bilinear', align_corners=False)`. Weights are non-negative and normalized, so the
 * output stays within the input's value range. Output is Float32 (no intermediate rounding, unlike Pillow's
 * 8-bit path). An optional output `region` computes only a crop of the resized image (crop fused into resize).
 */
import { ConfigError } from '../errors.js';
import type { RawImage } from './image.js';

/** Per-output-pixel filter taps along one axis. */
export interface AxisCoeffs {
  /** first input index of each output position */
  start: Int32Array;
  /** number of taps of each output position */
  count: Int32Array;
  /** weights, `ksize` slots per output position */
  weights: Float64Array;
  ksize: number;
}

const coeffCache = new Map<string, AxisCoeffs>();

/** Triangle (bilinear) filter. */
function triangle(x: number): number {
  const a = Math.abs(x);
  return a < 1 ? 1 - a : 0;
}

/**
 * Filter taps mapping `inSize` samples to `outSize` samples (Pillow's precompute_coeffs with the bilinear filter).
 * @param antialias widen the support by the downscale factor (Pillow/torch antialias=True behaviour)
 */
export function axisCoeffs(inSize: number, outSize: number, antialias = true): AxisCoeffs {
  const key = `${inSize},${outSize},${antialias ? 1 : 0}`;
  const hit = coeffCache.get(key);
  if (hit) return hit;
  const scale = inSize / outSize;
  const filterscale = antialias ? Math.max(scale, 1) : 1;
  const support = filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    const w = new Float64Array(xmax);
    for (let x = 0; x < xmax; x++) {
      const v = triangle((x + xmin - center + 0.5) * ss);
      w[x] = v;
      ww += v;
    }
    // Trim zero-weight taps at both ends so the inner loops touch only useful pixels.
    let lo = 0;
    let hi = xmax;
    while (lo < hi && w[lo] === 0) lo++;
    while (hi > lo && w[hi - 1] === 0) hi--;
    start[xx] = xmin + lo;
    count[xx] = hi - lo;
    for (let x = lo; x < hi; x++) weights[xx * ksize + x - lo] = ww !== 0 ? w[x]! / ww : 0;
  }
  const c: AxisCoeffs = { start, count, weights, ksize };
  if (coeffCache.size > 256) coeffCache.clear();
  coeffCache.set(key, c);
  return c;
}

/** A rectangle of the output grid: rows `top..top+height`, columns `left..left+width`. */
export interface Region {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** Options of `resize`. */
export interface ResizeOptions {
  /** widen the filter when downscaling (Pillow-style); default true */
  antialias?: boolean;
  /** compute only this crop of the `outH x outW` result; default the whole image */
  region?: Region;
}

/**
 * Bilinear resize of an HWC image to `outH x outW` (or a `region` of that grid).
 * @returns a Float32 HWC image of the region's size, values within the input's range
 * @throws ConfigError for non-positive sizes or a region outside the output grid
 */
export function resize(img: RawImage, outH: number, outW: number, opts: ResizeOptions = {}): RawImage {
  const { height: H, width: W, channels: C, data } = img;
  if (!(Number.isInteger(outH) && Number.isInteger(outW) && outH > 0 && outW > 0)) {
    throw new ConfigError(`resize: output size must be positive integers, got ${outH}x${outW}`);
  }
  const antialias = opts.antialias ?? true;
  const r = opts.region ?? { top: 0, left: 0, height: outH, width: outW };
  if (r.top < 0 || r.left < 0 || r.height < 1 || r.width < 1 || r.top + r.height > outH || r.left + r.width > outW) {
    throw new ConfigError(
      `resize: region ${r.height}x${r.width} at (${r.top}, ${r.left}) is outside the ${outH}x${outW} output`,
    );
  }
  const cx = axisCoeffs(W, outW, antialias);
  const cy = axisCoeffs(H, outH, antialias);
  // Input rows the vertical pass needs for the region.
  let y0 = H;
  let y1 = 0;
  for (let y = r.top; y < r.top + r.height; y++) {
    y0 = Math.min(y0, cy.start[y]!);
    y1 = Math.max(y1, cy.start[y]! + cy.count[y]!);
  }
  if (y1 <= y0) y1 = y0 + 1;
  const rw = r.width;
  // Horizontal pass: rows y0..y1 of the input -> (y1-y0) x rw x C.
  const tmp = new Float32Array((y1 - y0) * rw * C);
  const kx = cx.ksize;
  const wx = cx.weights;
  for (let y = y0; y < y1; y++) {
    const inRow = y * W * C;
    const tRow = (y - y0) * rw * C;
    for (let xo = 0; xo < rw; xo++) {
      const x = r.left + xo;
      const n = cx.count[x]!;
      const wOff = x * kx;
      let p = inRow + cx.start[x]! * C;
      const o = tRow + xo * C;
      if (C === 3) {
        let a0 = 0;
        let a1 = 0;
        let a2 = 0;
        for (let t = 0; t < n; t++, p += 3) {
          const wt = wx[wOff + t]!;
          a0 += wt * data[p]!;
          a1 += wt * data[p + 1]!;
          a2 += wt * data[p + 2]!;
        }
        tmp[o] = a0;
        tmp[o + 1] = a1;
        tmp[o + 2] = a2;
        continue;
      }
      for (let c = 0; c < C; c++) {
        let acc = 0;
        for (let t = 0, q = p + c; t < n; t++, q += C) acc += wx[wOff + t]! * data[q]!;
        tmp[o + c] = acc;
      }
    }
  }
  // Vertical pass.
  const out = new Float32Array(r.height * rw * C);
  const ky = cy.ksize;
  const wy = cy.weights;
  const rowLen = rw * C;
  for (let yo = 0; yo < r.height; yo++) {
    const y = r.top + yo;
    const s = cy.start[y]! - y0;
    const n = cy.count[y]!;
    const oRow = yo * rowLen;
    for (let t = 0; t < n; t++) {
      const wt = wy[y * ky + t]!;
      const tRow = (s + t) * rowLen;
      for (let k = 0; k < rowLen; k++) out[oRow + k]! += wt * tmp[tRow + k]!;
    }
  }
  return { data: out, height: r.height, width: rw, channels: C };
}

/**
 * Output size when the shorter side is resized to `size`, keeping the aspect ratio
 * (torchvision: the longer side is `floor(size * long / short)`).
 */
export function shorterSideSize(height: number, width: number, size: number): [number, number] {
  if (height <= width) return [size, Math.floor((size * width) / height)];
  return [Math.floor((size * height) / width), size];
}
