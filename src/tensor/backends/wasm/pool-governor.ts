/**
 * When the thread pool should stop handing out shares: threads under contention. On an oversubscribed machine
 * (other multi-threaded processes, other bit-ts trainings with pools of their own, loader workers) a worker that
 * has claimed its share can be descheduled in the middle of it, and the calling thread then waits a scheduler
 * time slice at one of the ~180 fork-join points of a training step; meanwhile the spinning workers take CPU the
 * other processes need. The pool then runs slower than one thread.
 *
 * The governor measures, for every threaded dispatch, what the call cost (`actualMs`: from the start of the
 * dispatch to the last worker's done) against what it would have cost on the calling thread alone (`soloMs`: the
 * calling thread's own work time divided by the fraction of the work it ran). Over a window of dispatches, if the
 * threads saved less than `minGain` of the solo time, the pool runs every share on the calling thread (solo) for a
 * back-off period — the idle workers park in Atomics.wait after their bounded spin, so they stop competing — and
 * then probes with threads again; the back-off doubles while probes keep failing (bounded by `maxBackoffMs`) and
 * resets when threads pay. Which thread runs a command never changes results, so this changes speed only.
 *
 * Two modes (GovernorOptions.mode; default from the environment variable BIT_POOL_GOVERNOR = window | per-call |
 * off, read when the backend is created, else `window`):
 * - `window`: the decision above, for every dispatch at once (the solo time is estimated from the calling thread's
 *   share, which under memory-bandwidth contention overestimates it, so it leans towards threads);
 * - `per-call`: one decision per dispatch key (the kernel, the list count and the small integer arguments: the
 *   same op at the same shape, which recurs every training step), from measured times of both modes: an average
 *   of the threaded time and of the solo time per key; the key runs threaded while that saves `minGain`, and the
 *   other mode is re-measured once every `interval` calls of the key (8, doubling while the decision holds, at
 *   most 128; back to 8 when it flips), so a change in load is noticed within a few steps while exploring costs
 *   little. Ops whose shares are too small to pay under load go solo; large ones stay threaded.
 * - `off`: always hand out shares (as `enabled` false).
 *
 * Warm-up (window mode; GovernorOptions.warmup, default on unless BIT_POOL_WARMUP=0): a window is void — its
 * verdict neither backs off nor resets the back-off — when it is cold: the first window after the pool starts, a
 * window during which the heap handed out never-used memory (`freshMark` moved: a first step's fresh activations,
 * whose first-touch page faults, cold JS paths on both sides and first shares of each kernel make threads look
 * slower than they are in the steps that follow), or one that contains an idle gap of more than `idleGapMs` between
 * dispatches (workers parked, caches cold). At most `maxVoidWindows` windows in a row are void, so a heap that keeps
 * growing still gets verdicts. Without it, the first step's window backs off and the second step runs solo.
 *
 * Steps: this governor sees dispatches only, not the calling thread's work between them, which a worker running or
 * spinning beside another process also slows; ./step-governor.ts compares whole training steps threaded and solo
 * and runs whole steps solo where threads do not pay (the pool asks it first; a threaded step still goes through
 * the decisions here). The step governor is opt-in (BIT_STEP_GOVERNOR=1); by default this governor decides alone.
 *
 * Invariants: decisions use only measured times and the calling thread's clock; solo() is cheap (one comparison,
 * per-call: one Map lookup); with `enabled` false the pool always hands out shares (tests and A/B runs of the plain
 * pool); results never depend on the decisions.
 */

import { envOn, envVar } from '../../../env.js';

/** How the governor decides (see the file header). */
export type GovernorMode = 'window' | 'per-call' | 'off';

/** Tuning of {@link PoolGovernor}; the defaults suit a training step of a few ms to seconds. */
export interface GovernorOptions {
  /** Threaded dispatches per decision (default 48). */
  readonly windowCalls?: number;
  /** Fraction of the solo time the threads must save over a window to stay on (default 0.05). */
  readonly minGain?: number;
  /** First back-off after a failed window, ms (default 40); doubles per failed probe. */
  readonly minBackoffMs?: number;
  /** Longest back-off, ms (default 1500). */
  readonly maxBackoffMs?: number;
  /** Decision mode (default: BIT_POOL_GOVERNOR from the environment, else 'window'). */
  readonly mode?: GovernorMode;
  /** Void cold windows (see the file header); default: on unless BIT_POOL_WARMUP=0. */
  readonly warmup?: boolean;
  /**
   * An idle gap between two dispatches longer than this (ms) makes the window cold (default 1000: an evaluation, a
   * checkpoint; not a bench's pause between blocks).
   */
  readonly idleGapMs?: number;
  /**
   * Most cold windows voided in a row (default 2: a small model's first step and the window that spans into the
   * second; under real contention each voided window is 48 more threaded dispatches before the back-off).
   */
  readonly maxVoidWindows?: number;
  /**
   * A counter that moves whenever the heap hands out memory never used before (the allocator's bump pointer); a
   * window during which it moved is cold. Default: never moves.
   */
  readonly freshMark?: () => number;
}

/** The mode from BIT_POOL_GOVERNOR (Node), else 'window'. */
function envMode(): GovernorMode {
  const v = envVar('BIT_POOL_GOVERNOR');
  return v === 'per-call' || v === 'off' ? v : 'window';
}

/** Per-key state of the per-call mode: average ms threaded and solo (-1: not measured yet). */
interface KeyState {
  thrMs: number;
  soloMs: number;
  solo: boolean;
  calls: number;
  nextExplore: number;
  interval: number;
}

const EXPLORE_MIN = 8;
const EXPLORE_MAX = 128;
/** Weight of a new measurement in a key's running average (probes are rare: two in a row decide a flip). */
const ALPHA = 0.5;

export class PoolGovernor {
  private soloUntil = -1;
  private backoffMs: number;
  private calls = 0;
  private actualMs = 0;
  private soloMs = 0;
  private readonly windowCalls: number;
  private readonly minGain: number;
  private readonly minBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly warmup: boolean;
  private readonly idleGapMs: number;
  private readonly maxVoid: number;
  private readonly freshMark: () => number;
  /** The window is cold so far (see the file header); the first one after the pool starts is. */
  private cold = true;
  private mark = 0;
  private lastEnd = -1;
  private voidRun = 0;
  /**
   * Windows in which threads did not pay (each started a back-off), dispatches run solo because of them, and cold
   * windows whose verdict was void (warm-up).
   */
  readonly stats = { backoffs: 0, soloCalls: 0, voidWindows: 0 };
  readonly mode: GovernorMode;
  readonly enabled: boolean;
  private readonly keys = new Map<string, KeyState>();

  constructor(enabled: boolean, opts: GovernorOptions = {}) {
    this.mode = opts.mode ?? envMode();
    this.enabled = enabled && this.mode !== 'off';
    this.windowCalls = opts.windowCalls ?? 48;
    this.minGain = opts.minGain ?? 0.05;
    this.minBackoffMs = opts.minBackoffMs ?? 40;
    this.maxBackoffMs = opts.maxBackoffMs ?? 1500;
    this.backoffMs = this.minBackoffMs;
    this.warmup = opts.warmup ?? envOn('BIT_POOL_WARMUP');
    this.idleGapMs = opts.idleGapMs ?? 1000;
    this.maxVoid = opts.maxVoidWindows ?? 2;
    this.freshMark = opts.freshMark ?? (() => 0);
    this.mark = this.freshMark();
  }

  /** Whether per-call decisions are on (then the pool passes a key to solo / record / recordSolo). */
  get perCall(): boolean {
    return this.enabled && this.mode === 'per-call';
  }

  /**
   * Whether the dispatch starting at `now` (performance.now() ms) should run every share on the calling thread;
   * `key` identifies the dispatch in per-call mode (ignored otherwise).
   */
  solo(now: number, key = ''): boolean {
    if (!this.enabled) return false;
    if (this.mode === 'per-call') {
      const solo = this.decide(key);
      if (solo) this.stats.soloCalls++;
      return solo;
    }
    if (now >= this.soloUntil) return false;
    this.stats.soloCalls++;
    return true;
  }

  /** Per-call: the mode of this call of `key` (measures each mode first, then the faster with exploration). */
  private decide(key: string): boolean {
    let s = this.keys.get(key);
    if (s === undefined) {
      s = { thrMs: -1, soloMs: -1, solo: false, calls: 0, nextExplore: EXPLORE_MIN, interval: EXPLORE_MIN };
      this.keys.set(key, s);
    }
    s.calls++;
    if (s.thrMs < 0) return false;
    if (s.soloMs < 0) return true;
    if (s.calls >= s.nextExplore) {
      s.nextExplore = s.calls + s.interval;
      s.interval = Math.min(EXPLORE_MAX, s.interval * 2);
      return !s.solo;
    }
    return s.solo;
  }

  /** Per-call: fold one measured call of `key` (threaded or solo, in ms) into its averages and re-decide. */
  private note(key: string, threaded: boolean, ms: number): void {
    const s = this.keys.get(key);
    if (s === undefined) return;
    if (threaded) s.thrMs = s.thrMs < 0 ? ms : s.thrMs + ALPHA * (ms - s.thrMs);
    else s.soloMs = s.soloMs < 0 ? ms : s.soloMs + ALPHA * (ms - s.soloMs);
    if (s.thrMs < 0 || s.soloMs < 0) return;
    const solo = s.thrMs > (1 - this.minGain) * s.soloMs;
    if (solo !== s.solo) {
      s.solo = solo;
      s.interval = EXPLORE_MIN;
      s.nextExplore = s.calls + EXPLORE_MIN;
      if (solo) this.stats.backoffs++;
    }
  }

  /** Per-call: a dispatch of `key` that solo() sent to the calling thread took `ms`. */
  recordSolo(key: string, ms: number): void {
    if (this.perCall) this.note(key, false, ms);
  }

  /**
   * Record one threaded dispatch.
   * @param actualMs dispatch start to the end of the wait for the workers
   * @param ownWorkMs time the calling thread spent running commands (its share and any taken over)
   * @param ownFraction fraction of the dispatch's work units (lists or tasks) the calling thread ran, in (0, 1]
   * @param now performance.now() at the end of the dispatch
   * @param key the dispatch's key (per-call mode)
   */
  record(actualMs: number, ownWorkMs: number, ownFraction: number, now: number, key = ''): void {
    if (this.perCall) {
      this.note(key, true, actualMs);
      return;
    }
    if (!this.enabled || ownFraction <= 0) return;
    if (this.lastEnd >= 0 && now - actualMs - this.lastEnd > this.idleGapMs) this.cold = true;
    this.lastEnd = now;
    this.calls++;
    this.actualMs += actualMs;
    this.soloMs += ownWorkMs / Math.min(1, ownFraction);
    if (this.calls < this.windowCalls) return;
    const pays = this.actualMs <= (1 - this.minGain) * this.soloMs;
    this.calls = 0;
    this.actualMs = 0;
    this.soloMs = 0;
    if (this.warmup && this.isCold()) return;
    if (pays) {
      this.backoffMs = this.minBackoffMs;
      return;
    }
    this.stats.backoffs++;
    this.soloUntil = now + this.backoffMs;
    this.backoffMs = Math.min(this.maxBackoffMs, this.backoffMs * 2);
  }

  /** Whether the window just closed was cold and its verdict is void (then the next one starts warm). */
  private isCold(): boolean {
    const mark = this.freshMark();
    const cold = this.cold || mark !== this.mark;
    this.mark = mark;
    this.cold = false;
    if (!cold || this.voidRun >= this.maxVoid) {
      this.voidRun = 0;
      return false;
    }
    this.voidRun++;
    this.stats.voidWindows++;
    return true;
  }
}
