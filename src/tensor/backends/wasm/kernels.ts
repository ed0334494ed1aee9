/**
 * Assembles the one kernel module every thread instantiates, and detects relaxed SIMD.
 *
 * Relaxed SIMD is behind `--experimental-wasm-relaxed-simd` on Node 20; the flag must be set before the first
 * module using it compiles. Detection sets the flag (via v8.setFlagsFromString) and then validates a one-function
 * module using f32x4.relaxed_madd; if validation fails the mul+add micro-kernel is used.
 */

import v8 from 'node:v8';
import { BackendError } from '../../../errors.js';
import { emitConvKernels } from './kernels-conv.js';
import { emitGemmKernels, relaxedProbeBytes } from './kernels-gemm.js';
import { emitElementwise, emitNorm } from './kernels-misc.js';
import { emitTrainKernels } from './kernels-train.js';
import { ModuleBuilder } from './module-builder.js';
import { WA, type WasmModule } from './wasm-api.js';

/** True when this process can compile f32x4.relaxed_madd (sets the V8 flag as a side effect). */
export function relaxedSimdAvailable(): boolean {
  try {
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    // the flag may be unknown on newer V8 where relaxed SIMD is on by default
  }
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

/** Emit and compile the kernel module for a memory with the given page limits. */
export function buildKernelModule(relaxed: boolean, minPages: number, maxPages: number): KernelModule {
  const m = new ModuleBuilder();
  emitGemmKernels(m, relaxed);
  emitConvKernels(m);
  emitElementwise(m);
  emitNorm(m);
  emitTrainKernels(m);
  const bytes = m.build(minPages, maxPages);
  try {
    return { module: new WA.Module(bytes), names: m.fns.map((f) => f.name) };
  } catch (e) {
    throw new BackendError(`wasm backend: generated kernel module failed to compile: ${String(e)}`);
  }
}
