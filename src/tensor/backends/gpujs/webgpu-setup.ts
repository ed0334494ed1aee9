/**
 * The ONLY place that wires the `webgpu` package (Dawn for Node, pinned 0.6.2) into the globals gpu.js expects:
 * the WebGPU constants/classes on globalThis and `navigator.gpu`. Loaded lazily (dynamic import) so cpu/webasm
 * never load the native addon. `teardownWebgpu` destroys gpu.js's shared device and removes `navigator.gpu` so
 * Node can exit. gpu.js assigns `device.onuncapturederror`; Dawn's GPUDevice accepts it, so no shim is needed here
 * (if a Dawn build rejects it, `shimUncapturedError` defines a writable property first).
 */

import gpujs from 'gpu.js';

let gpuObject: unknown = null;
let installedNavigator = false;

/** Why WebGPU cannot run, or null when an adapter answered. Installs the globals on first call. */
export async function installWebgpu(): Promise<{ adapter: unknown | null; reason: string | null }> {
  if (!gpuObject) {
    let mod: { create: (flags: string[]) => unknown; globals: Record<string, unknown> };
    try {
      mod = (await import('webgpu')) as unknown as typeof mod;
    } catch (err) {
      return { adapter: null, reason: `the webgpu package failed to load: ${(err as Error).message}` };
    }
    Object.assign(globalThis, mod.globals);
    shimUncapturedError(mod.globals);
    gpuObject = mod.create([]);
    const g = globalThis as { navigator?: { gpu?: unknown } };
    if (g.navigator) {
      Object.defineProperty(g.navigator, 'gpu', { value: gpuObject, configurable: true, writable: true });
    } else {
      Object.defineProperty(globalThis, 'navigator', { value: { gpu: gpuObject }, configurable: true, writable: true });
      installedNavigator = true;
    }
  }
  const adapter = await (gpuObject as { requestAdapter(): Promise<unknown | null> }).requestAdapter();
  if (!adapter) {
    return {
      adapter: null,
      reason:
        'no adapter: navigator.gpu.requestAdapter() returned null (Dawn found no Vulkan/Metal/D3D12 device; ' +
        'on Linux this usually means libvulkan.so.1 or a GPU driver is missing)',
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
  if (installedNavigator) {
    Reflect.deleteProperty(globalThis, 'navigator');
    installedNavigator = false;
  } else if (g.navigator) {
    Reflect.deleteProperty(g.navigator, 'gpu');
  }
  gpuObject = null;
}
