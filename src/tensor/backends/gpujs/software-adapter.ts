/**
 * Whether a WebGPU adapter is a software one, from its info alone. No imports, so a page can classify the adapter
 * from `navigator.gpu.requestAdapter()` without loading gpu.js (web/worker.ts's probe); ./adapter-info.ts uses it
 * for gpu.js's own adapter.
 */

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|warp|microsoft basic render|software|cpu/i;

/** Whether `info` names a software adapter (by flag or by its vendor/architecture/device/description text). */
export function isSoftwareAdapter(info: {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter?: boolean;
}): boolean {
  if (info.isFallbackAdapter) return true;
  return SOFTWARE.test([info.vendor, info.architecture, info.device, info.description].join(' '));
}
