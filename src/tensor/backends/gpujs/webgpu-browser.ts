/**
 * Browser stand-in for ./webgpu-node.ts: a browser has no `webgpu` package to load, only `navigator.gpu`, which
 * ./webgpu-setup.ts uses before ever calling this. Reaching it means this browser offers no WebGPU.
 */

import type { NodeWebgpu } from './webgpu-node.js';

export async function loadNodeWebgpu(): Promise<NodeWebgpu> {
  return {
    reason:
      'navigator.gpu is missing: this browser has no WebGPU (Chromium: served over http://127.0.0.1 or https, ' +
      'on Linux with --enable-unsafe-webgpu)',
  };
}
