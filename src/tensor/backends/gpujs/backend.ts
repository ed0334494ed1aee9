/**
 * The gpu.js Backend: every primitive of src/tensor/backend.ts as gpu.js kernels (./kernels/*), in one of three
 * explicit modes: 'webasm' (WebAssembly + SIMD), 'cpu' (transpiled JS) or 'webgpu' (WGSL via Dawn).
 *
 * Sync vs async: cpu and webasm run kernels synchronously (sync mode: webasm worker threads exist only under
 * asyncMode, whose Promise results would break the synchronous op contract, so ops run single-threaded SIMD).
 * webgpu kernels return Promises: ops are still issued synchronously, each output buffer holding a Promise chained on
 * its inputs' Promises; `read` awaits it and `readSync` throws BackendError. On webgpu the data is device-resident
 * (./device.ts): upload writes a GPU buffer once, kernels bind buffers directly, `read` is the only readback, and
 * `transfers()` counts launches, uploads, readbacks and their bytes.
 * State, plumbing and the memory primitives are ./backend-base.ts; options and their env overrides
 * ./backend-options.ts.
 * Invariants: float32 only (DTypeError otherwise); outputs never alias inputs; in-place ops (copy, fill, sgdUpdate)
 * replace the data held by the same buffer object.
 */

import { ShapeError } from '../../../errors.js';
import type {
  Backend,
  BackendBuffer,
  BinaryOp,
  Conv2dGeom,
  GroupNormGeom,
  MatmulGeom,
  MaxPool2dGeom,
  Pool2dGeom,
  ReduceOp,
  SgdParams,
  StridedView,
  UnaryOp,
} from '../../backend.js';
import type { DType } from '../../dtype.js';
import { GpujsBackendBase } from './backend-base.js';
import type { GpujsBuffer } from './buffers.js';
import type { TransferStats } from './device.js';
import type { KernelStat } from './kernel-cache.js';
import { conv2dGradInputOp, conv2dGradWeightOp, conv2dOp } from './kernels/conv.js';
import { conv2dAddOp } from './kernels/conv-add.js';
import { binaryOp, unaryOp, whereOp } from './kernels/elementwise.js';
import { matmulOp } from './kernels/matmul.js';
import { copyOp, fillOp, identityOp } from './kernels/movement.js';
import { groupNormOp, weightStandardizeBackwardOp, weightStandardizeOp } from './kernels/norm.js';
import { groupNormBackwardOp } from './kernels/norm-grad.js';
import { groupNormReluBackwardOp, groupNormReluOp } from './kernels/norm-relu.js';
import { poolBwdOp, poolFwdOp } from './kernels/pool.js';
import { reduceOp } from './kernels/reduce.js';
import { sgdOp } from './kernels/sgd.js';
import type { Arr, GpujsMode, OpGen } from './op-gen.js';

/** A gpu.js backend with its mode and kernel statistics. */
export interface GpujsBackend extends Backend {
  readonly mode: GpujsMode;
  /** Per-kernel build (first call) ms, later call counts and run ms. */
  stats(): KernelStat[];
  /** Cumulative launches and host <-> device traffic since creation (diff two snapshots around a step). */
  transfers(): TransferStats;
}

/** The gpu.js Backend: every primitive, each an op body run through ./backend-base.ts `exec`. */
export class GpujsBackendImpl extends GpujsBackendBase implements GpujsBackend {
  // ---- movement ----
  copy(src: StridedView, dst: StridedView): void {
    const s = this.buf('copy', src.buf);
    const d = this.buf('copy', dst.buf);
    const r = this.exec([s, d], (sd, dd) => copyOp(sd, src, dd, dst, this.limit, this.mem !== null));
    this.assign(d, r);
  }

  fill(b: BackendBuffer, value: number): void {
    const g = this.buf('fill', b);
    if (g.size === 0) return;
    this.assign(
      g,
      this.exec([], () => fillOp(g.size, value, this.limit)),
    );
  }

  cast(a: BackendBuffer, dtype: DType): BackendBuffer {
    const g = this.buf('cast', a);
    this.f32('cast', dtype);
    if (g.size === 0) return this.alloc(0, dtype);
    return this.make(
      g.size,
      this.exec([g], (d) => identityOp(d, this.limit)),
    );
  }

  // ---- elementwise ----
  unary(op: UnaryOp, a: BackendBuffer): BackendBuffer {
    const g = this.buf(`unary ${op}`, a);
    if (g.size === 0) return this.alloc(0, 'float32');
    return this.make(
      g.size,
      this.exec([g], (d) => unaryOp(op, d, this.limit)),
    );
  }

  binary(op: BinaryOp, a: StridedView, b: StridedView, shape: readonly number[]): BackendBuffer {
    const ga = this.buf(`binary ${op}`, a.buf);
    const gb = this.buf(`binary ${op}`, b.buf);
    const total = shape.reduce((x, y) => x * y, 1);
    checkShapes(`binary ${op}`, shape, [a, b]);
    if (total === 0) return this.alloc(0, 'float32');
    const r = this.exec([ga, gb], (da, db) =>
      binaryOp(
        op,
        { data: da, strides: a.strides, offset: a.offset },
        { data: db, strides: b.strides, offset: b.offset },
        shape,
        this.limit,
        this.mem !== null,
      ),
    );
    return this.make(total, r);
  }

  where(cond: StridedView, a: StridedView, b: StridedView, shape: readonly number[]): BackendBuffer {
    const gs = [cond, a, b].map((v) => this.buf('where', v.buf));
    const total = shape.reduce((x, y) => x * y, 1);
    checkShapes('where', shape, [cond, a, b]);
    if (total === 0) return this.alloc(0, 'float32');
    const views = [cond, a, b];
    const r = this.exec(gs, (...ds) => {
      const [c, x, y] = views.map((v, k) => ({ data: ds[k]!, strides: v.strides, offset: v.offset }));
      return whereOp(c!, x!, y!, shape, this.limit);
    });
    return this.make(total, r);
  }

  // ---- reductions ----
  reduce(op: ReduceOp, a: BackendBuffer, outer: number, inner: number): BackendBuffer {
    const g = this.buf(`reduce ${op}`, a);
    return this.make(
      outer,
      this.exec([g], (d) => reduceOp(op, d, outer, inner, this.limit)),
    );
  }

  // ---- linear algebra ----
  matmul(a: BackendBuffer, b: BackendBuffer, g: MatmulGeom): BackendBuffer {
    const ga = this.buf('matmul', a);
    const gb = this.buf('matmul', b);
    return this.make(
      g.batch * g.m * g.n,
      this.exec([ga, gb], (da, db) => matmulOp(da, db, g, this.limit)),
    );
  }

  conv2d(x: BackendBuffer, w: BackendBuffer, g: Conv2dGeom): BackendBuffer {
    const gx = this.buf('conv2d', x);
    const gw = this.buf('conv2d', w);
    return this.make(
      g.n * g.cout * g.oh * g.ow,
      this.exec([gx, gw], (dx, dw) => conv2dOp(dx, dw, g, this.limit)),
    );
  }

  conv2dAdd(x: BackendBuffer, w: BackendBuffer, r: BackendBuffer, g: Conv2dGeom): BackendBuffer {
    const ins = [x, w, r].map((b) => this.buf('conv2dAdd', b));
    const r2 = this.exec(ins, (dx, dw, dr) => conv2dAddOp(dx, dw, dr, g, this.limit, this.mem !== null));
    return this.make(g.n * g.cout * g.oh * g.ow, r2);
  }

  conv2dGradInput(dy: BackendBuffer, w: BackendBuffer, g: Conv2dGeom): BackendBuffer {
    const gd = this.buf('conv2dGradInput', dy);
    const gw = this.buf('conv2dGradInput', w);
    const r = this.exec([gd, gw], (dd, dw) => conv2dGradInputOp(dd, dw, g, this.limit));
    return this.make(g.n * g.cin * g.h * g.w, r);
  }

  conv2dGradWeight(x: BackendBuffer, dy: BackendBuffer, g: Conv2dGeom): BackendBuffer {
    const gx = this.buf('conv2dGradWeight', x);
    const gd = this.buf('conv2dGradWeight', dy);
    const r = this.exec([gx, gd], (dx, dd) => conv2dGradWeightOp(dx, dd, g, this.limit));
    return this.make(g.cout * (g.cin / g.groups) * g.kh * g.kw, r);
  }

  // ---- pooling ----
  maxPool2d(x: BackendBuffer, g: MaxPool2dGeom): { out: BackendBuffer; indices: BackendBuffer } {
    const gx = this.buf('maxPool2d', x);
    const size = g.n * g.c * g.oh * g.ow;
    const limit = this.limit;
    const r = this.exec([gx], function* (d): OpGen<Arr[]> {
      return [yield* poolFwdOp(d, g, 0, limit), yield* poolFwdOp(d, g, 1, limit)];
    });
    const [out, indices] = this.makeMany([size, size], r);
    return { out: out!, indices: indices! };
  }

  maxPool2dBackward(dy: BackendBuffer, indices: BackendBuffer, g: MaxPool2dGeom): BackendBuffer {
    const gd = this.buf('maxPool2dBackward', dy);
    const gi = this.buf('maxPool2dBackward', indices);
    const r = this.exec([gd, gi], (dd, di) => poolBwdOp(dd, di, g, 0, this.limit));
    return this.make(g.n * g.c * g.h * g.w, r);
  }

  avgPool2d(x: BackendBuffer, g: Pool2dGeom): BackendBuffer {
    const gx = this.buf('avgPool2d', x);
    return this.make(
      g.n * g.c * g.oh * g.ow,
      this.exec([gx], (d) => poolFwdOp(d, g, 2, this.limit)),
    );
  }

  avgPool2dBackward(dy: BackendBuffer, g: Pool2dGeom): BackendBuffer {
    const gd = this.buf('avgPool2dBackward', dy);
    return this.make(
      g.n * g.c * g.h * g.w,
      this.exec([gd], (d) => poolBwdOp(d, d, g, 1, this.limit)),
    );
  }

  // ---- fused BiT primitives ----
  groupNorm(x: BackendBuffer, gamma: BackendBuffer, beta: BackendBuffer, g: GroupNormGeom) {
    const ins = [x, gamma, beta].map((b) => this.buf('groupNorm', b));
    const r = this.exec(ins, (dx, dg, db) => groupNormOp(dx, dg, db, g, this.limit, this.twoStage));
    const [y, mean, rstd] = this.makeMany([g.n * g.c * g.hw, g.n * g.groups, g.n * g.groups], r);
    return { y: y!, mean: mean!, rstd: rstd! };
  }

  groupNormBackward(
    dy: BackendBuffer,
    x: BackendBuffer,
    gamma: BackendBuffer,
    mean: BackendBuffer,
    rstd: BackendBuffer,
    g: GroupNormGeom,
  ) {
    const ins = [dy, x, gamma, mean, rstd].map((b) => this.buf('groupNormBackward', b));
    const r = this.exec(ins, (a, b, c, d, e) => groupNormBackwardOp(a, b, c, d, e, g, this.limit, this.twoStage));
    const [dx, dgamma, dbeta] = this.makeMany([g.n * g.c * g.hw, g.c, g.c], r);
    return { dx: dx!, dgamma: dgamma!, dbeta: dbeta! };
  }

  groupNormRelu(x: BackendBuffer, gamma: BackendBuffer, beta: BackendBuffer, g: GroupNormGeom) {
    const ins = [x, gamma, beta].map((b) => this.buf('groupNormRelu', b));
    const r = this.exec(ins, (dx, dg, db) => groupNormReluOp(dx, dg, db, g, this.limit, this.twoStage));
    const [y, mean, rstd] = this.makeMany([g.n * g.c * g.hw, g.n * g.groups, g.n * g.groups], r);
    return { y: y!, mean: mean!, rstd: rstd! };
  }

  groupNormReluBackward(
    dy: BackendBuffer,
    y: BackendBuffer,
    x: BackendBuffer,
    gamma: BackendBuffer,
    mean: BackendBuffer,
    rstd: BackendBuffer,
    g: GroupNormGeom,
  ) {
    const ins = [dy, y, x, gamma, mean, rstd].map((b) => this.buf('groupNormReluBackward', b));
    const r = this.exec(ins, (a, b, c, d, e, f) =>
      groupNormReluBackwardOp(a, b, c, d, e, f, g, this.limit, this.twoStage),
    );
    const [dx, dgamma, dbeta] = this.makeMany([g.n * g.c * g.hw, g.c, g.c], r);
    return { dx: dx!, dgamma: dgamma!, dbeta: dbeta! };
  }

  weightStandardize(w: BackendBuffer, o: number, fanIn: number, eps: number) {
    const gw = this.buf('weightStandardize', w);
    const r = this.exec([gw], (d) => weightStandardizeOp(d, o, fanIn, eps, this.limit, this.twoStage));
    const [y, mean, rstd] = this.makeMany([o * fanIn, o, o], r);
    return { y: y!, mean: mean!, rstd: rstd! };
  }

  weightStandardizeBackward(
    dy: BackendBuffer,
    w: BackendBuffer,
    mean: BackendBuffer,
    rstd: BackendBuffer,
    o: number,
    fanIn: number,
  ): BackendBuffer {
    const ins = [dy, w, mean, rstd].map((b) => this.buf('weightStandardizeBackward', b));
    const r = this.exec(ins, (a, b, c, d) =>
      weightStandardizeBackwardOp(a, b, c, d, o, fanIn, this.limit, this.twoStage),
    );
    return this.make(o * fanIn, r);
  }

  sgdUpdate(param: BackendBuffer, grad: BackendBuffer, momentumBuf: BackendBuffer, p: SgdParams): void {
    const ins = [param, grad, momentumBuf].map((b) => this.buf('sgdUpdate', b));
    const [gp, gg, gb] = ins as [GpujsBuffer, GpujsBuffer, GpujsBuffer];
    if (gg.size !== gp.size || (p.momentum !== 0 && gb.size !== gp.size)) {
      throw new ShapeError(`sgdUpdate: param ${gp.size}, grad ${gg.size}, momentum buffer ${gb.size} differ`);
    }
    if (gp.size === 0) return;
    const r = this.exec(ins, (a, b, c) => sgdOp(a, b, c, p, this.limit));
    if (r instanceof Promise) {
      this.assign(
        gp,
        r.then((v) => v[0]),
      );
      if (p.momentum !== 0)
        this.assign(
          gb,
          r.then((v) => v[1]),
        );
      else this.dropPending(r.then((v) => v[1]));
    } else {
      this.assign(gp, r[0]);
      if (p.momentum !== 0) this.assign(gb, r[1]);
    }
  }

  /** A training step ended: nothing to schedule here (see Backend.stepEnded). */
  stepEnded(): void {}
}

function checkShapes(op: string, shape: readonly number[], views: readonly StridedView[]): void {
  for (const v of views) {
    if (v.shape.length !== shape.length || v.shape.some((s, i) => s !== shape[i])) {
      throw new ShapeError(`${op}: view shape [${v.shape}] != output shape [${shape}]`);
    }
  }
}
