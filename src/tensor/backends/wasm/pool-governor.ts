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
 * Invariants: decisions use only measured times and the calling thread's clock; solo() is cheap (one comparison);
 * with `enabled` false the pool always hands out shares (tests and A/B runs of the plain pool).
 */

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
}

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
  /** Windows in which threads did not pay (each started a back-off), and dispatches run solo because of them. */
  readonly stats = { backoffs: 0, soloCalls: 0 };

  constructor(
    readonly enabled: boolean,
    opts: GovernorOptions = {},
  ) {
    this.windowCalls = opts.windowCalls ?? 48;
    this.minGain = opts.minGain ?? 0.05;
    this.minBackoffMs = opts.minBackoffMs ?? 40;
    this.maxBackoffMs = opts.maxBackoffMs ?? 1500;
    this.backoffMs = this.minBackoffMs;
  }

  /** Whether the dispatch starting at `now` (performance.now() ms) should run every share on the calling thread. */
  solo(now: number): boolean {
    if (!this.enabled || now >= this.soloUntil) return false;
    this.stats.soloCalls++;
    return true;
  }

  /**
   * Record one threaded dispatch.
   * @param actualMs dispatch start to the end of the wait for the workers
   * @param ownWorkMs time the calling thread spent running commands (its share and any taken over)
   * @param ownFraction fraction of the dispatch's work units (lists or tasks) the calling thread ran, in (0, 1]
   * @param now performance.now() at the end of the dispatch
   */
  record(actualMs: number, ownWorkMs: number, ownFraction: number, now: number): void {
    if (!this.enabled || ownFraction <= 0) return;
    this.calls++;
    this.actualMs += actualMs;
    this.soloMs += ownWorkMs / Math.min(1, ownFraction);
    if (this.calls < this.windowCalls) return;
    const pays = this.actualMs <= (1 - this.minGain) * this.soloMs;
    this.calls = 0;
    this.actualMs = 0;
    this.soloMs = 0;
    if (pays) {
      this.backoffMs = this.minBackoffMs;
      return;
    }
    this.stats.backoffs++;
    this.soloUntil = now + this.backoffMs;
    this.backoffMs = Math.min(this.maxBackoffMs, this.backoffMs * 2);
  }
}
