/**
 * Numerical gradient check in float64 (PyTorch's torch.autograd.gradcheck semantics): for a function f of
 * several tensor inputs returning one tensor, compare the analytic vector-Jacobian product with central
 * differences. Uses a fixed random projection `r` of the output so one backward per input suffices:
 *   analytic: d<r, f(x)>/dx via backward;  numeric: (<r, f(x+eps e_i)> - <r, f(x-eps e_i)>) / 2eps.
 * Defaults: eps 1e-6, atol 1e-5, rtol 1e-3. Inputs must be float64 and require grad.
 */

import { AutogradError, DTypeError } from '../errors.js';
import { fromTyped } from '../tensor/creation.js';
import { noGrad, tidy } from '../tensor/engine.js';
import { Rng } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';

export interface GradcheckOptions {
  eps?: number;
  atol?: number;
  rtol?: number;
  seed?: number;
}

export interface GradcheckResult {
  ok: boolean;
  /** Largest |analytic - numeric| - (atol + rtol*|numeric|) over all inputs (<= 0 when ok). */
  worst: number;
  message: string;
}

/** Check gradients of f at `inputs`. Returns a result; use `assertGradcheck` to throw on failure. */
export function gradcheck(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], o: GradcheckOptions = {}): GradcheckResult {
  const eps = o.eps ?? 1e-6;
  const atol = o.atol ?? 1e-5;
  const rtol = o.rtol ?? 1e-3;
  for (const x of inputs) {
    if (x.dtype !== 'float64') throw new DTypeError(`gradcheck: inputs must be float64, got ${x.dtype}`);
  }
  const rng = new Rng(o.seed ?? 1234);
  // output projection
  const outShape = noGrad(() => tidy(() => [...f(...inputs).shape]));
  const rSize = outShape.reduce((p, d) => p * d, 1);
  const rv = new Float64Array(rSize);
  rng.fillNormal(rv);
  const project = (xs: Tensor[]): number =>
    noGrad(() =>
      tidy(() => {
        const y = f(...xs);
        const d = y.dataSync();
        let s = 0;
        for (let i = 0; i < d.length; i++) s += d[i] * rv[i];
        return s;
      }),
    );
  // analytic
  for (const x of inputs) x.zeroGrad();
  tidy(() => {
    const y = f(...inputs);
    if (!y.requiresGrad) throw new AutogradError('gradcheck: output does not require grad');
    const r = fromTyped(rv, y.shape, { dtype: 'float64', backend: y.backend });
    y.backward(r);
  });
  let worst = Number.NEGATIVE_INFINITY;
  let message = 'ok';
  inputs.forEach((x, xi) => {
    if (!x.requiresGrad) return;
    const analytic = x.grad ? x.grad.dataSync() : new Float64Array(x.size);
    const base = x.dataSync();
    for (let i = 0; i < x.size; i++) {
      const plus = Float64Array.from(base);
      plus[i] += eps;
      const minus = Float64Array.from(base);
      minus[i] -= eps;
      const at = (v: Float64Array) =>
        project(inputs.map((t, j) => (j === xi ? fromTyped(v, t.shape, { dtype: 'float64', backend: t.backend }) : t)));
      const num = tidy(() => (at(plus) - at(minus)) / (2 * eps));
      const excess = Math.abs(analytic[i] - num) - (atol + rtol * Math.abs(num));
      if (excess > worst) {
        worst = excess;
        if (excess > 0) message = `input ${xi} [${x.shape}] element ${i}: analytic ${analytic[i]} vs numeric ${num}`;
      }
    }
  });
  return { ok: worst <= 0, worst, message };
}

/** gradcheck that throws an AutogradError with the first mismatch. */
export function assertGradcheck(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], o: GradcheckOptions = {}): void {
  const r = gradcheck(f, inputs, o);
  if (!r.ok) throw new AutogradError(`gradcheck failed: ${r.message}`);
}
