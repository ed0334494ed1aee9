/**
 * Assembles the one kernel module every thread instantiates, and detects relaxed SIMD.
 *
 * Relaxed SIMD is behind `--experimental-wasm-relaxed-simd` on Node 20; the flag must be set before the first
 * module using it compiles. Detection asks the platform host to enable it (Node: v8.setFlagsFromString; browsers:
 * nothing) and then validates a one-function module using f32x4.relaxed_madd; if validation fails the mul+add
 * micro-kernel is used.
 */

import { BackendError } from '../../../errors.js';
import { host } from './host-node.js';
import { emitCol2imS2 } from './kernels-col2im-s2.js';
import { emitConvKernels } from './kernels-conv.js';
import { emitGemmKernels, relaxedProbeBytes } from './kernels-gemm.js';
import { emitGwDot } from './kernels-gwdot.js';
import { emitElementwise, emitNorm } from './kernels-misc.js';
import { emitNormC1 } from './kernels-norm-c1.js';
import { emitNormC4 } from './kernels-norm-c4.js';
import { emitPackRowsVec } from './kernels-pack-rows.js';
import { emitPool } from './kernels-pool.js';
import { emitStemGwKernels } from './kernels-stem-gw.js';
import { emitThinConvKernels } from './kernels-thin.js';
import { emitTrainKernels } from './kernels-train.js';
import { emitWinogradKernels } from './kernels-winograd.js';
import { emitWinogradGradWeightKernels } from './kernels-winograd-gw.js';
import { ModuleBuilder } from './module-builder.js';
import { WA, type WasmModule } from './wasm-api.js';

/** True when this process can compile f32x4.relaxed_madd (sets the V8 flag as a side effect). */
export function relaxedSimdAvailable(): boolean {
  host.enableRelaxedSimd();
  return WA.validate(relaxedProbeBytes());
}

/** Resolve the user's relaxedSimd option to on/off; `true` on a runtime without support is an error. */
export function resolveRelaxed(opt: boolean | 'auto'): boolean {
  if (opt === false) return false;
  const ok = relaxedSimdAvailable();
  if (opt === true && !ok) {
    throw new BackendError('wasm backend: relaxedSimd: true, but this runtime cannot compile f32x4.relaxed_madd');
  }
  return ok;
}

/** Compiled kernel module plus the ordered export names (the thread pool's function indices). */
export interface KernelModule {
  readonly module: WasmModule;
  readonly names: readonly string[];
}

/** Emit and compile the kernel module for a memory with the given page limits (shared unless `shared` is false). */
export function buildKernelModule(relaxed: boolean, minPages: number, maxPages: number, shared = true): KernelModule {
  const m = new ModuleBuilder();
  emitGemmKernels(m, relaxed);
  emitConvKernels(m);
  emitCol2imS2(m);
  emitThinConvKernels(m, relaxed);
  emitStemGwKernels(m, relaxed);
  emitGwDot(m, relaxed);
  emitElementwise(m);
  emitNorm(m);
  emitNormC1(m);
  emitNormC4(m);
  emitTrainKernels(m);
  emitPool(m);
  emitWinogradKernels(m);
  emitWinogradGradWeightKernels(m);
  emitPackRowsVec(m); // last: the kernels above keep their indices
  const bytes = m.build(minPages, maxPages, shared);
  try {
    // every kernel optimized at backend creation, not lazily inside the first training step
    return { module: host.compileEagerly(() => new WA.Module(bytes)), names: m.fns.map((f) => f.name) };
  } catch (e) {
    throw new BackendError(`wasm backend: generated kernel module failed to compile: ${String(e)}`);
  }
}
