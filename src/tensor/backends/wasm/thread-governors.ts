/**
 * The thread pool's governors as ./threads.ts builds and reports them: the step governor from the pool's options
 * (off unless asked or BIT_STEP_GOVERNOR=1, never without workers or with the dispatch governor off), and
 * `PoolStats`, the governors' counters plus the live workers and the shares they ran (read from the control words).
 *
 * Invariants: reading stats has no side effect (plain atomic loads).
 */

import { envVar } from '../../../env.js';
import type { WorkerHandle } from './host.js';
import type { GovernorOptions, PoolGovernor } from './pool-governor.js';
import { StepGovernor, type StepGovernorOptions } from './step-governor.js';
import { CTL, CTL_WORDS } from './thread-control.js';

/** ThreadPool.stats(): the governors' counters, live workers and the shares they ran. */
export interface PoolStats {
  soloCalls: number;
  backoffs: number;
  voidWindows: number;
  steps: number;
  soloSteps: number;
  stepProbes: number;
  stepFlips: number;
  coldSteps: number;
  workersRunning: number;
  workerShares: number;
}

/** The pool's governor options (./threads.ts constructor). */
export type PoolGovernorOptions = {
  readonly adaptive?: boolean;
  readonly step?: boolean | StepGovernorOptions;
} & GovernorOptions;

/** The step governor of a pool of `threads` threads whose dispatch governor is `dispatch`. */
export function stepGovernorFor(governor: PoolGovernorOptions, dispatch: PoolGovernor, threads: number): StepGovernor {
  // the step governor: on where asked (true, or an object with enabled), else only with BIT_STEP_GOVERNOR=1 (off by
  // default: it measured no gain under contention and a quiet cost; see step-governor.ts); never without a pool or
  // with the dispatch governor off (the plain pool)
  const step = typeof governor.step === 'object' ? governor.step : {};
  const asked = typeof governor.step === 'boolean' ? governor.step : step.enabled;
  return new StepGovernor({
    ...(governor.freshMark ? { freshMark: governor.freshMark } : {}),
    ...step,
    enabled: (asked ?? envVar('BIT_STEP_GOVERNOR') === '1') && dispatch.enabled && threads > 1,
  });
}

/** The pool's stats: `workers[w - 1]` is thread w's handle, `ctl` the control block. */
export function poolStats(
  ctl: Int32Array,
  threads: number,
  workers: readonly WorkerHandle[],
  dispatch: PoolGovernor,
  stepGov: StepGovernor,
): PoolStats {
  let workersRunning = 0;
  let workerShares = 0;
  for (let w = 1; w < threads; w++) {
    const base = w * CTL_WORDS;
    if (Atomics.load(ctl, base + CTL.ready) === 1 && workers[w - 1]!.failure() === null) workersRunning++;
    workerShares += Atomics.load(ctl, base + CTL.shares);
  }
  const st = stepGov.stats;
  return {
    ...dispatch.stats,
    steps: st.steps,
    soloSteps: st.soloSteps,
    stepProbes: st.probes,
    stepFlips: st.flips,
    coldSteps: st.coldSteps,
    workersRunning,
    workerShares,
  };
}
