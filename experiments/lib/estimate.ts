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

/** Speeds in training images/s: GN models (every main run) and BN models (Table 4's BN variants). */
export interface Speeds {
  gn: number;
  bn: number;
}

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
    let v = speed.gn;
    const id = r.id;
    if (id === 'up-tiny') lo = hi = s.upstreams.tiny.steps * s.upstreams.tiny.batch;
    else if (id === 'up-imagenette') lo = hi = s.upstreams.imagenette.steps * s.upstreams.imagenette.batch;
    else if (id.startsWith('t4-up-')) {
      lo = hi = s.table4.steps * s.table4.batch;
      if (id.startsWith('t4-up-bn')) v = speed.bn;
    } else if (id.startsWith('t4-tr-bn')) {
      lo = hi = ft;
      v = speed.bn;
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
    const e = evalImages(id) / (speed.gn * evalFactor) + OVERHEAD_S;
    const g = per.get(r.experiment) ?? { n: 0, min: 0, max: 0 };
    per.set(r.experiment, { n: g.n + 1, min: g.min + lo / v + e, max: g.max + hi / v + e });
  }
  const lines = [
    `Estimated wall time at ${speed.gn} img/s (GN) and ${speed.bn} img/s (BN), 32 px, wasm:`,
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
