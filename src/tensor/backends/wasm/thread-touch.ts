/**
 * The thread pool's background page touch (./threads.ts `touchPages`): the last worker touches the 4 KiB pages of a
 * byte range, last page first, one value-preserving atomic add per page (./worker-body.ts), so the OS maps them
 * before the first step's kernels run. The calling thread only publishes the job and polls for its end.
 *
 * Invariants: at most one touch job at a time (`busy`); a threaded dispatch ends it first (`end`: sets the stop word,
 * and drops the job where the worker has not claimed it), so work and a touch never share the worker.
 */

import { CTL, claimBack, publish } from './thread-control.js';
import type { WasmMemory } from './wasm-api.js';
import { TOUCH } from './worker-body.js';

/** One touch job: its generation, and whether it was taken back before the worker began. */
interface TouchJob {
  readonly gen: number;
  dropped: boolean;
}

/** The page-touch job of one pool's last worker. */
export class PageToucher {
  /** The page touch handed to the last worker while it may still be unclaimed or running. */
  private touching: TouchJob | null = null;

  /**
   * @param base the last worker's first control word
   * @param dead whether the last worker is known dead
   * @param disposed whether the pool was disposed
   */
  constructor(
    private readonly ctl: Int32Array,
    private readonly memory: WasmMemory,
    private readonly base: number,
    private readonly dead: () => boolean,
    private readonly disposed: () => boolean,
  ) {}

  /** Whether a touch job may still be unclaimed or running. */
  get busy(): boolean {
    return this.touching !== null;
  }

  /**
   * Publish generation `gen` as a touch of pages [first, end) (page numbers). Returns the stop word and a promise of
   * the bytes touched (see ./threads.ts `touchPages`).
   */
  start(first: number, end: number, gen: number): { stop: Int32Array; done: Promise<number> } {
    const base = this.base;
    const job: TouchJob = { gen, dropped: false };
    this.touching = job;
    this.ctl[base + TOUCH.from] = first;
    this.ctl[base + TOUCH.to] = end;
    this.ctl[base + TOUCH.reached] = end; // touched from the last page down
    Atomics.store(this.ctl, base + TOUCH.stop, 0);
    this.ctl[base + CTL.cmdWords] = 0; // 0 command words: a touch job (./worker-body.ts)
    publish(this.ctl, base, gen);
    const stop = new Int32Array(this.memory.buffer, (base + TOUCH.stop) * 4, 1);
    const done = new Promise<number>((resolve) => {
      const poll = () => {
        const dead = this.dead();
        if (job.dropped || this.disposed() || dead || Atomics.load(this.ctl, base + CTL.done) >= gen) {
          if (this.touching === job) this.touching = null;
          resolve(job.dropped ? 0 : Math.max(0, end - Atomics.load(this.ctl, base + TOUCH.reached)) * 4096);
        } else setTimeout(poll, 2); // not unref'd: an awaited prefault must keep Node alive until it settles
      };
      poll();
    });
    return { stop, done };
  }

  /** A threaded dispatch is about to use the workers: stop the touch, or drop it if the worker has not begun. */
  end(): void {
    const job = this.touching!;
    this.touching = null;
    Atomics.store(this.ctl, this.base + TOUCH.stop, 1);
    if (claimBack(this.ctl, this.base, job.gen)) job.dropped = true;
  }
}
