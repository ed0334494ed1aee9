/**
 * Wall-time estimate of the protocol from a measured training speed (images/s of forward + backward + update
 * at 32 px on this machine): images each run trains on (steps x batch) over the speed, plus its evaluation
 * images at `evalFactor` x the speed, plus a fixed per-run overhead (setup, checkpoints). The scratch baseline's
 * length depends on its grid's choice, so the estimate is a range: every scratch run at its grid's shortest
 * schedule, and at the extended one (the longest x extend, every k).
 * Invariant: counts exactly the runs `protocolRuns` lists (by experiment), never a separate list.
 */

import { scaledHyperRule } from '../../src/train/schedule.js';
import type { RunDef } from './protocol.js';
import type { Settings } from './settings.js';

/**
 * Speeds in training images/s (wall, loader included): the main model at the upstream batch (`up`) and at the
 * fine-tuning batch (`ft`), Table 4's model with GN (`t4`) and with ghost BN (`t4bn`) at its upstream batch;
 * Table 4's fine-tuning runs are taken at 0.8 x those.
 */
export interface Speeds {
  up: number;
  ft: number;
  t4: number;
  t4bn: number;
}

/** Speeds measured on this machine (bit-ts reproduce speed, 2 shared cores, load 5-6; see the report). */
export const MEASURED: Speeds = { up: 500, ft: 450, t4: 800, t4bn: 400 };

const OVERHEAD_S = 3;

/** Estimated seconds per experiment, min and max, and a text table. */
export function estimate(
  s: Settings,
  runs: RunDef[],
  speed: Speeds,
  evalFactor = 3,
): { min: number; max: number; text: string } {
  const ft = Math.round(500 * s.finetune.scale) * s.finetune.batch;
  const scratchMin = Math.min(...s.scratch.steps) * s.finetune.batch;
  const scratchMax = Math.max(...s.scratch.steps) * s.scratch.extend * s.finetune.batch;
  const evalImages = (id: string) =>
    id.startsWith('up-tiny') || id.startsWith('t4-up')
      ? 10_100
      : id.startsWith('up-imagenette')
        ? 950
        : id.startsWith('grid')
          ? s.pilotEvalCount
          : s.cifarEvalCount;
  const per = new Map<string, { n: number; min: number; max: number }>();
  for (const r of runs) {
    let lo: number;
    let hi: number;
    let v = speed.ft;
    const id = r.id;
    if (id === 'up-tiny') {
      lo = hi = s.upstreams.tiny.steps * s.upstreams.tiny.batch;
      v = speed.up;
    } else if (id === 'up-imagenette') lo = hi = s.upstreams.imagenette.steps * s.upstreams.imagenette.batch;
    else if (id.startsWith('t4-up-')) {
      lo = hi = s.table4.steps * s.table4.batch;
      v = id.startsWith('t4-up-bn') ? speed.t4bn : speed.t4;
    } else if (id.startsWith('t4-tr-')) {
      lo = hi = ft;
      v = 0.8 * (id.startsWith('t4-tr-bn') ? speed.t4bn : speed.t4);
    } else if (id.startsWith('grid-scratch') && id.endsWith('-ext')) {
      lo = 0;
      hi = scratchMax;
    } else if (id.startsWith('grid-scratch')) lo = hi = Number(/-st(\d+)$/.exec(id)![1]) * s.finetune.batch;
    else if (id.includes('-scratch-k')) {
      lo = scratchMin;
      hi = scratchMax;
    } else if (id.startsWith('full-')) lo = hi = scaledHyperRule(40_000, s.full.scale)[4] * s.finetune.batch;
    else if (id.startsWith('sched-fixed')) lo = hi = s.schedule.fixedSteps * s.finetune.batch;
    else lo = hi = ft;
    const e = evalImages(id) / (speed.ft * evalFactor) + OVERHEAD_S;
    const g = per.get(r.experiment) ?? { n: 0, min: 0, max: 0 };
    per.set(r.experiment, { n: g.n + 1, min: g.min + lo / v + e, max: g.max + hi / v + e });
  }
  const lines = [
    `Estimated wall time at ${speed.up} img/s (upstream), ${speed.ft} (fine-tuning), ${speed.t4} / ${speed.t4bn} (Table 4 GN / BN), 32 px, wasm:`,
    '',
    '| experiment | runs | minutes (min-max) |',
    '|---|---|---|',
  ];
  let min = 0;
  let max = 0;
  for (const [name, g] of per) {
    lines.push(`| ${name} | ${g.n} | ${(g.min / 60).toFixed(0)}-${(g.max / 60).toFixed(0)} |`);
    min += g.min;
    max += g.max;
  }
  lines.push(`| total | ${runs.length} | ${(min / 60).toFixed(0)}-${(max / 60).toFixed(0)} |`);
  return { min, max, text: lines.join('\n') };
}
