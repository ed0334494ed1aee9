/**
 * libjpeg-turbo's integer arithmetic for the steps after entropy decoding, written out so that 4-channel JPEGs
 * (Adobe CMYK / YCCK) decode to the same bytes as PIL (Pillow on libjpeg-turbo, default settings):
 * the "islow" inverse DCT (jidctint.c), "fancy" triangle chroma upsampling with its edge rules (jdsample.c,
 * context rows of jdmainct.c), YCCK -> CMYK with the fixed-point tables (jdcolor.c), and Pillow's CMYK -> RGB
 * (Convert.c cmyk2rgb on the Adobe-inverted "CMYK;I" values).
 * Invariants: every function is integer-exact (no floats after the tables are built); planes are 8-bit,
 * row-major with an explicit stride; out-of-range IDCT results are clamped to 0..255 (libjpeg wraps values
 * beyond +-512, which only corrupt data reaches).
 */

const CONST_BITS = 13;
const PASS1_BITS = 2;
const F_0_298 = 2446;
const F_0_390 = 3196;
const F_0_541 = 4433;
const F_0_765 = 6270;
const F_0_899 = 7373;
const F_1_175 = 9633;
const F_1_501 = 12299;
const F_1_847 = 15137;
const F_1_961 = 16069;
const F_2_053 = 16819;
const F_2_562 = 20995;
const F_3_072 = 25172;

const clamp8 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : v);

/**
 * One 1-D islow pass over 8 values at `src[o + k*step]` (already dequantized / from pass 1), written to
 * `dst[d + k*dstep]` after `(x + round) >> shift`; `add` is added after the shift (128 in pass 2).
 */
function idct1d(
  s: Int32Array,
  o: number,
  step: number,
  dst: Int32Array,
  d: number,
  dstep: number,
  shift: number,
  add: number,
): void {
  const round = 1 << (shift - 1);
  let z2 = s[o + 2 * step]!;
  let z3 = s[o + 6 * step]!;
  let z1 = (z2 + z3) * F_0_541;
  let tmp2 = z1 - z3 * F_1_847;
  let tmp3 = z1 + z2 * F_0_765;
  z2 = s[o]!;
  z3 = s[o + 4 * step]!;
  let tmp0 = (z2 + z3) * (1 << CONST_BITS);
  let tmp1 = (z2 - z3) * (1 << CONST_BITS);
  const tmp10 = tmp0 + tmp3;
  const tmp13 = tmp0 - tmp3;
  const tmp11 = tmp1 + tmp2;
  const tmp12 = tmp1 - tmp2;
  tmp0 = s[o + 7 * step]!;
  tmp1 = s[o + 5 * step]!;
  tmp2 = s[o + 3 * step]!;
  tmp3 = s[o + step]!;
  z1 = tmp0 + tmp3;
  z2 = tmp1 + tmp2;
  z3 = tmp0 + tmp2;
  let z4 = tmp1 + tmp3;
  const z5 = (z3 + z4) * F_1_175;
  tmp0 *= F_0_298;
  tmp1 *= F_2_053;
  tmp2 *= F_3_072;
  tmp3 *= F_1_501;
  z1 *= -F_0_899;
  z2 *= -F_2_562;
  z3 = z3 * -F_1_961 + z5;
  z4 = z4 * -F_0_390 + z5;
  tmp0 += z1 + z3;
  tmp1 += z2 + z4;
  tmp2 += z2 + z3;
  tmp3 += z1 + z4;
  dst[d] = ((tmp10 + tmp3 + round) >> shift) + add;
  dst[d + 7 * dstep] = ((tmp10 - tmp3 + round) >> shift) + add;
  dst[d + dstep] = ((tmp11 + tmp2 + round) >> shift) + add;
  dst[d + 6 * dstep] = ((tmp11 - tmp2 + round) >> shift) + add;
  dst[d + 2 * dstep] = ((tmp12 + tmp1 + round) >> shift) + add;
  dst[d + 5 * dstep] = ((tmp12 - tmp1 + round) >> shift) + add;
  dst[d + 3 * dstep] = ((tmp13 + tmp0 + round) >> shift) + add;
  dst[d + 4 * dstep] = ((tmp13 - tmp0 + round) >> shift) + add;
}

const work = new Int32Array(64);
const deq = new Int32Array(64);
const rows = new Int32Array(64);

/**
 * libjpeg's islow 8x8 inverse DCT of one block.
 * @param coef 64 quantized coefficients in natural (row-major) order
 * @param quant the component's 64 quantization steps, natural order
 * @param out the 8-bit plane; the block lands at rows y0..y0+7, columns x0..x0+7 (`stride` bytes per row)
 */
export function idctIslow(
  coef: ArrayLike<number>,
  quant: ArrayLike<number>,
  out: Uint8Array,
  stride: number,
  x0: number,
  y0: number,
): void {
  for (let i = 0; i < 64; i++) deq[i] = coef[i]! * quant[i]!;
  // pass 1: columns, kept at PASS1_BITS extra precision (the zero-AC shortcut of jidctint.c gives the same values)
  for (let c = 0; c < 8; c++) idct1d(deq, c, 8, work, c, 8, CONST_BITS - PASS1_BITS, 0);
  // pass 2: rows, descaled by 2^(PASS1_BITS+3) and level-shifted by 128
  for (let r = 0; r < 8; r++) idct1d(work, 8 * r, 1, rows, 8 * r, 1, CONST_BITS + PASS1_BITS + 3, 128);
  for (let r = 0; r < 8; r++) {
    const o = (y0 + r) * stride + x0;
    for (let c = 0; c < 8; c++) out[o + c] = clamp8(rows[8 * r + c]!);
  }
}

/** An 8-bit sample plane: `width` x `height` real samples inside rows of `stride` bytes. */
export interface Plane {
  data: Uint8Array;
  width: number;
  height: number;
  stride: number;
}

/**
 * libjpeg-turbo's upsampling of one component to the full `width` x `height` (jdsample.c, do_fancy_upsampling
 * on, no DCT scaling): h2v1 and h2v2 use the triangle filter (3/4 nearer + 1/4 further, with libjpeg's
 * alternating rounding biases) when the component is wider than 2 samples, h1v2 always; other integer ratios
 * (and narrow h2 components) replicate. Edges repeat the first / last real sample (row or column).
 * @param hs,vs output samples per input sample (max factor / this component's factor), each >= 1
 * @returns width x height samples, row-major (stride = width)
 */
export function upsampleLibjpeg(p: Plane, hs: number, vs: number, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  const { data, stride } = p;
  const w = p.width;
  const rowAt = (iy: number): number => Math.min(Math.max(iy, 0), p.height - 1) * stride;
  const h2 = hs === 2 && w > 2;
  const mode = h2 && vs === 2 ? 'h2v2' : h2 && vs === 1 ? 'h2v1' : hs === 1 && vs === 2 ? 'h1v2' : 'replicate';
  const sum = new Int32Array(w); // h2v2: column sums 3 * nearer row + further row
  for (let y = 0; y < height; y++) {
    const o = y * width;
    if (mode === 'replicate') {
      const r = Math.floor(y / vs) * stride;
      for (let x = 0; x < width; x++) out[o + x] = data[r + Math.floor(x / hs)]!;
    } else if (mode === 'h2v1') {
      // out[2i] = (3 in[i] + in[i-1] + 1) >> 2, out[2i+1] = (3 in[i] + in[i+1] + 2) >> 2
      const r = y * stride;
      for (let i = 0; 2 * i < width; i++) {
        const v3 = 3 * data[r + i]!;
        out[o + 2 * i] = (v3 + data[r + (i > 0 ? i - 1 : 0)]! + 1) >> 2;
        if (2 * i + 1 < width) out[o + 2 * i + 1] = (v3 + data[r + (i + 1 < w ? i + 1 : w - 1)]! + 2) >> 2;
      }
    } else {
      // the row above (even output rows) or below (odd ones) is the further one
      const near = rowAt(y >> 1);
      const far = rowAt(y & 1 ? (y >> 1) + 1 : (y >> 1) - 1);
      if (mode === 'h1v2') {
        const bias = y & 1 ? 2 : 1;
        for (let x = 0; x < width; x++) out[o + x] = (3 * data[near + x]! + data[far + x]! + bias) >> 2;
        continue;
      }
      for (let i = 0; i < w; i++) sum[i] = 3 * data[near + i]! + data[far + i]!;
      // out[2i] = (3 sum[i] + sum[i-1] + 8) >> 4, out[2i+1] = (3 sum[i] + sum[i+1] + 7) >> 4
      for (let i = 0; 2 * i < width; i++) {
        const s3 = 3 * sum[i]!;
        out[o + 2 * i] = (s3 + sum[i > 0 ? i - 1 : 0]! + 8) >> 4;
        if (2 * i + 1 < width) out[o + 2 * i + 1] = (s3 + sum[i + 1 < w ? i + 1 : w - 1]! + 7) >> 4;
      }
    }
  }
  return out;
}

const FIX16 = (x: number): number => Math.floor(x * 65536 + 0.5);
const CR_R = new Int32Array(256);
const CB_B = new Int32Array(256);
const CR_G = new Int32Array(256);
const CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (FIX16(1.402) * x + 32768) >> 16;
  CB_B[i] = (FIX16(1.772) * x + 32768) >> 16;
  CR_G[i] = -FIX16(0.71414) * x;
  CB_G[i] = -FIX16(0.34414) * x + 32768;
}

/**
 * libjpeg's YCCK -> CMYK for one pixel (jdcolor.c ycck_cmyk_convert): C = 255 - R, M = 255 - G, Y = 255 - B of
 * the YCbCr -> RGB conversion with libjpeg's 16-bit fixed-point tables; K passes through.
 * @param out receives [c, m, y] (K unchanged); a new array when omitted
 * @returns `out`
 */
export function ycckToCmy(y: number, cb: number, cr: number, out: Uint8Array = new Uint8Array(3)): Uint8Array {
  out[0] = clamp8(255 - (y + CR_R[cr]!));
  out[1] = clamp8(255 - (y + ((CB_G[cb]! + CR_G[cr]!) >> 16)));
  out[2] = clamp8(255 - (y + CB_B[cb]!));
  return out;
}

/**
 * Pillow's CMYK -> RGB of one channel for a JPEG's CMYK as libjpeg outputs it: Pillow stores Adobe CMYK
 * inverted ("CMYK;I": v' = 255 - v), then cmyk2rgb computes nk - nk * v' / 255 with nk = 255 - k' = k,
 * rounded as its MULDIV255.
 * @param v libjpeg's C, M or Y sample; @param k libjpeg's K sample
 */
export function pilCmykChannelToRgb(v: number, k: number): number {
  const t = (255 - v) * k + 128;
  return clamp8(k - (((t >> 8) + t) >> 8));
}
