/**
 * Entry point of the gpu.js backend: `createGpujsBackend(mode)` and `probeGpujs()`.
 * Creation is async because webgpu must request an adapter first; cpu and webasm resolve immediately after a
 * self-check kernel confirms the requested gpu.js backend really runs (no silent fallback).
 */

import gpujs from 'gpu.js';
import { BackendError } from '../../../errors.js';
import { type GpujsBackend, GpujsBackendImpl } from './backend.js';
import type { GpujsOptions } from './backend-options.js';
import type { WebgpuContext } from './device.js';
import type { GpujsMode } from './op-gen.js';
import { installWebgpu, teardownWebgpu } from './webgpu-setup.js';

export { type AdapterInfo, formatAdapter, isSoftwareAdapter, webgpuAdapterInfo } from './adapter-info.js';
export type { GpujsBackend } from './backend.js';
export type { GpujsOptions } from './backend-options.js';
export { diffTransferStats, emptyTransferStats, type TransferStats } from './device.js';
export type { KernelStat } from './kernel-cache.js';
export type { GpujsMode } from './op-gen.js';

/** One probe row: whether `mode` can run here and, if not, why. */
export interface GpujsProbe {
  readonly mode: GpujsMode;
  readonly available: boolean;
  readonly reason: string | null;
}

const MODES: readonly GpujsMode[] = ['webasm', 'cpu', 'webgpu'];

/** Why `mode` cannot run here, or null if it can (webgpu: requests an adapter). */
async function unavailableReason(mode: GpujsMode): Promise<string | null> {
  if (mode === 'cpu') return null;
  if (mode === 'webasm') {
    return gpujs.GPU.isWebAssemblySupported ? null : 'WebAssembly is not supported by this runtime';
  }
  const { reason } = await installWebgpu();
  return reason;
}

let liveWebgpu = 0;
let pendingTeardown: Promise<void> | null = null;

/** One webgpu user fewer; the last one tears the shared device and the installed globals down. */
function releaseWebgpu(): Promise<void> {
  liveWebgpu = Math.max(0, liveWebgpu - 1);
  if (liveWebgpu > 0) return Promise.resolve();
  const t = teardownWebgpu().finally(() => {
    if (pendingTeardown === t) pendingTeardown = null;
  });
  pendingTeardown = t;
  return t;
}

/**
 * Create a gpu.js backend in an explicit mode. Runs one tiny kernel as a self-check (throws BackendError if gpu.js
 * would fall back to another backend). webgpu: throws BackendError with the probe's reason when no adapter exists.
 */
export async function createGpujsBackend(mode: GpujsMode, opts: GpujsOptions = {}): Promise<GpujsBackend> {
  if (!MODES.includes(mode)) throw new BackendError(`gpujs: unknown mode '${mode}' (webasm, cpu, webgpu)`);
  if (mode === 'webgpu') {
    // All webgpu backends share gpu.js's one device: wait for a teardown in flight, and count this user so the
    // device and globals go only when the last webgpu backend is disposed.
    if (pendingTeardown) await pendingTeardown;
    liveWebgpu++;
  }
  const reason = await unavailableReason(mode);
  if (reason) {
    if (mode === 'webgpu') await releaseWebgpu();
    throw new BackendError(`gpujs-${mode}: not available: ${reason}`);
  }
  let options = opts;
  if (mode === 'webgpu') {
    // Device residency: buffers are created on gpu.js's shared device (the one its pipeline kernels bind on).
    try {
      const webgpuContext = await (
        gpujs as unknown as { WebGPUContext: { acquire(): Promise<WebgpuContext> } }
      ).WebGPUContext.acquire();
      options = { ...opts, webgpuContext };
    } catch (err) {
      await releaseWebgpu();
      throw new BackendError(`gpujs-webgpu: no device: ${(err as Error).message}`);
    }
  }
  let backend: GpujsBackendImpl;
  try {
    backend = new GpujsBackendImpl(mode, options, () => {
      if (mode === 'webgpu') void releaseWebgpu();
    });
  } catch (err) {
    // A bad option (e.g. BIT_GPU_ISSUE): this user of the shared device is gone.
    if (mode === 'webgpu') await releaseWebgpu();
    throw err;
  }
  try {
    const probe = backend.upload([1, 2, 3], 'float32');
    const out = backend.unary('neg', probe);
    const v = await backend.read(out);
    if (v[0] !== -1 || v[2] !== -3) throw new BackendError(`gpujs-${mode}: self-check returned [${v}]`);
    backend.free(probe);
    backend.free(out);
  } catch (err) {
    backend.dispose();
    throw err instanceof BackendError ? err : new BackendError(`gpujs-${mode}: self-check failed: ${err}`);
  }
  return backend;
}

/** Which gpu.js modes can run here, with the reason for each one that cannot. Leaves nothing running. */
export async function probeGpujs(): Promise<GpujsProbe[]> {
  const rows: GpujsProbe[] = [];
  for (const mode of MODES) {
    try {
      const b = await createGpujsBackend(mode);
      b.dispose();
      rows.push({ mode, available: true, reason: null });
    } catch (err) {
      rows.push({ mode, available: false, reason: (err as Error).message });
    }
  }
  if (pendingTeardown) await pendingTeardown;
  return rows;
}
