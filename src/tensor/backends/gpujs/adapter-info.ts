/**
 * What WebGPU adapter gpu.js runs on, and whether it is real hardware. gpu.js owns the one GPUDevice
 * (WebGPUContext.acquire(), which requests the adapter's full maxStorageBufferBindingSize / maxBufferSize so a
 * BiT-R50x1 step at batch 8 x 128 px fits); this module reads the adapter's info and the limits the device got.
 *
 * Software adapters (SwiftShader, llvmpipe/lavapipe, WARP, any fallback adapter) prove the path but run 30-50x
 * slower than the wasm backend, so the default backend choice (registry.ts) takes webgpu only on hardware.
 */

import gpujs from 'gpu.js';
import { isSoftwareAdapter } from './software-adapter.js';

export { isSoftwareAdapter };

/** The adapter as `bit-ts backends` prints it. */
export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** 'gpu' for hardware, 'cpu' for a software rasterizer / fallback adapter. */
  deviceType: 'gpu' | 'cpu';
  isFallbackAdapter: boolean;
  /** The limits the device was created with (bytes). */
  limits: { maxStorageBufferBindingSize: number; maxBufferSize: number };
}

type RawInfo = {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
};
type Ctx = {
  adapter: { info?: RawInfo; isFallbackAdapter?: boolean };
  device: { limits: { maxStorageBufferBindingSize: number; maxBufferSize: number } };
};

/** Info on gpu.js's shared adapter and device (acquires them if needed: navigator.gpu must be installed). */
export async function webgpuAdapterInfo(): Promise<AdapterInfo> {
  const ctx = await (gpujs as unknown as { WebGPUContext: { acquire(): Promise<Ctx> } }).WebGPUContext.acquire();
  const raw = ctx.adapter.info ?? {};
  const base = {
    vendor: raw.vendor ?? '',
    architecture: raw.architecture ?? '',
    device: raw.device ?? '',
    description: raw.description ?? '',
    isFallbackAdapter: Boolean(raw.isFallbackAdapter ?? ctx.adapter.isFallbackAdapter),
  };
  return {
    ...base,
    deviceType: isSoftwareAdapter(base) ? 'cpu' : 'gpu',
    limits: {
      maxStorageBufferBindingSize: ctx.device.limits.maxStorageBufferBindingSize,
      maxBufferSize: ctx.device.limits.maxBufferSize,
    },
  };
}

/** One line for people: vendor, architecture, device type and the requested limits. */
export function formatAdapter(a: AdapterInfo): string {
  const mib = (n: number) => `${Math.round(n / 2 ** 20)} MiB`;
  const name = [a.vendor, a.architecture].filter(Boolean).join(' / ') || 'unknown adapter';
  return (
    `${name} (${a.description || a.device || 'no description'}); device type ${a.deviceType}` +
    `${a.deviceType === 'cpu' ? ' (software: proves the path, slower than wasm)' : ''}; limits requested: ` +
    `maxStorageBufferBindingSize ${mib(a.limits.maxStorageBufferBindingSize)}, maxBufferSize ${mib(a.limits.maxBufferSize)}`
  );
}
