/**
 * `bit-ts models`: every registered model with its parameter count (1000 classes and without a classifier)
 * and compute per image (GFLOPs = 2 x GMACs, convolutions and head) at 224 px and 128 px. Nothing allocated.
 */

import { countParameters, gflops, MODELS } from '../models/index.js';
import { formatTable } from '../train/metrics.js';
import type { Args } from './args.js';

/** Run the command; returns the exit code. */
export async function modelsCommand(args: Args): Promise<number> {
  const rows = MODELS.map((m) => ({
    name: m.name,
    params: countParameters(m.name, 1000),
    paramsNoHead: countParameters(m.name, 0),
    gflops224: gflops(m.name, 224),
    gflops128: gflops(m.name, 128),
    aliases: m.aliases,
    description: m.description,
  }));
  if (args.flags.json) {
    console.log(JSON.stringify(rows, null, 2));
    return 0;
  }
  const fmt = (n: number) => n.toLocaleString('en-US');
  console.log(
    formatTable(
      ['model', 'params (1000 cls)', 'params (no head)', 'GFLOPs/img @224', 'GFLOPs/img @128', 'description'],
      rows.map((r) => [
        r.name,
        fmt(r.params),
        fmt(r.paramsNoHead),
        r.gflops224.toFixed(2),
        r.gflops128.toFixed(2),
        r.description,
      ]),
    ),
  );
  console.log('\naliases: BiT-S-/BiT-M- prefixes, timm resnetv2_<d>x<w>_bit[m][_in21k], MindCV BiT_resnet50/101/50x3');
  return 0;
}
