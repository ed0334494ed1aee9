/**
 * What makes BiT visible on the page, computed from a live model with asynchronous readback only:
 *  - the stem filters before and after Weight Standardization (each output filter of the 7x7 stem conv has zero
 *    mean and unit variance after WS, whatever the raw weights drifted to);
 *  - per-layer GroupNorm statistics on one batch: the mean and std of each GroupNorm's input (which drift layer by
 *    layer) and of its output per group (close to 0 / 1 before the affine step, independent of the batch size).
 * Pure functions of the model and a batch; nothing here changes the model.
 */

import type { ResNetV2 } from '../../src/models/index.js';
import { GroupNorm } from '../../src/nn/norm.js';
import { fromTyped, keep, noGrad, type Tensor, tidy, weightStandardize } from '../../src/tensor/index.js';

/** Stem conv weights [out, in, k, k] as host arrays, raw and standardized. */
export interface StemFilters {
  shape: number[];
  raw: Float32Array;
  ws: Float32Array;
}

export async function stemFilters(model: ResNetV2): Promise<StemFilters> {
  const w = model.stem.conv.weight;
  const std = noGrad(() => weightStandardize(w, 1e-10));
  const raw = Float32Array.from(await w.data());
  const ws = Float32Array.from(await std.data());
  std.dispose();
  return { shape: [...w.shape], raw, ws };
}

/** Mean and (population) std of a host array. */
export function moments(v: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]!;
  const mean = s / v.length;
  let q = 0;
  for (let i = 0; i < v.length; i++) q += (v[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(q / v.length) };
}

/** One GroupNorm layer's numbers on a batch. */
export interface GnRow {
  name: string;
  channels: number;
  groups: number;
  inMean: number;
  inStd: number;
  /** Over (sample, group): the largest |mean| and the std range of the normalized output (y - beta) / gamma. */
  normMaxAbsMean: number;
  normStdMin: number;
  normStdMax: number;
}

/** Run `images` [N,3,H,W] through the model and measure every GroupNorm's input and normalized output. */
export async function groupNormStats(model: ResNetV2, images: Float32Array, shape: number[]): Promise<GnRow[]> {
  const layers = model.namedModules().filter(([, m]) => m instanceof GroupNorm) as [string, GroupNorm][];
  const seen: { name: string; gn: GroupNorm; x: Tensor; y: Tensor }[] = [];
  const saved = layers.map(([name, gn]) => {
    const orig = gn.forward.bind(gn);
    const origRelu = gn.forwardRelu.bind(gn);
    gn.forward = (x: Tensor) => {
      const y = orig(x);
      seen.push({ name, gn, x: keep(x.detach()), y: keep(y.detach()) });
      return y;
    };
    // the model's pre-activation calls the fused GroupNorm + ReLU: measured here before its ReLU, as unfused
    gn.forwardRelu = (x: Tensor) => gn.forward(x).relu();
    return () => {
      gn.forward = orig;
      gn.forwardRelu = origRelu;
    };
  });
  model.eval();
  try {
    noGrad(() => tidy(() => model.forward(fromTyped(images, shape))));
  } finally {
    for (const undo of saved) undo();
    model.train();
  }
  const rows: GnRow[] = [];
  for (const { name, gn, x, y } of seen) {
    const xv = await x.data();
    const yv = await y.data();
    const gamma = await gn.weight.data();
    const beta = await gn.bias.data();
    x.dispose();
    y.dispose();
    const [n, c] = x.shape as [number, number];
    const per = xv.length / (n * c);
    const g = gn.numGroups;
    const cg = c / g;
    let maxAbs = 0;
    let sMin = Number.POSITIVE_INFINITY;
    let sMax = 0;
    const z = new Float32Array(cg * per);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < g; k++) {
        for (let j = 0; j < cg; j++) {
          const ch = k * cg + j;
          const a = (i * c + ch) * per;
          for (let p = 0; p < per; p++) z[j * per + p] = (yv[a + p]! - beta[ch]!) / gamma[ch]!;
        }
        const m = moments(z);
        maxAbs = Math.max(maxAbs, Math.abs(m.mean));
        sMin = Math.min(sMin, m.std);
        sMax = Math.max(sMax, m.std);
      }
    }
    const all = moments(xv);
    rows.push({
      name,
      channels: c,
      groups: g,
      inMean: all.mean,
      inStd: all.std,
      normMaxAbsMean: maxAbs,
      normStdMin: sMin,
      normStdMax: sMax,
    });
  }
  return rows;
}
