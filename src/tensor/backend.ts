/**
 * The Backend seam: one method per primitive the engine needs. A backend that lacks a primitive does not
 * compile (every method is required). Backends hold no gradient logic: autograd composes these primitives.
 *
 * Invariants every backend keeps:
 * - Buffers are flat, row-major and owned by the backend. Kernels read contiguous inputs unless a parameter is a
 *   `StridedView` (elementwise binary/where and `copy` read strided views, so broadcasting needs no copy).
 * - Every primitive returns a NEW buffer except the explicitly in-place ones (`copy` into `dst`, `fill`,
 *   `sgdUpdate`), so outputs never alias inputs.
 * - Ops are synchronous to call. Reading back may be asynchronous (`read`); `readSync` throws a BackendError
 *   where the device cannot read back synchronously (gpu.js webgpu).
 * - Values are float32 or float64; integer results (argmax, pool indices) are stored as floats (exact < 2^24).
 *
 * Non-finite values (NaN, ±Infinity), the same on every backend, webgpu included (the reference defines them;
 * test/tensor/backends/gpujs/numerics.test.ts checks every gpu.js mode and wasm against it):
 * - Elementwise ops follow the op table's JS semantics (op-table.ts) at NaN and ±Infinity: e.g. log(0) = log(-0)
 *   = -Infinity, log(x < 0) = log(-Infinity) = NaN, log(+Infinity) = +Infinity, exp(NaN) = NaN, NaN != x is 1,
 *   pow as JS's `**` (NaN ** 0 = 1, 1 ** Infinity = NaN, 0 ** -1 = Infinity, (-2) ** 0.5 = NaN).
 * - `reduce`: sum follows IEEE addition (a NaN, or +Infinity with -Infinity, gives NaN); max/min of a row holding
 *   a NaN are NaN and argmax/argmin give the index of the row's FIRST NaN.
 * - `maxPool2d`: a window holding a NaN outputs NaN, and its index is the first NaN's in window order (ky, kx).
 * - `where` takes a for every non-zero condition, NaN included (`cond != 0`); `fill`, `copy`, `upload` and `read`
 *   keep NaN and ±Infinity as they are.
 * - Sums and statistics accumulate with error growing slower than n (gpu.js: `reduce` sums compensated, GroupNorm /
 *   WS statistics shifted and blocked), so the large-mean case x = 1000 + 0.1 N(0, 1) is within 2x of the float32
 *   reference's error (the reference accumulates in float64).
 * How gpujs-webgpu keeps this, and where it cannot: WGSL builtins are not IEEE at the edges (SwiftShader:
 * log(0) = -88.03, log(-2) = log 2, exp(NaN) = +Infinity), `!=` is an ordered compare and compilers may assume
 * no NaN (`x != x` can fold to false); gpu.js 2.24 emits no f32 bitcast and no native WGSL, and writes an
 * Infinity literal as the largest finite float. So the kernels take +Infinity as a run-time argument (a uniform):
 * `!(v <= inf)` is the NaN test, `-inf` and `inf - inf` the non-finite results (gpujs/kernels/nonfinite.ts).
 * Limits left on webgpu: a driver that compiles with fast-math (no-NaN assumption, reassociation) may still fold
 * those tests and drop the sums' compensation (the blocking still bounds the error);
 * subnormal results flush to 0 (exp(-100) = 0, not 3.8e-44); exp/log/pow/tanh/sigmoid are within a few ulp
 * (about 3e-7 relative on SwiftShader), not correctly rounded. The trainer's NaN guard checks the loss on the host
 * (Number.isFinite), so a diverging run stops on every backend (test/train/webgpu-nan-guard.test.ts).
 */

import type { DType } from './dtype.js';
import type { BinaryOp, UnaryOp } from './op-table.js';

/** A backend-owned flat buffer. `size` counts elements. Opaque to the engine beyond these fields. */
export interface BackendBuffer {
  readonly size: number;
  readonly dtype: DType;
}

/** A strided read of a buffer: element (i0..ik) lives at `offset + sum(i_j * strides[j])`. */
export interface StridedView {
  readonly buf: BackendBuffer;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/** Elementwise op names: defined, with their semantics and gradients, in the op table (op-table.ts). */
export type { BinaryOp, UnaryOp };

/**
 * Reductions over the LAST axis of a contiguous [outer, inner] buffer. arg* return the index as a float; a NaN in
 * the row makes max/min NaN and arg* the first NaN's index (see "Non-finite values" above).
 */
export type ReduceOp = 'sum' | 'max' | 'min' | 'argmax' | 'argmin';

/**
 * Geometry of a 2-D convolution in NCHW / OIHW layout. Symmetric zero padding, no dilation.
 * `groups` divides cin and cout; weight shape is [cout, cin/groups, kh, kw].
 * oh = floor((h + 2*pad - kh)/stride) + 1, likewise ow.
 */
export interface Conv2dGeom {
  readonly n: number;
  readonly cin: number;
  readonly h: number;
  readonly w: number;
  readonly cout: number;
  readonly kh: number;
  readonly kw: number;
  readonly stride: number;
  readonly pad: number;
  readonly groups: number;
  readonly oh: number;
  readonly ow: number;
}

/** Geometry of 2-D pooling over NCHW without padding (average pooling). oh = floor((h - kh) / stride) + 1. */
export interface Pool2dGeom {
  readonly n: number;
  readonly c: number;
  readonly h: number;
  readonly w: number;
  readonly kh: number;
  readonly kw: number;
  readonly stride: number;
  readonly oh: number;
  readonly ow: number;
}

/**
 * Geometry of 2-D max pooling over NCHW with `pad` cells of value `padValue` on every side (-Infinity: PyTorch's
 * MaxPool2d padding; 0: BiT's stem, ConstantPad2d(1, 0) before the pool). h, w are the unpadded input's;
 * oh = floor((h + 2*pad - kh) / stride) + 1. The padding is never materialized.
 */
export interface MaxPool2dGeom extends Pool2dGeom {
  readonly pad: number;
  readonly padValue: number;
}

/** GroupNorm over x of shape [n, c, hw] (contiguous) with `groups` groups of c/groups channels. */
export interface GroupNormGeom {
  readonly n: number;
  readonly c: number;
  readonly hw: number;
  readonly groups: number;
  readonly eps: number;
}

/** SGD hyper-parameters for one fused update (PyTorch semantics, see src/nn/optim/sgd.ts). */
export interface SgdParams {
  readonly lr: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  /** True on the first step for this parameter: the momentum buffer is set to the gradient (no dampening). */
  readonly firstStep: boolean;
}

/** Matmul geometry: `batch` independent [m,k] x [k,n] products; transA/transB read A as [k,m] / B as [n,k]. */
export interface MatmulGeom {
  readonly batch: number;
  readonly m: number;
  readonly k: number;
  readonly n: number;
  readonly transA: boolean;
  readonly transB: boolean;
}

export interface Backend {
  /** Stable name, e.g. 'reference', 'wasm', 'gpujs-webasm'. */
  readonly name: string;
  /** Dtypes this backend computes in. float64 is required only of the reference backend. */
  readonly dtypes: readonly DType[];

  // ---- memory ----
  /** New zero-filled buffer. */
  alloc(size: number, dtype: DType): BackendBuffer;
  /** New buffer holding a copy of `data` (converted to `dtype`). */
  upload(data: ArrayLike<number>, dtype: DType): BackendBuffer;
  /** Copy of the contents; throws BackendError where synchronous readback is impossible. */
  readSync(buf: BackendBuffer): Float32Array | Float64Array;
  /** Copy of the contents, asynchronously (works everywhere). */
  read(buf: BackendBuffer): Promise<Float32Array | Float64Array>;
  /** Release the buffer; using it afterwards is a bug the backend may detect. */
  free(buf: BackendBuffer): void;
  /** Number of live (allocated, not freed) buffers, for leak tests. */
  liveBuffers(): number;

  // ---- movement ----
  /** dst[dstView(i)] = src[srcView(i)] for every index i of `src.shape` (dst views share its shape). In place. */
  copy(src: StridedView, dst: StridedView): void;
  /** Set every element of buf to value. In place. */
  fill(buf: BackendBuffer, value: number): void;
  /** Element-wise dtype conversion. */
  cast(a: BackendBuffer, dtype: DType): BackendBuffer;

  // ---- elementwise ----
  /** out[i] = op(a[i]) over a contiguous buffer. */
  unary(op: UnaryOp, a: BackendBuffer): BackendBuffer;
  /** out[i] = op(a[i], b[i]) over `shape`; a and b are strided views of that shape (0 strides broadcast). */
  binary(op: BinaryOp, a: StridedView, b: StridedView, shape: readonly number[]): BackendBuffer;
  /** out[i] = cond[i] != 0 ? a[i] : b[i]; all strided views of `shape`. */
  where(cond: StridedView, a: StridedView, b: StridedView, shape: readonly number[]): BackendBuffer;

  // ---- reductions ----
  /** [outer, inner] -> [outer], reducing the last axis. */
  reduce(op: ReduceOp, a: BackendBuffer, outer: number, inner: number): BackendBuffer;

  // ---- linear algebra ----
  /** Batched matmul of contiguous A [batch,m,k] (or [batch,k,m] if transA) and B [batch,k,n] (or [batch,n,k]). */
  matmul(a: BackendBuffer, b: BackendBuffer, g: MatmulGeom): BackendBuffer;
  /** y [n,cout,oh,ow] = conv2d(x [n,cin,h,w], w [cout,cin/g,kh,kw]). */
  conv2d(x: BackendBuffer, w: BackendBuffer, g: Conv2dGeom): BackendBuffer;
  /**
   * y [n,cout,oh,ow] = conv2d(x, w) + r, r [n,cout,oh,ow] contiguous (a residual add folded into the conv that
   * produces it). Equals `binary('add', conv2d(x, w), r)`: the sum is conv output + r, in that order (bit-equal
   * wherever the backend's conv2d is).
   */
  conv2dAdd(x: BackendBuffer, w: BackendBuffer, r: BackendBuffer, g: Conv2dGeom): BackendBuffer;
  /** dx [n,cin,h,w] from dy [n,cout,oh,ow] and w. */
  conv2dGradInput(dy: BackendBuffer, w: BackendBuffer, g: Conv2dGeom): BackendBuffer;
  /** dw [cout,cin/g,kh,kw] from x and dy, summed over the batch. */
  conv2dGradWeight(x: BackendBuffer, dy: BackendBuffer, g: Conv2dGeom): BackendBuffer;

  // ---- pooling ----
  /**
   * Max-pool: output [n,c,oh,ow] and argmax of the same shape (flat position iy*w + ix in the unpadded h*w plane,
   * as float; -1 where a padding cell won). First maximum in window order (ky, kx) wins; NaN propagates.
   */
  maxPool2d(x: BackendBuffer, g: MaxPool2dGeom): { out: BackendBuffer; indices: BackendBuffer };
  /** Scatter-add dy into dx [n,c,h,w] at the saved indices (index -1: dropped, the padding's gradient). */
  maxPool2dBackward(dy: BackendBuffer, indices: BackendBuffer, g: MaxPool2dGeom): BackendBuffer;
  /** Average pool (window mean, no padding). */
  avgPool2d(x: BackendBuffer, g: Pool2dGeom): BackendBuffer;
  /** dx from dy: each window receives dy / (kh*kw). */
  avgPool2dBackward(dy: BackendBuffer, g: Pool2dGeom): BackendBuffer;

  // ---- fused BiT primitives (each equals the composite of the basic ops; tested) ----
  /**
   * GroupNorm forward. x [n,c,hw]; gamma, beta [c]. Returns y and per-(n,group) mean and rstd = 1/sqrt(var+eps)
   * (biased variance), each [n*groups].
   */
  groupNorm(
    x: BackendBuffer,
    gamma: BackendBuffer,
    beta: BackendBuffer,
    g: GroupNormGeom,
  ): { y: BackendBuffer; mean: BackendBuffer; rstd: BackendBuffer };
  /** GroupNorm backward: dx [n,c,hw], dgamma [c], dbeta [c]. */
  groupNormBackward(
    dy: BackendBuffer,
    x: BackendBuffer,
    gamma: BackendBuffer,
    mean: BackendBuffer,
    rstd: BackendBuffer,
    g: GroupNormGeom,
  ): { dx: BackendBuffer; dgamma: BackendBuffer; dbeta: BackendBuffer };
  /**
   * GroupNorm then ReLU in one pass: y = relu(GroupNorm(x)), relu as the op table's (`v < 0 ? 0 : v`: NaN stays
   * NaN, -0 stays -0). Shapes and mean/rstd as `groupNorm` (the statistics of x, before the ReLU).
   */
  groupNormRelu(
    x: BackendBuffer,
    gamma: BackendBuffer,
    beta: BackendBuffer,
    g: GroupNormGeom,
  ): { y: BackendBuffer; mean: BackendBuffer; rstd: BackendBuffer };
  /**
   * Backward of `groupNormRelu` without a masked dy buffer: `groupNormBackward` of dy * (y != 0 ? 1 : 0), y the
   * saved output [n,c,hw] (the op table's relu gradient: 0 at y == 0, dy at NaN; a NaN dy stays NaN).
   * dx [n,c,hw], dgamma [c], dbeta [c].
   */
  groupNormReluBackward(
    dy: BackendBuffer,
    y: BackendBuffer,
    x: BackendBuffer,
    gamma: BackendBuffer,
    mean: BackendBuffer,
    rstd: BackendBuffer,
    g: GroupNormGeom,
  ): { dx: BackendBuffer; dgamma: BackendBuffer; dbeta: BackendBuffer };
  /**
   * Weight standardization of w [o, fanIn]: y = (w - mean_o) * rstd_o with rstd = 1/sqrt(var_o + eps), biased.
   * Returns y, mean [o], rstd [o].
   */
  weightStandardize(
    w: BackendBuffer,
    o: number,
    fanIn: number,
    eps: number,
  ): { y: BackendBuffer; mean: BackendBuffer; rstd: BackendBuffer };
  /** dw = rstd * (dy - mean(dy) - yhat * mean(dy * yhat)) per filter, yhat = (w - mean) * rstd. */
  weightStandardizeBackward(
    dy: BackendBuffer,
    w: BackendBuffer,
    mean: BackendBuffer,
    rstd: BackendBuffer,
    o: number,
    fanIn: number,
  ): BackendBuffer;
  /**
   * In-place SGD step on `param` (PyTorch semantics): d = grad + wd*param; buf = firstStep ? d :
   * momentum*buf + (1-dampening)*d; d = nesterov ? d + momentum*buf : buf (momentum 0: d); param -= lr*d.
   * `momentumBuf` is updated in place (ignored when momentum is 0).
   */
  sgdUpdate(param: BackendBuffer, grad: BackendBuffer, momentumBuf: BackendBuffer, p: SgdParams): void;

  /**
   * A training step ended (the optimizer applied its update; src/nn/optim calls it once per step). A scheduling
   * hint only: a backend may time whole steps to choose how to run the next ones (wasm: threads or the calling
   * thread alone, ./backends/wasm/step-governor.ts); results never depend on it, and backends with no use for it
   * do nothing.
   */
  stepEnded(): void;

  /** Release everything this backend holds (workers, devices) so the process can exit. */
  dispose(): void;
}
