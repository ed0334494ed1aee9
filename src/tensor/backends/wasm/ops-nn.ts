/**
 * Linear-algebra and BiT training ops of the wasm backend: matmul, conv2d (+ grads), GroupNorm, Weight
 * Standardization and the fused SGD step. groups > 1 convolutions use the reference backend's scalar code on
 * copies (correct, not fast: BiT never uses grouped convs). GroupNorm dgamma/dbeta sum per-(n, c) partials over n
 * in a fixed order here, after the threaded kernel, so they do not depend on the thread count.
 */

import { envOn } from '../../../env.js';
import { ShapeError } from '../../../errors.js';
import type { Backend, BackendBuffer, Conv2dGeom, GroupNormGeom } from '../../backend.js';
import * as ref from '../reference/linalg.js';
import { convForward, convGradInput, convGradWeight } from './conv.js';
import { makeConv2dAdd } from './conv-residual.js';
import { gemm } from './gemm.js';
import { need, runSplit } from './split.js';
import type { WasmBuffer, WasmState } from './state.js';

type NnKeys =
  | 'matmul'
  | 'conv2d'
  | 'conv2dAdd'
  | 'conv2dGradInput'
  | 'conv2dGradWeight'
  | 'groupNorm'
  | 'groupNormBackward'
  | 'groupNormRelu'
  | 'groupNormReluBackward'
  | 'weightStandardize'
  | 'weightStandardizeBackward'
  | 'sgdUpdate';

function checkConv(op: string, g: Conv2dGeom): void {
  const oh = Math.floor((g.h + 2 * g.pad - g.kh) / g.stride) + 1;
  const ow = Math.floor((g.w + 2 * g.pad - g.kw) / g.stride) + 1;
  if (g.groups < 1 || g.cin % g.groups !== 0 || g.cout % g.groups !== 0 || oh !== g.oh || ow !== g.ow) {
    throw new ShapeError(
      `wasm.${op}: inconsistent geometry cin=${g.cin} cout=${g.cout} groups=${g.groups} ` +
        `h=${g.h} w=${g.w} k=${g.kh}x${g.kw} stride=${g.stride} pad=${g.pad} -> oh=${g.oh} ow=${g.ow} (expected ${oh}x${ow})`,
    );
  }
}

/**
 * GroupNorm's forward statistics through the 4-chain f64 sums ('stats8', ./kernels-misc.ts) unless env
 * BIT_GN_STATS8=0 ('stats', the 2-chain sums Weight Standardization keeps). Read once per backend.
 */
function gnStatsKernel(): 'stats' | 'stats8' {
  return envOn('BIT_GN_STATS8') ? 'stats8' : 'stats';
}

/**
 * GroupNorm's kernel suffix for a map of `hw` pixels: 'C1' (1-pixel maps, vectorized across channels,
 * ./kernels-norm-c1.ts) unless env BIT_GN_C1=0, 'C4' (4-pixel maps, one vector a channel, ./kernels-norm-c4.ts)
 * unless env BIT_GN_C4=0, else '' (the general kernels). All give the general kernels' bits. Read once per backend.
 */
function gnNarrowKernels(): (hw: number) => '' | 'C1' | 'C4' {
  const c1 = envOn('BIT_GN_C1');
  const c4 = envOn('BIT_GN_C4');
  return (hw) => (hw === 1 && c1 ? 'C1' : hw === 4 && c4 ? 'C4' : '');
}

export function makeNnOps(s: WasmState): Pick<Backend, NnKeys> {
  const statsFn = gnStatsKernel();
  const narrow = gnNarrowKernels();
  // the batch sum of GroupNorm backward's partials 16 columns at a time (same bits) unless env BIT_GN_COLSUMV=0
  const colSumFn = envOn('BIT_GN_COLSUMV') ? 'colSumV' : 'colSum';
  const B = (b: Parameters<WasmState['buf']>[0], op: string) => s.buf(b, op);
  const sub = (w: WasmBuffer, n: number) => s.heap().subarray(w.ptr >>> 2, (w.ptr >>> 2) + n);
  const fromArray = (a: ArrayLike<number>) => {
    const out = s.newBuffer(a.length, false);
    s.heap().set(a, out.ptr >>> 2);
    return out;
  };
  const sizes = (g: Conv2dGeom) => ({
    x: g.n * g.cin * g.h * g.w,
    w: g.cout * (g.cin / g.groups) * g.kh * g.kw,
    y: g.n * g.cout * g.oh * g.ow,
  });
  type Sized = keyof ReturnType<typeof sizes>;
  /**
   * The three conv primitives: geometry and size checks, the reference loops on copies for grouped convs, else
   * the wasm kernel writing into a fresh zeroed buffer. Each input is [buffer, name in errors, size key].
   */
  const conv = (
    op: string,
    g: Conv2dGeom,
    [a, aName, aSize]: [BackendBuffer, string, Sized],
    [b, bName, bSize]: [BackendBuffer, string, Sized],
    outSize: Sized,
    refFn: (a: Float32Array, b: Float32Array, g: Conv2dGeom, dtype: 'float32') => ArrayLike<number>,
    kernel: (s: WasmState, pa: number, pb: number, po: number, g: Conv2dGeom, bBuf: WasmBuffer) => void,
  ): WasmBuffer => {
    checkConv(op, g);
    const A = B(a, op);
    const Bb = B(b, op);
    const z = sizes(g);
    need(op, A, z[aSize], aName);
    need(op, Bb, z[bSize], bName);
    if (g.groups > 1) return fromArray(refFn(sub(A, z[aSize]), sub(Bb, z[bSize]), g, 'float32'));
    // every lowering writes every element of its output (./conv.ts zeroes where a path writes only some; col2im
    // zeroes each dx plane before adding into it), so the output is not zeroed here: a memset of dx on the calling
    // thread was a whole extra pass per grad-input (test/tensor/backends/wasm/conv-output-init.test.ts poisons it)
    const out = s.newBuffer(z[outSize], false);
    kernel(s, A.ptr, Bb.ptr, out.ptr, g, Bb); // Bb (the weights of conv2d / grad-input) keys caches
    return out;
  };
  /** GroupNorm forward; 'groupNormRelu' stores relu of the output (the affineRelu kernel), in the same pass. */
  const groupNorm = (
    op: 'groupNorm' | 'groupNormRelu',
    x: BackendBuffer,
    gamma: BackendBuffer,
    beta: BackendBuffer,
    g: GroupNormGeom,
  ) => {
    const [X, G, Be] = [B(x, op), B(gamma, op), B(beta, op)];
    if (g.c % g.groups !== 0) throw new ShapeError(`wasm.${op}: c=${g.c} not divisible by groups=${g.groups}`);
    need(op, X, g.n * g.c * g.hw, 'x');
    need(op, G, g.c, 'gamma');
    need(op, Be, g.c, 'beta');
    const rows = g.n * g.groups;
    const len = (g.c / g.groups) * g.hw;
    const y = s.newBuffer(g.n * g.c * g.hw, false);
    const mean = s.newBuffer(rows, false);
    const rstd = s.newBuffer(rows, false);
    const nk = narrow(g.hw); // 1- and 4-pixel maps: kernels for their hw (same bits, no hw argument)
    const aff = [X.ptr, y.ptr, mean.ptr, rstd.ptr, G.ptr, Be.ptr, g.c, ...(nk ? [] : [g.hw]), g.groups];
    const fn = (op === 'groupNormRelu' ? 'affineRelu' : 'affine') + nk;
    // per thread: its rows' statistics, then the same rows normalized (one pool call, no barrier needed)
    runSplit(s, rows, rows * len, 1, (lo, hi) => [
      { fn: statsFn, args: [X.ptr, mean.ptr, rstd.ptr, len, g.eps, lo, hi] },
      { fn, args: [...aff, lo, hi] },
    ]);
    return { y, mean, rstd };
  };
  /** GroupNorm backward; with `y` (GroupNorm + ReLU's output) each dy is masked by y != 0 inside normBwdRelu. */
  const groupNormBwd = (
    op: 'groupNormBackward' | 'groupNormReluBackward',
    dy: BackendBuffer,
    y: BackendBuffer | null,
    x: BackendBuffer,
    gamma: BackendBuffer,
    mean: BackendBuffer,
    rstd: BackendBuffer,
    g: GroupNormGeom,
  ) => {
    const [D, X, G, M, R] = [B(dy, op), B(x, op), B(gamma, op), B(mean, op), B(rstd, op)];
    const total = g.n * g.c * g.hw;
    need(op, D, total, 'dy');
    need(op, X, total, 'x');
    need(op, G, g.c, 'gamma');
    const Y = y === null ? null : B(y, op);
    if (Y) need(op, Y, total, 'y');
    const rows = g.n * g.groups;
    need(op, M, rows, 'mean');
    need(op, R, rows, 'rstd');
    const dx = s.newBuffer(total, false);
    const [pdb, freeB] = s.temp(g.n * g.c * 4);
    const [pdg, freeG] = s.temp(g.n * g.c * 4);
    try {
      const nk = narrow(g.hw); // 1- and 4-pixel maps: kernels for their hw (same bits, no hw argument)
      const geom = [g.c, ...(nk ? [] : [g.hw]), g.groups];
      const args = [D.ptr, Y ? Y.ptr : 0, X.ptr, G.ptr, M.ptr, R.ptr, dx.ptr, pdb, pdg, ...geom];
      const fn = (Y ? 'normBwdRelu' : 'normBwd') + nk;
      runSplit(s, rows, total, 1, (lo, hi) => ({ fn, args: [...args, lo, hi] }));
      // dgamma/dbeta: the per-sample partials summed over n in order, in f64 (one kernel call, no JS loop)
      const dgamma = s.newBuffer(g.c, false);
      const dbeta = s.newBuffer(g.c, false);
      s.pool.run([
        [
          { fn: colSumFn, args: [pdg, dgamma.ptr, g.n, g.c, 0, g.c] },
          { fn: colSumFn, args: [pdb, dbeta.ptr, g.n, g.c, 0, g.c] },
        ],
      ]);
      return { dx, dgamma, dbeta };
    } finally {
      freeB();
      freeG();
    }
  };
  return {
    matmul(a, b, g) {
      const A = B(a, 'matmul');
      const Bb = B(b, 'matmul');
      need('matmul', A, g.batch * g.m * g.k, 'a');
      need('matmul', Bb, g.batch * g.k * g.n, 'b');
      const out = s.newBuffer(g.batch * g.m * g.n, true);
      for (let i = 0; i < g.batch; i++) {
        gemm(s, {
          m: g.m,
          n: g.n,
          k: g.k,
          a: g.transA
            ? { kind: 'strided', ptr: A.ptr + i * g.m * g.k * 4, sStride: 1, dStride: g.m }
            : { kind: 'strided', ptr: A.ptr + i * g.m * g.k * 4, sStride: g.k, dStride: 1 },
          b: g.transB
            ? { kind: 'strided', ptr: Bb.ptr + i * g.k * g.n * 4, sStride: g.k, dStride: 1 }
            : { kind: 'strided', ptr: Bb.ptr + i * g.k * g.n * 4, sStride: 1, dStride: g.n },
          c: out.ptr + i * g.m * g.n * 4,
          ldc: g.n,
        });
      }
      return out;
    },
    conv2d: (x, w, g) => conv('conv2d', g, [x, 'x', 'x'], [w, 'w', 'w'], 'y', ref.conv2d, convForward),
    conv2dAdd: makeConv2dAdd(s, (x, w, g, k) => conv('conv2dAdd', g, [x, 'x', 'x'], [w, 'w', 'w'], 'y', ref.conv2d, k)),
    conv2dGradInput: (dy, w, g) =>
      conv('conv2dGradInput', g, [dy, 'dy', 'y'], [w, 'w', 'w'], 'x', ref.conv2dGradInput, convGradInput),
    conv2dGradWeight: (x, dy, g) =>
      conv('conv2dGradWeight', g, [x, 'x', 'x'], [dy, 'dy', 'y'], 'w', ref.conv2dGradWeight, convGradWeight),
    groupNorm: (x, gamma, beta, g) => groupNorm('groupNorm', x, gamma, beta, g),
    groupNormRelu: (x, gamma, beta, g) => groupNorm('groupNormRelu', x, gamma, beta, g),
    groupNormBackward: (dy, x, gamma, mean, rstd, g) =>
      groupNormBwd('groupNormBackward', dy, null, x, gamma, mean, rstd, g),
    groupNormReluBackward: (dy, y, x, gamma, mean, rstd, g) =>
      groupNormBwd('groupNormReluBackward', dy, y, x, gamma, mean, rstd, g),
    weightStandardize(w, o, fanIn, eps) {
      const W = B(w, 'weightStandardize');
      need('weightStandardize', W, o * fanIn, 'w');
      const y = s.newBuffer(o * fanIn, false);
      const mean = s.newBuffer(o, false);
      const rstd = s.newBuffer(o, false);
      const aff = [W.ptr, y.ptr, mean.ptr, rstd.ptr, 0, 0, o, fanIn, o];
      runSplit(s, o, o * fanIn, 1, (lo, hi) => [
        { fn: 'stats', args: [W.ptr, mean.ptr, rstd.ptr, fanIn, eps, lo, hi] },
        { fn: 'affine', args: [...aff, lo, hi] },
      ]);
      return { y, mean, rstd };
    },
    weightStandardizeBackward(dy, w, mean, rstd, o, fanIn) {
      const op = 'weightStandardizeBackward';
      const [D, W, M, R] = [B(dy, op), B(w, op), B(mean, op), B(rstd, op)];
      need(op, D, o * fanIn, 'dy');
      need(op, W, o * fanIn, 'w');
      need(op, M, o, 'mean');
      need(op, R, o, 'rstd');
      const dw = s.newBuffer(o * fanIn, false);
      const args = [D.ptr, 0, W.ptr, 0, M.ptr, R.ptr, dw.ptr, 0, 0, o, fanIn, o];
      runSplit(s, o, o * fanIn, 1, (lo, hi) => ({ fn: 'normBwd', args: [...args, lo, hi] }));
      return dw;
    },
    sgdUpdate(param, grad, momentumBuf, p) {
      const op = 'sgdUpdate';
      const [P, G, M] = [B(param, op), B(grad, op), B(momentumBuf, op)];
      need(op, G, P.size, 'grad');
      if (p.momentum !== 0) need(op, M, P.size, 'momentumBuf');
      s.written(P);
      s.written(M);
      const args = [P.ptr, G.ptr, M.ptr, p.lr, p.momentum, 1 - p.dampening, p.weightDecay];
      const flags = [p.nesterov ? 1 : 0, p.firstStep ? 1 : 0];
      runSplit(s, P.size, P.size, 16, (lo, hi) => ({ fn: 'sgd', args: [...args, ...flags, lo, hi] }));
    },
  };
}
