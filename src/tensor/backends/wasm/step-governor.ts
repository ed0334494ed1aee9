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
 * Schedule: the first measured steps alternate (threads, solo, threads, solo: two of each) before the first
 * decision; afterwards one step of the other mode (a probe) runs after `firstProbe` steps of the chosen mode, then
 * after twice as many each time the decision holds, at most `maxProbe`; a flip resets the interval. A change of
 * load the chosen mode's own steps show (its last two steps both `shift` slower or faster than its median at the
 * last decision) probes at once. So a change of load is seen within a few steps, and a quiet machine pays one solo
 * step per `maxProbe` steps once settled (two at the start, then one after 4, 8, 16, 32 and every 64 steps).
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
  /** Relative change of the chosen mode's step time that probes at once (default 0.15). */
  readonly shift?: number;
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
  private limitMs = Number.POSITIVE_INFINITY;
  /** Steps measured, steps run solo, probes, decision flips, cold steps skipped. */
  readonly stats = { steps: 0, soloSteps: 0, probes: 0, flips: 0, coldSteps: 0 };

  constructor(opts: StepGovernorOptions = {}) {
    this.enabled = opts.enabled ?? envOn('BIT_STEP_GOVERNOR');
    this.minGain = opts.minGain ?? 0.05;
    this.samples = opts.samples ?? 3;
    this.firstProbe = opts.firstProbe ?? 4;
    this.maxProbe = opts.maxProbe ?? 64;
    this.shift = opts.shift ?? 0.15;
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
    if (this.chosen === null) {
      if (thr.length < 2 || solo.length < 2) return solo.length < thr.length ? 'solo' : 'threads';
      return this.decide();
    }
    if (ran !== this.chosen) {
      // a probe ended: decide again; the interval doubles while the decision holds
      const before = this.chosen;
      const now = this.decide();
      if (now === before) this.interval = Math.min(this.maxProbe, this.interval * 2);
      this.untilProbe = this.interval;
      return now;
    }
    const own = this.times[ran];
    const last2 = own.slice(-2);
    const moved =
      last2.length === 2 &&
      (last2.every((v) => v > (1 + this.shift) * this.ref) || last2.every((v) => (1 + this.shift) * v < this.ref));
    if (--this.untilProbe <= 0 || moved) {
      if (moved) this.interval = this.firstProbe;
      this.stats.probes++;
      this.untilProbe = 0;
      return ran === 'threads' ? 'solo' : 'threads';
    }
    return ran;
  }

  /** Choose from the medians; a flip (or the first decision) resets the probe interval. */
  private decide(): StepMode {
    const thr = median(this.times.threads);
    const solo = median(this.times.solo);
    const mode: StepMode = thr <= (1 - this.minGain) * solo ? 'threads' : 'solo';
    if (mode !== this.chosen) {
      if (this.chosen !== null) this.stats.flips++;
      this.chosen = mode;
      this.interval = this.firstProbe;
      this.untilProbe = this.firstProbe;
    }
    this.ref = mode === 'threads' ? thr : solo;
    // the chosen mode's older samples stay; the change test compares its next steps with this median
    return mode;
  }
}
