/**
 * Where a protocol invocation reads and writes: the shared data's tars (`--data`, default ../shared/data),
 * result JSONs (`--out`), caches and run folders (`--work`); with `--store DIR` (the queue's shared folder)
 * results go to DIR/results and run folders to DIR/runs while caches stay in the local work folder.
 * Defaults: full protocol -> results experiments/results/v2, work runs/repro2; --quick -> runs/repro2-quick/*.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Paths } from './protocol.js';

/** The paths of an invocation from its flags. */
export function protocolPaths(flags: Record<string, string | boolean>, quick: boolean): Paths {
  const def = quick ? 'runs/repro2-quick' : 'runs/repro2';
  const data = String(flags.data || path.resolve('..', 'shared', 'data'));
  const store = flags.store ? path.resolve(String(flags.store)) : '';
  return {
    cifarTar: path.resolve(data, 'cifar10', 'train.tar'),
    imagenetteTar: path.resolve(data, 'imagenette', 'train.tar'),
    tinyTrainTar: path.resolve(data, 'tiny-imagenet', 'train.tar'),
    tinyValTar: path.resolve(data, 'tiny-imagenet', 'val.tar'),
    results: store
      ? path.join(store, 'results')
      : path.resolve(String(flags.out || (quick ? `${def}/results` : 'experiments/results/v2'))),
    work: path.resolve(String(flags.work || (quick ? `${def}/work` : def))),
    ...(store ? { runs: path.join(store, 'runs') } : {}),
  };
}

/** The first data tar that is absent, or null. */
export function missingData(p: Paths): string | null {
  return [p.cifarTar, p.imagenetteTar, p.tinyTrainTar, p.tinyValTar].find((f) => !fs.existsSync(f)) ?? null;
}
