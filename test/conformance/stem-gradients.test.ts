/**
 * Regression test for the "wrong wasm gradients of BiT-R50x1's stem and first stage" report (issue 22's PyTorch
 * comparison, batch 2 x 32 px): the stem (StdConv 7x7/2 pad 3, 3 -> C, then the fused zero-pad 3x3/2 max pool)
 * and the first bottleneck unit of stage 0, at each model's own widths (R50x1: 64/256, bit-small: 32/128,
 * bit-tiny: 16/64, bit-tiny-w24: 24/96, the reproductions' upstream), forward and backward on wasm and on the reference backend from identical weights and
 * input; every parameter's gradient must agree within float32 tolerance.
 *
 * What the report turned out to be: no wasm kernel was wrong. With the report's seeds
 * one pre-ReLU value of stage 0, unit 2 (its norm2 output) lies within 1e-6 of zero, so float32 rounding (a
 * different summation order) puts it on the other side of the kink on wasm than on the reference: one ReLU
 * mask entry differs, and that one entry moves every gradient upstream of it by 1-18% of the tensor's largest
 * entry. Forcing that single mask entry makes all 335 op outputs of the backward agree to 3e-6. So a
 * cross-backend gradient comparison is only meaningful where no ReLU input and no max-pool window sits within
 * float32 error of a kink: this test asserts that precondition on the reference (KINK_MARGIN) before it
 * compares, so a failure of the comparison itself is a backend fault, never a seed on a kink.
 */

import { afterAll, describe, expect, it } from 'vitest';
import { getModelEntry, type ResNetV2, resnetV2 } from '../../src/models/index.js';
import { disposeBackends, getBackend } from '../../src/tensor/backends/registry.js';
import type { Backend, Tensor } from '../../src/tensor/index.js';
import * as F from '../../src/tensor/index.js';
import { KINK_MARGIN, TOL } from '../tolerances.js';

afterAll(() => disposeBackends());

interface Case {
  model: string;
  n: number;
  px: number;
  /** init seed of the weights; input and output-weighting seeds are derived from it */
  seed: number;
}

/** Stem + pool + stage 0's first unit at the model's widths (the rest of the network is not built). */
function part(name: string, backend: Backend, seed: number): ResNetV2 {
  const arch = getModelEntry(name).arch;
  return resnetV2({ ...arch, blockUnits: [1], numClasses: 0, seed, backend });
}

const normals = (n: number, seed: number) => {
  const rng = new F.Rng(seed);
  return new Float32Array(n).map(() => rng.normal());
};

interface Side {
  grads: Map<string, Float32Array>;
  out: Float32Array;
  /** the stem conv's output [n, C, h, w] (the max pool's input) and its shape */
  stem: Float32Array;
  stemShape: number[];
  /** every ReLU input of the unit (norm1, norm2, norm3 outputs), flattened */
  preRelu: Float32Array[];
}

async function run(backend: Backend, c: Case): Promise<Side> {
  const net = part(c.model, backend, c.seed);
  const shape = [c.n, 3, c.px, c.px];
  const x = normals(c.n * 3 * c.px * c.px, c.seed + 1);
  const unit = net.stages.at(0).blocks.at(0);
  const { out, stem, preRelu } = F.tidy(() => {
    const xt = F.fromTyped(x, shape, { backend });
    const y = unit.forward(net.stem.forward(xt));
    const w = F.fromTyped(normals(y.size, c.seed + 2), [...y.shape], { backend });
    y.mul(w).sum().backward();
    // The ReLU inputs, recomputed by the unit's own layers in PreActBottleneck.forward's order (no grad).
    return F.noGrad(() => {
      const s = net.stem.conv.forward(xt);
      const a1 = unit.norm1.forward(net.stem.forward(xt));
      const a2 = unit.norm2.forward(unit.conv1.forward(a1.relu()));
      const a3 = unit.norm3.forward(unit.conv2.forward(a2.relu()));
      return { out: y.detach(), stem: s, preRelu: [a1, a2, a3] };
    });
  });
  const read = async (t: Tensor) => Float32Array.from((await t.data()) as Float32Array);
  const side: Side = {
    grads: new Map(),
    out: await read(out),
    stem: await read(stem),
    stemShape: [...stem.shape],
    preRelu: await Promise.all(preRelu.map(read)),
  };
  for (const [k, p] of net.namedParameters()) {
    if (k.startsWith('norm.')) continue; // the final GroupNorm: not part of this graph
    // every parameter of the graph must have received a gradient of its own shape before the values are compared
    expect(p.grad?.shape, `${c.model} ${k} has a gradient shaped like it`).toEqual(p.shape);
    side.grads.set(k, await read(p.grad!));
  }
  for (const t of [out, stem, ...preRelu]) t.dispose();
  net.dispose();
  return side;
}

/** Smallest |v| over the ReLU inputs. */
function reluMargin(pre: Float32Array[]): number {
  let m = Number.POSITIVE_INFINITY;
  for (const a of pre) for (const v of a) m = Math.min(m, Math.abs(v));
  return m;
}

/**
 * Smallest gap between the largest and second-largest candidate of any 3x3/2 pad-1 window of the stem's max
 * pool (the padding counts once, as the value 0: which padding cell wins makes no difference to the gradient).
 */
function poolMargin(s: Float32Array, [n, c, h, w]: number[]): number {
  const oh = Math.floor((h + 2 - 3) / 2) + 1;
  const ow = Math.floor((w + 2 - 3) / 2) + 1;
  let m = Number.POSITIVE_INFINITY;
  for (let p = 0; p < n! * c!; p++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const vals: number[] = [];
        let padded = false;
        for (let ky = 0; ky < 3; ky++) {
          for (let kx = 0; kx < 3; kx++) {
            const iy = oy * 2 - 1 + ky;
            const ix = ox * 2 - 1 + kx;
            if (iy < 0 || ix < 0 || iy >= h! || ix >= w!) padded = true;
            else vals.push(s[(p * h! + iy) * w! + ix]!);
          }
        }
        if (padded) vals.push(0);
        vals.sort((a, b) => b - a);
        m = Math.min(m, vals[0]! - vals[1]!);
      }
    }
  }
  return m;
}

const maxAbs = (a: Float32Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** max |a - b| / max |b|. */
function diffOfMax(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < b.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d / (maxAbs(b) || 1);
}

const CASES: Case[] = [
  { model: 'BiT-R50x1', n: 2, px: 32, seed: 7 },
  { model: 'bit-small', n: 2, px: 32, seed: 7 },
  { model: 'bit-tiny', n: 2, px: 32, seed: 7 },
  { model: 'bit-tiny-w24', n: 2, px: 32, seed: 8 }, // seed 7 puts a ReLU input at 9.4e-6: too near the kink
];

describe('wasm vs reference: stem + max pool + stage 0 unit 0 gradients at each model width', () => {
  for (const c of CASES) {
    it(`${c.model} (${c.n} x ${c.px} px): every parameter gradient agrees`, async () => {
      const ref = await run(await getBackend('reference'), c);
      // Precondition: the comparison is only meaningful away from the ReLU and max-pool kinks.
      const relu = reluMargin(ref.preRelu);
      const pool = poolMargin(ref.stem, ref.stemShape);
      const poolScale = maxAbs(ref.stem);
      expect(relu, `${c.model}: smallest |ReLU input| (a kink: pick another seed)`).toBeGreaterThan(KINK_MARGIN.relu);
      expect(pool / poolScale, `${c.model}: smallest max-pool gap (a near tie: pick another seed)`).toBeGreaterThan(
        KINK_MARGIN.poolOfMax,
      );
      const wasm = await run(await getBackend('wasm'), c);
      expect(diffOfMax(wasm.out, ref.out), `${c.model} unit output`).toBeLessThanOrEqual(TOL.netGradOfMax);
      expect(wasm.grads.size).toBe(ref.grads.size);
      const over: string[] = [];
      let worst = 0;
      for (const [k, g] of ref.grads) {
        const d = diffOfMax(wasm.grads.get(k)!, g);
        worst = Math.max(worst, d);
        if (!(d <= TOL.netGradOfMax)) over.push(`${k}: ${d.toExponential(2)} of its largest entry`);
      }
      console.log(
        `${c.model}: smallest |ReLU input| ${relu.toExponential(2)}, max-pool gap ${(pool / poolScale).toExponential(2)} ` +
          `of max; worst gradient diff ${worst.toExponential(2)} of the tensor's largest entry`,
      );
      expect(over, `${c.model}: gradients off (worst ${worst.toExponential(2)})`).toEqual([]);
    });
  }
});
