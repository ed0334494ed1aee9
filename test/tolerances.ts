/**
 * Every numerical tolerance the test suite uses, in one place (DEVELOPERS.md). float32 backends are compared
 * with the reference backend; float64 gradcheck runs on the reference backend only.
 */

export const TOL = {
  /** elementwise ops, float32 vs reference */
  elementwise: { rtol: 1e-5, atol: 1e-6 },
  /** matmul, conv, reductions: forward and gradients, float32 */
  linear: { rtol: 1e-3, atol: 1e-4 },
  /** GroupNorm forward / gradients, float32 */
  groupNormFwd: { rtol: 5e-6, atol: 5e-6 },
  groupNormGrad: { rtol: 5e-4, atol: 5e-4 },
  /** float64 gradcheck (PyTorch defaults) */
  gradcheck: { eps: 1e-6, atol: 1e-5, rtol: 1e-3 },
  /** adjoint identity <Lx, y> = <x, L^T y> in float64 (relative to the magnitude) */
  adjoint: { rtol: 1e-10 },
  /** golden values from PyTorch float32 */
  golden: { rtol: 1e-4, atol: 1e-5 },
  /**
   * 4-channel JPEGs against PIL's convert('RGB'), in grey levels: 0, since src/data/libjpeg-exact.ts does
   * libjpeg-turbo's integer IDCT, fancy upsampling and YCCK tables and Pillow's CMYK -> RGB rounding (jpeg-js's
   * own path was 1 (CMYK) / 3 (YCCK) levels off at 4:4:4 and 59-159 levels off on 4:2:2 / 4:2:0 files)
   */
  jpegCmykLevels: 0,
  jpegYcckLevels: 0,
  /** training runs compared across backends (losses, parameters) */
  training: { rtol: 1e-3, atol: 1e-4 },
  /**
   * a network's forward output and parameter gradients, float32 backend vs reference, away from kinks
   * (KINK_MARGIN): max |diff| as a fraction of each tensor's largest entry (measured: <= 3.5e-5 over the whole
   * BiT-R50x1 at 2 x 32 px; one flipped ReLU mask entry gives 1e-2 to 2e-1)
   */
  netGradOfMax: 1e-4,
} as const;

/**
 * How far inputs must stay from the kinks of the piecewise-linear ops before gradients from two float32
 * backends can be compared: float32 rounding moves GN-normalized values by ~1e-6 across backends, enough to put a
 * value at the ReLU kink on its other side (a different mask entry, a different gradient upstream) or to swap a
 * max-pool window's winner. relu: smallest |ReLU input| (GN-normalized units); poolOfMax: smallest gap between a
 * window's maximum and its runner-up, as a fraction of the pooled map's largest entry.
 */
export const KINK_MARGIN = { relu: 2e-5, poolOfMax: 1e-6 } as const;

/** Max over i of |a_i - b_i| - (atol + rtol*|b_i|); <= 0 means close. */
export function closeness(a: ArrayLike<number>, b: ArrayLike<number>, t: { rtol: number; atol: number }): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let worst = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]) - (t.atol + t.rtol * Math.abs(b[i]));
    if (Number.isNaN(e)) return Number.POSITIVE_INFINITY;
    if (e > worst) worst = e;
  }
  return a.length === 0 ? 0 : worst;
}

/** Throws with the first offending index when a and b are not close. */
export function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, t: { rtol: number; atol: number }, what = '') {
  if (a.length !== b.length) throw new Error(`${what}: length ${a.length} vs ${b.length}`);
  for (let i = 0; i < a.length; i++) {
    const tol = t.atol + t.rtol * Math.abs(b[i]);
    if (!(Math.abs(a[i] - b[i]) <= tol)) {
      throw new Error(`${what}: element ${i}: ${a[i]} vs ${b[i]} (tol ${tol})`);
    }
  }
}

/**
 * bit-ts against PyTorch (interop/torch), float32 on both sides, different summation orders: logits and the
 * mean loss (rtol 1e-4); gradients against PyTorch's float64 of the same input, within 4x PyTorch float32's
 * own error or 2e-5 of the tensor's largest entry (random-init R50x1 is ill-conditioned: torch's float32
 * first-stage gradients are ~1e-2 of their maximum away from float64, so a fixed relative bound cannot hold), per-step training losses and weights after a few SGD steps (1e-4 relative),
 * and DDP (2 gloo ranks) against one process on the same global batch (losses within 1e-5 relative: only the
 * all-reduce's summation order differs).
 */
export const TORCH_TOL = {
  /** max |logit diff| <= this x max |logit| */
  logitsOfMax: 1e-4,
  loss: { rtol: 5e-5, atol: 1e-6 },
  /** bit-ts float32 gradient error (to PyTorch float64) <= factor x PyTorch float32's own + floor x max |g| */
  gradErrFactor: 4,
  gradFloor: 2e-5,
  trainLoss: { rtol: 1e-4, atol: 1e-6 },
  weightsOfMax: 1e-4,
  ddpLoss: { rtol: 1e-5, atol: 1e-6 },
  /** evaluation inputs in [-1, 1] built by both sides from the same JPEGs (decoding equal, float resizing) */
  pixels: 1e-5,
} as const;
