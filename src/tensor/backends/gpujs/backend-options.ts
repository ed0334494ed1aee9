/**
 * Options of the gpu.js backend (`createGpujsBackend`, ./backend.ts) and how the environment overrides resolve:
 * BIT_GPU_REDUCTIONS (GroupNorm / WS statistics plan) and BIT_GPU_ISSUE (async issue order).
 *
 * Invariants: an option given in code wins over its env var; an unknown value of either is a BackendError, never a
 * silent default.
 */

import { envVar } from '../../../env.js';
import { BackendError } from '../../../errors.js';
import type { WebgpuContext } from './device.js';
import type { GpujsMode, Launch } from './op-gen.js';

/** Options for createGpujsBackend. */
export interface GpujsOptions {
  /** Max output cells / window elements per launch (default and most 2^23: kernels/index-math.ts). Tests lower it. */
  readonly chunkLimit?: number;
  /**
   * Hold buffers as Promises and run ops asynchronously, as webgpu mode must (readSync throws). Lets the webgpu
   * buffer plumbing be tested with cpu/webasm kernels on machines without an adapter.
   */
  readonly asyncBuffers?: boolean;
  /** webgpu: gpu.js's shared device context (createGpujsBackend acquires it); buffers then live on the device. */
  readonly webgpuContext?: WebgpuContext;
  /** Called with every kernel launch (spec and arguments) before it runs. */
  readonly trace?: (l: Launch) => void;
  /** cpu/webasm only: plan launches without running them (outputs are zeros); for launch counts and estimates. */
  readonly dryRun?: boolean;
  /**
   * GroupNorm / weight-standardization statistics and backward sums: 'two-stage' (kernels/norm-stages.ts: one
   * thread per (row, block), then a combine per row; the GPU-grade launch plan) or 'per-row' (one thread per row).
   * Results are bit-identical. Default: env BIT_GPU_REDUCTIONS when set, else 'two-stage' on webgpu and 'per-row'
   * on cpu / webasm (where a launch is a serial loop and the extra launches only cost).
   */
  readonly reductions?: 'two-stage' | 'per-row';
  /**
   * Async modes (webgpu, asyncBuffers): when an op issues its launches. 'program' (default): in the order the ops
   * were called (one issue chain per backend), so an op waits for every earlier op to have issued; an inference
   * forward then holds one standardized kernel at a time. 'dataflow': as soon as the op's inputs are ready (an op on
   * uploaded weights, such as weight standardization, runs ahead of the activation chain and its output stays live
   * until its consumer issues). Results are identical. Default: env BIT_GPU_ISSUE when set, else 'program'.
   */
  readonly issueOrder?: 'program' | 'dataflow';
}

/** The issueOrder option in effect (see `GpujsOptions.issueOrder`); a bad BIT_GPU_ISSUE is a BackendError. */
export function issueOrderOf(mode: GpujsMode, opt: GpujsOptions['issueOrder']): boolean {
  const env = envVar('BIT_GPU_ISSUE');
  const v = opt ?? (env || 'program');
  if (v !== 'program' && v !== 'dataflow') {
    throw new BackendError(`gpujs-${mode}: issueOrder '${v}' (BIT_GPU_ISSUE): expected program or dataflow`);
  }
  return v === 'program';
}

/** The reductions option in effect (see `GpujsOptions.reductions`); a bad BIT_GPU_REDUCTIONS is a BackendError. */
export function reductionsOf(mode: GpujsMode, opt: GpujsOptions['reductions']): boolean {
  const env = envVar('BIT_GPU_REDUCTIONS');
  const v = opt ?? (env || (mode === 'webgpu' ? 'two-stage' : 'per-row'));
  if (v !== 'two-stage' && v !== 'per-row') {
    throw new BackendError(`gpujs-${mode}: reductions '${v}' (BIT_GPU_REDUCTIONS): expected two-stage or per-row`);
  }
  return v === 'two-stage';
}
