/**
 * The ONLY place that finds a WebGPU implementation for gpu.js. In a browser (or any runtime with a native
 * `navigator.gpu`) that object is used as is. In Node it wires the `webgpu` package (Dawn, pinned 0.6.2; loaded by
 * ./webgpu-node.ts, which browser bundles replace by ./webgpu-browser.ts) into the globals gpu.js expects: the
 * WebGPU constants/classes on globalThis and `navigator.gpu`. `teardownWebgpu` destroys gpu.js's shared device and
 * removes only the globals this module added, so Node can exit. gpu.js assigns `device.onuncapturederror`; Dawn's
 * GPUDevice accepts it (if a Dawn build rejects it, `shimUncapturedError` defines a writable property first).
 */

import gpujs from 'gpu.js';
import { loadNodeWebgpu } from './webgpu-node.js';

type Gpu = { requestAdapter(): Promise<unknown | null> };

let gpuObject: Gpu | null = null;
/** What this module added: nothing (native), `navigator.gpu`, or the whole `navigator`. */
let installed: 'none' | 'gpu' | 'navigator' = 'none';

/** Why WebGPU cannot run, or null when an adapter answered. Installs the globals on first call (Node). */
export async function installWebgpu(): Promise<{ adapter: unknown | null; reason: string | null }> {
  if (!gpuObject) {
    const g = globalThis as { navigator?: { gpu?: Gpu } };
    if (g.navigator?.gpu) {
      gpuObject = g.navigator.gpu;
    } else {
      const mod = await loadNodeWebgpu();
      if ('reason' in mod) return { adapter: null, reason: mod.reason };
      Object.assign(globalThis, mod.globals);
      shimUncapturedError(mod.globals);
      gpuObject = mod.create([]) as Gpu;
      if (g.navigator) {
        Object.defineProperty(g.navigator, 'gpu', { value: gpuObject, configurable: true, writable: true });
        installed = 'gpu';
      } else {
        Object.defineProperty(globalThis, 'navigator', {
          value: { gpu: gpuObject },
          configurable: true,
          writable: true,
        });
        installed = 'navigator';
      }
    }
  }
  const adapter = await gpuObject.requestAdapter();
  if (!adapter) {
    return {
      adapter: null,
      reason:
        'no adapter: navigator.gpu.requestAdapter() returned null (' +
        (installed === 'none'
          ? 'the browser offers WebGPU but no adapter; Chromium on Linux needs --enable-unsafe-webgpu and Vulkan)'
          : 'Dawn found no usable Vulkan/Metal/D3D12 device: the installed driver sees no GPU it supports)'),
    };
  }
  return { adapter, reason: null };
}

/** Make `onuncapturederror` assignable on GPUDevice if this Dawn build lacks the accessor. */
function shimUncapturedError(globals: Record<string, unknown>): void {
  const proto = (globals.GPUDevice as { prototype?: object } | undefined)?.prototype;
  if (proto && !('onuncapturederror' in proto)) {
    Object.defineProperty(proto, 'onuncapturederror', { value: null, writable: true, configurable: true });
  }
}

/** Destroy gpu.js's shared WebGPU device and remove the globals this module added, so the process can exit. */
export async function teardownWebgpu(): Promise<void> {
  if (!gpuObject) return;
  // WebGPUContext is exported by gpu.js but missing from its typings.
  await (gpujs as unknown as { WebGPUContext: { destroy(): Promise<void> } }).WebGPUContext.destroy();
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (installed === 'navigator') Reflect.deleteProperty(globalThis, 'navigator');
  else if (installed === 'gpu' && g.navigator) Reflect.deleteProperty(g.navigator, 'gpu');
  installed = 'none';
  gpuObject = null;
}
