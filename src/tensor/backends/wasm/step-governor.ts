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
 * Schedule: a workload starts threaded; its first probe (one step of the other mode) runs after `samples` measured
 * threaded steps, the next ones after twice `firstProbe` steps of the chosen mode (after `firstProbe` following a
 * flip), then after twice as many each time the decision holds, at most `maxProbe`; after a probe that lost by more
 * than `shift` (a quiet machine: threads ~1.5x faster), after `maxProbe` at once, since the chosen mode would have to
 * slow down by `shift` to lose, which probes at once (below).
 * A probe step is compared with the chosen mode's median (its last `samples` steps: fresh, it runs every step);
 * where it wins, the next step probes again, and only `confirm` winning probe steps in a row flip the decision (one
 * lucky step does not; a stale estimate of the other mode never decides) and restart the interval; else the other
 * mode's estimate becomes the probe step that lost. The chosen mode's own steps probe at once where their median
 * loses against that estimate or is `shift` slower than the median at the last decision (a change of load; faster
 * steps, as while the JIT warms up, only make the decision more right). So a change
 *  * of load is seen within a few steps, and a quiet machine pays one solo step per `maxProbe` steps (the first after 3
 * steps); a loaded one goes solo after 5 steps.
 *
 * Workloads: only steps of the same work compare, so the decisions above are kept per workload, told apart by the
 * step's signature (its count of threaded dispatches and of their shares or tasks: the same model at the same batch
 * shape gives the same every step); the next step follows the decisions of the last step's workload. A step with an
 * evaluation pass folded into it, or a bench's next case, thus starts or resumes its own decisions instead of
 * polluting the training step's (at most MAX_WORKLOADS kept, the oldest dropped).
 *
 * Cold steps are not samples: a workload's first step, and up to `maxCold` steps in a row during which the heap
 * handed out never-used memory (`freshMark` moved: first-touch page faults, first kernel builds). A step that runs
 * much longer than the steps before (an evaluation pass, the end of training and inference after it: no boundary
 * comes) stops being solo after `expiry` times the larger median (at least `minExpiryMs`), so a backend that stops
 * seeing boundaries behaves as without this governor; one that never sees one (inference, tests) is never affected.
 *
 * Invariants: decisions use only step times from the injected clock (no timing in tests); `soloNow` is one or two
 * comparisons; results never depend on the decisions (which thread runs a command never changes results).
 * Off by default; on with the environment variable BIT_STEP_GOVERNOR=1 (read when the backend is created) or the
 * backend option `stepGovernor`. Measured on a quiet machine (session 6, bench/contention.ts --sides
 * one,stepgov,nostepgov, 7 rounds) it missed 5 of 24 contention cells against 1 without it, and cost bit-tiny b128
 * 1.11x quiet (wrong flips to solo on noisy early steps), so it is an opt-in experiment, not the default.
 */

import { envVar } from '../../../env.js';

/** Tuning of {@link StepGovernor}. */
export interface StepGovernorOptions {
  /** Fraction of the solo step time threads must save to run threaded (default 0.05). */
  readonly minGain?: number;
  /** Steps per mode whose median is the mode's estimate; a workload's first probe comes after as many (default 3). */
  readonly samples?: number;
  /** Steps of the chosen mode before the probe after a flip, or the second one (default 4). */
  readonly firstProbe?: number;
  /** Longest interval between probes, in steps (default 64). */
  readonly maxProbe?: number;
  /** Relative slowdown of the chosen mode's step time that probes at once (default 0.25). */
  readonly shift?: number;
  /** Probe steps in a row that must each beat the chosen mode's median before the decision flips (default 2). */
  readonly confirm?: number;
  /** Most cold steps (fresh heap) skipped in a row (default 2). */
  readonly maxCold?: number;
  /** A solo step longer than this many times the larger median runs the rest threaded (default 4). */
  readonly expiry?: number;
  /** Floor of that limit, ms (default 250). */
  readonly minExpiryMs?: number;
  /** Whether the governor is on (default: only with BIT_STEP_GOVERNOR=1). */
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

/** Workloads whose decisions are kept (a trainer's step, an evaluation pass folded into one, a bench's cases). */
const MAX_WORKLOADS = 16;

/** The decisions for one workload (see the file header). */
interface Workload {
  /** The last `samples` step times of each mode. */
  readonly times: Record<StepMode, number[]>;
  /** The decided mode (threads until a probe says otherwise). */
  chosen: StepMode;
  interval: number;
  untilProbe: number;
  /** Median of the chosen mode at the last decision (the reference of the change test). */
  ref: number;
  /** Steps of the chosen mode since the last decision. */
  since: number;
  /** The other mode's step time estimate (the last probe step that lost; Infinity before the first probe). */
  other: number;
  /** Steps of the probe in progress. */
  probeSteps: number;
  /** Steps ended with this signature (the first is cold). */
  seen: number;
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
  /** The decisions of each workload by its signature (the last step's; at most MAX_WORKLOADS). */
  private readonly loads = new Map<string, Workload>();
  private w: Workload;
  /** The mode of the step in progress. */
  private cur: StepMode = 'threads';
  private stepStart = -1;
  /** The signature of the step in progress: threaded dispatches and their shares or tasks. */
  private calls = 0;
  private units = 0;
  private coldRun = 0;
  private mark: number;
  private readonly confirm: number;
  private limitMs = Number.POSITIVE_INFINITY;
  /** Steps measured, steps run solo, probes, decision flips, cold steps skipped. */
  readonly stats = { steps: 0, soloSteps: 0, probes: 0, flips: 0, coldSteps: 0 };

  constructor(opts: StepGovernorOptions = {}) {
    this.enabled = opts.enabled ?? envVar('BIT_STEP_GOVERNOR') === '1';
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
    this.w = this.workload('');
  }

  /** The state of the workload with signature `sig` (new: nothing measured; the oldest goes beyond the limit). */
  private workload(sig: string): Workload {
    let w = this.loads.get(sig);
    if (w === undefined) {
      w = {
        times: { threads: [], solo: [] },
        chosen: 'threads',
        // the first probe after `samples` threaded steps, the next after twice firstProbe (the interval doubles first)
        interval: this.firstProbe,
        untilProbe: this.samples,
        ref: 0,
        since: 0,
        other: Number.POSITIVE_INFINITY,
        probeSteps: 0,
        seen: 0,
      };
      if (this.loads.size >= MAX_WORKLOADS) this.loads.delete(this.loads.keys().next().value!);
      this.loads.set(sig, w);
    }
    return w;
  }

  /** The mode of the step in progress (the next one, between steps). */
  get mode(): StepMode {
    return this.cur;
  }

  /** The decided mode of the last step's workload. */
  get decided(): StepMode {
    return this.w.chosen;
  }

  /** Whether a step is open (a dispatch since the last boundary): the pool calls `begin` only when not. */
  get open(): boolean {
    return this.stepStart >= 0;
  }

  /** A dispatch at `now` (ms): the first one after a boundary starts the step's clock. */
  begin(now: number): void {
    if (this.stepStart < 0) this.stepStart = now;
  }

  /**
   * Whether a threaded dispatch of `units` shares or tasks at `now` should run every share on the calling thread
   * (false where never told of a step); counts the dispatch into the step's signature.
   */
  soloNow(now: number, units = 1): boolean {
    this.calls++;
    this.units += units;
    return this.cur === 'solo' && now - this.stepStart <= this.limitMs;
  }

  /** A training step ended at `now` (ms): record its time and choose the next step's mode. */
  stepEnded(now: number): void {
    if (!this.enabled || this.stepStart < 0) return;
    const ms = now - this.stepStart;
    this.stepStart = -1;
    const ran = this.cur;
    if (ran === 'solo') this.stats.soloSteps++;
    this.w = this.workload(`${this.calls}:${this.units}`);
    this.calls = 0;
    this.units = 0;
    const w = this.w;
    if (this.isCold()) {
      this.stats.coldSteps++;
      w.probeSteps = 0;
      this.cur = w.chosen;
      return;
    }
    this.stats.steps++;
    const t = w.times[ran];
    t.push(ms);
    if (t.length > this.samples) t.shift();
    this.cur = this.next(ran);
    const meds = [w.times.threads, w.times.solo].filter((v) => v.length > 0).map(median);
    this.limitMs = Math.max(this.minExpiryMs, this.expiry * Math.max(...meds));
  }

  /** Whether the step just ended is cold (and not a sample); updates the fresh-heap mark. */
  private isCold(): boolean {
    const first = this.w.seen++ === 0;
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
    const w = this.w;
    const chosen = w.chosen;
    const own = median(w.times[chosen]);
    if (ran !== chosen) {
      // a probe step, against the chosen mode's median: a flip needs `confirm` probe steps in a row that each win;
      // else the other mode's estimate is the probe step that lost (fresh; a lucky step before it does not count)
      const p = w.times[ran].at(-1)!;
      w.probeSteps++;
      const wins = this.better(...(ran === 'threads' ? ([p, own] as const) : ([own, p] as const))) === ran;
      if (wins && w.probeSteps < this.confirm) return ran;
      if (wins) {
        this.stats.flips++;
        this.settle(ran, own);
      } else {
        // a probe that lost by more than `shift`: the chosen mode would have to slow down by that much to lose, which
        // probes at once (below), so the next scheduled probe can wait the longest
        const far = Math.max(p, own) > (1 + this.shift) * Math.min(p, own);
        w.interval = far ? this.maxProbe : Math.min(this.maxProbe, w.interval * 2);
        this.settle(chosen, p);
      }
      return w.chosen!;
    }
    // probe early where the chosen mode's own steps slowed down: its median now loses against the other mode's last
    // estimate, or is `shift` above its median at the last decision (after `samples` steps since); steps that get
    // faster (the JIT warming up) only make the decision more right
    const loses = this.better(...(chosen === 'threads' ? ([own, w.other] as const) : ([w.other, own] as const)));
    const moved = ++w.since >= this.samples && w.ref > 0 && own > (1 + this.shift) * w.ref;
    if (--w.untilProbe <= 0 || loses !== chosen || moved) {
      this.stats.probes++;
      w.probeSteps = 0;
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
    const w = this.w;
    if (mode !== w.chosen) w.interval = this.firstProbe;
    w.chosen = mode;
    w.other = otherMs;
    w.untilProbe = w.interval;
    w.ref = median(w.times[mode]);
    w.since = 0;
  }
}

/** The other mode. */
function other(m: StepMode): StepMode {
  return m === 'threads' ? 'solo' : 'threads';
}
