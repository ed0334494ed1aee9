/**
 * `bit-ts backends`: probe every backend with a tiny op and print what is available here and why not, plus the
 * backend a run would use by default (BIT_BACKEND, else webgpu when an adapter exists, else wasm).
 */

import { defaultBackendName, probeBackends } from '../tensor/backends/registry.js';
import { formatTable } from '../train/metrics.js';
import type { Args } from './args.js';

/** Run the command; returns the exit code. */
export async function backendsCommand(args: Args): Promise<number> {
  const probes = await probeBackends();
  const def = await defaultBackendName();
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
  console.log(
    `\ndefault: ${def}${process.env.BIT_BACKEND ? ' (from BIT_BACKEND)' : ''}; choose with --backend NAME or BIT_BACKEND=NAME`,
  );
  return 0;
}
