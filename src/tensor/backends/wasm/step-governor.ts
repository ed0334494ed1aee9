/**
 * Step-level choice between threads and the calling thread alone (issue 24: threads under contention). The
 * dispatch-level ./pool-governor.ts compares each threaded dispatch with the calling thread's own share, so it cannot
 * see what threads cost between dispatches: with a busy loop or another process beside the pool, three runnable
 * threads share two cores and the calling thread's serial work (JS dispatch, autograd, solo ops: a quarter to a
 * third of a small training step) runs ~1.5x slower whenever a worker runs or spins. A training step repeats the
 * same work, so whole steps are comparable: this governor times every step (from the first dispatch after a step
 * boundary to the next boundary: everything the step does, the JS between dispatches included, but not the idle
 * time before it starts), runs some whole steps solo (every share on the calling thread, as the back-off does) and
 * keeps the median of the last `samples` steps of each mode; the next step runs threaded (the dispatch-level
 * governor still deciding per dispatch) while threads save at least `minGain` of the solo step, else solo.
 *
 * Schedule: the first measured steps run threads, solo, solo, threads (two of each, in ABBA order: the first steps
 * speed up as the JIT warms) and the medians decide; afterwards one step of the other mode (a probe) runs after
 * `firstProbe` steps of the chosen mode, then after twice as many each time the decision holds, at most `maxProbe`.
 * A probe step is compared with the chosen mode's median (its last `samples` steps: fresh, it runs every step); where
 * it wins, the next step probes again, and only `confirm` winning probe steps in a row flip the decision (one lucky
 * step does not; a stale estimate of the other mode never decides) and restart the interval; else the other mode's
 * estimate becomes the probe step that lost. The chosen mode's own steps probe at once where their median loses against that
 * estimate or moved `shift` from the median at the last decision (a change of load). So a change of load is seen
 * within a few steps, and a quiet machine pays one solo step per `maxProbe` steps once settled (two at the start,
 * then one after 4, 8, 16, 32 and every 64 steps).
 *
 * Cold steps are not samples: the first step, and up to `maxCold` steps in a row during which the heap handed out
 * never-used memory (`freshMark` moved: first-touch page faults, first kernel builds). A step that runs much longer
 * than the steps before (an evaluation pass, the end of training and inference after it: no boundary comes) stops
 * being solo after `expiry` times the larger median (at least `minExpiryMs`), so a backend that stops seeing
 * boundaries behaves as without this governor; one that never sees one (inference, tests) is never affected.
 *
 * Invariants: decisions use only step times from the injected clock (no timing in tests); `soloNow` is one or two
 * comparisons; results never depend on the decisions (which thread runs a command never changes results).
 * Default on unless the environment variable BIT_STEP_GOVERNOR=0 (read when the backend is created).
 */

import { envOn } from '../../../env.js';

/** Tuning of {@link StepGovernor}. */
export interface StepGovernorOptions {
  /** Fraction of the solo step time threads must save to run threaded (default 0.05). */
  readonly minGain?: number;
  /** Steps per mode whose median is the mode's estimate (default 3). */
  readonly samples?: number;
  /** Steps of the chosen mode before the first probe after a decision or a flip (default 4). */
  readonly firstProbe?: number;
  /** Longest interval between probes, in steps (default 64). */
  readonly maxProbe?: number;
  /** Relative change of the chosen mode's step time that probes at once (default 0.25). */
  readonly shift?: number;
  /** Probe steps in a row that must each beat the chosen mode's median before the decision flips (default 2). */
  readonly confirm?: number;
  /** Most cold steps (fresh heap) skipped in a row (default 2). */
  readonly maxCold?: number;
  /** A solo step longer than this many times the larger median runs the rest threaded (default 4). */
  readonly expiry?: number;
  /** Floor of that limit, ms (default 250). */
  readonly minExpiryMs?: number;
  /** Whether the governor is on (default: unless BIT_STEP_GOVERNOR=0). */
  readonly enabled?: boolean;
  /** A counter that moves when the heap hands out never-used memory (default: never moves). */
  readonly freshMark?: () => number;
}

/** Step-level mode. */
export type StepMode = 'threads' | 'solo';

/** Median of a short list (the upper one for an even count is not used: the mean of the middle two). */
function median(v: readonly number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export class StepGovernor {
  readonly enabled: boolean;
  private readonly minGain: number;
  private readonly samples: number;
  private readonly firstProbe: number;
  private readonly maxProbe: number;
  private readonly shift: number;
  private readonly maxCold: number;
  private readonly expiry: number;
  private readonly minExpiryMs: number;
  private readonly freshMark: () => number;
  private readonly times: Record<StepMode, number[]> = { threads: [], solo: [] };
  /** The decided mode (null: still measuring both). */
  private chosen: StepMode | null = null;
  /** The mode of the step in progress. */
  private cur: StepMode = 'threads';
  private stepStart = -1;
  private seen = 0;
  private coldRun = 0;
  private mark: number;
  private interval: number;
  private untilProbe: number;
  /** Median of the chosen mode at the last decision (the reference of the change test). */
  private ref = 0;
  /** Steps of the chosen mode since the last decision. */
  private since = 0;
  /** The other mode's step time estimate (the last probe step that lost, or its median before the first decision). */
  private other = 0;
  /** Steps of the probe in progress. */
  private probeSteps = 0;
  private readonly confirm: number;
  private limitMs = Number.POSITIVE_INFINITY;
  /** Steps measured, steps run solo, probes, decision flips, cold steps skipped. */
  readonly stats = { steps: 0, soloSteps: 0, probes: 0, flips: 0, coldSteps: 0 };

  constructor(opts: StepGovernorOptions = {}) {
    this.enabled = opts.enabled ?? envOn('BIT_STEP_GOVERNOR');
    this.minGain = opts.minGain ?? 0.05;
    this.samples = opts.samples ?? 3;
    this.firstProbe = opts.firstProbe ?? 4;
    this.maxProbe = opts.maxProbe ?? 64;
    this.shift = opts.shift ?? 0.25;
    this.confirm = opts.confirm ?? 2;
    this.maxCold = opts.maxCold ?? 2;
    this.expiry = opts.expiry ?? 4;
    this.minExpiryMs = opts.minExpiryMs ?? 250;
    this.freshMark = opts.freshMark ?? (() => 0);
    this.mark = this.freshMark();
    this.interval = this.firstProbe;
    this.untilProbe = this.firstProbe;
  }

  /** The mode of the step in progress (the next one, between steps). */
  get mode(): StepMode {
    return this.cur;
  }

  /** The decided mode (null while the first steps still measure both). */
  get decided(): StepMode | null {
    return this.chosen;
  }

  /** Whether a step is open (a dispatch since the last boundary): the pool calls `begin` only when not. */
  get open(): boolean {
    return this.stepStart >= 0;
  }

  /** A dispatch at `now` (ms): the first one after a boundary starts the step's clock. */
  begin(now: number): void {
    if (this.stepStart < 0) this.stepStart = now;
  }

  /** Whether a dispatch at `now` should run every share on the calling thread (false where never told of a step). */
  soloNow(now: number): boolean {
    return this.cur === 'solo' && now - this.stepStart <= this.limitMs;
  }

  /** A training step ended at `now` (ms): record its time and choose the next step's mode. */
  stepEnded(now: number): void {
    if (!this.enabled || this.stepStart < 0) return;
    const ms = now - this.stepStart;
    this.stepStart = -1;
    const ran = this.cur;
    if (ran === 'solo') this.stats.soloSteps++;
    if (this.isCold()) {
      this.stats.coldSteps++;
      return;
    }
    this.stats.steps++;
    const t = this.times[ran];
    t.push(ms);
    if (t.length > this.samples) t.shift();
    this.cur = this.next(ran);
    const meds = [this.times.threads, this.times.solo].filter((v) => v.length > 0).map(median);
    this.limitMs = Math.max(this.minExpiryMs, this.expiry * Math.max(...meds));
  }

  /** Whether the step just ended is cold (and not a sample); updates the fresh-heap mark. */
  private isCold(): boolean {
    const first = this.seen++ === 0;
    const mark = this.freshMark();
    const fresh = mark !== this.mark;
    this.mark = mark;
    if (first || (fresh && this.coldRun < this.maxCold)) {
      this.coldRun++;
      return true;
    }
    this.coldRun = 0;
    return false;
  }

  /** The mode of the next step, after a step of mode `ran` was recorded. */
  private next(ran: StepMode): StepMode {
    const thr = this.times.threads;
    const solo = this.times.solo;
    const chosen = this.chosen;
    if (chosen === null) {
      // threads, solo, solo, threads (ABBA: the first steps speed up as the JIT warms, which favours neither)
      if (thr.length === 0) return 'threads';
      if (solo.length < 2) return 'solo';
      if (thr.length < 2) return 'threads';
      const mode = this.better(median(thr), median(solo));
      this.settle(mode, median(this.times[other(mode)]));
      return mode;
    }
    const own = median(this.times[chosen]);
    if (ran !== chosen) {
      // a probe step, against the chosen mode's median: a flip needs `confirm` probe steps in a row that each win;
      // else the other mode's estimate is the probe step that lost (fresh; a lucky step before it does not count)
      const p = this.times[ran].at(-1)!;
      this.probeSteps++;
      const wins = this.better(...(ran === 'threads' ? ([p, own] as const) : ([own, p] as const))) === ran;
      if (wins && this.probeSteps < this.confirm) return ran;
      if (wins) {
        this.stats.flips++;
        this.settle(ran, own);
      } else {
        this.interval = Math.min(this.maxProbe, this.interval * 2);
        this.settle(chosen, p);
      }
      return this.chosen!;
    }
    // probe early where the chosen mode's own steps changed: its median now loses against the other mode's last
    // estimate, or moved `shift` from its median at the last decision (after `samples` steps since)
    const loses = this.better(...(chosen === 'threads' ? ([own, this.other] as const) : ([this.other, own] as const)));
    const moved = ++this.since >= this.samples && Math.abs(own - this.ref) > this.shift * this.ref;
    if (--this.untilProbe <= 0 || loses !== chosen || moved) {
      this.stats.probes++;
      this.probeSteps = 0;
      return other(chosen);
    }
    return chosen;
  }

  /** The faster mode from step times `thr` and `solo`: threads only where they save `minGain` of the solo time. */
  private better(thr: number, solo: number): StepMode {
    return thr <= (1 - this.minGain) * solo ? 'threads' : 'solo';
  }

  /** Keep `mode` (the other mode's estimate `otherMs`); a new mode restarts the probe interval. */
  private settle(mode: StepMode, otherMs: number): void {
    if (mode !== this.chosen) this.interval = this.firstProbe;
    this.chosen = mode;
    this.other = otherMs;
    this.untilProbe = this.interval;
    this.ref = median(this.times[mode]);
    this.since = 0;
  }
}

/** The other mode. */
function other(m: StepMode): StepMode {
  return m === 'threads' ? 'solo' : 'threads';
}
