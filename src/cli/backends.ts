/**
 * `bit-ts backends`: probe every backend with a tiny op and print what is available here and why not, plus the
 * backend a run would use by default (BIT_BACKEND, else webgpu when its adapter is hardware, else wasm), with the
 * WebGPU adapter's vendor, architecture, device type and requested limits. `--stats` runs a few training steps and
 * prints launches, uploads and readbacks per step (./backends-stats.ts).
 */

import { chooseDefault, probeBackends } from '../tensor/backends/registry.js';
import { formatTable } from '../train/metrics.js';
import type { Args } from './args.js';
import { backendsStats } from './backends-stats.js';

/** Run the command; returns the exit code. */
export async function backendsCommand(args: Args): Promise<number> {
  const probes = await probeBackends();
  const env = process.env.BIT_BACKEND;
  const def = env || chooseDefault(probes);
  if (args.flags.stats) {
    // Transfer counters of a training step: gpujs-webgpu where it runs, else the default backend.
    const gpu = probes.find((p) => p.name === 'gpujs-webgpu' && p.available);
    return backendsStats(args.flags, gpu ? 'gpujs-webgpu' : def);
  }
  if (args.flags.json) {
    console.log(JSON.stringify({ default: def, backends: probes }, null, 2));
    return 0;
  }
  console.log(
    formatTable(
      ['backend', 'available', 'reason'],
      probes.map((p) => [p.name, p.available ? 'yes' : 'no', p.reason]),
    ),
  );
  const gpu = probes.find((p) => p.name === 'gpujs-webgpu');
  if (gpu?.adapter) {
    const a = gpu.adapter;
    console.log(
      `\nwebgpu adapter: vendor ${a.vendor || '?'}, architecture ${a.architecture || '?'}, device type ${a.deviceType}` +
        ` (${a.description || a.device || 'no description'}); limits requested: maxStorageBufferBindingSize ` +
        `${a.limits.maxStorageBufferBindingSize}, maxBufferSize ${a.limits.maxBufferSize}` +
        (a.deviceType === 'cpu'
          ? '\n  software adapter: not chosen by default (slower than wasm); use --backend gpujs-webgpu'
          : ''),
    );
  }
  console.log(
    `\ndefault: ${def}${process.env.BIT_BACKEND ? ' (from BIT_BACKEND)' : ''}; choose with --backend NAME or BIT_BACKEND=NAME`,
  );
  return 0;
}
