/**
 * Thread pool over one shared WasmMemory. Thread 0 is the calling thread; threads 1..T-1 are workers started once
 * by the platform host (./host-node.ts: worker_threads; ./host-browser.ts: Web Workers) from a generated JS body,
 * each with its own instance of the same compiled module. A dispatch hands each thread a command list — (function
 * index, argument count, arguments) as float64 words in shared memory — wakes the workers with Atomics.notify, runs
 * list 0 itself, then blocks in Atomics.wait until every worker reports done, so every op stays synchronous.
 * Task mode (runTasks, used by GEMM) instead publishes one list of tasks that every thread drains through a shared
 * atomic counter — dynamic load balancing for shared or oversubscribed machines; per-thread buffers are passed as
 * argument sentinels that each thread replaces with its own. Workers call kernels directly with MAX_ARGS arguments.
 *
 * Claiming: each publication of generation g sets the worker's claim word to -g before the seq word; a worker that
 * wakes for g takes it with compareExchange(claim, -g, g) and only then reads the command words. Once the calling
 * thread has run its own share it tries compareExchange(claim, -g, 0) on every worker: where that wins, the worker
 * has not started (descheduled on a busy machine, or still spinning up from a wait), so the calling thread runs that
 * worker's list itself (task mode: there is nothing left to take) and does not wait for it; the worker later fails
 * its claim and skips g. Which thread runs a command never changes results.
 *
 * Contention: a ./pool-governor.ts PoolGovernor times every threaded dispatch against what the calling thread alone
 * would have taken and, where threads stop paying (an oversubscribed machine), runs every share on the calling
 * thread for a growing back-off before probing again (or, per-call mode, decides per op and shape from measured
 * threaded and solo times); idle workers park after a bounded spin (20000 loads). Above it, a ./step-governor.ts
 * StepGovernor times whole training steps (the backend learns their ends through `stepEnded`) and runs whole steps
 * solo while threads do not save enough of the solo step time: the JS between dispatches included.
 *
 * Control block (Int32 words, at byte 0; layout and publish / take-back helpers in ./thread-control.ts): worker w
 * uses [w*16 .. w*16+15]: seq, done, cmdPtr, cmdWords (negative: task mode; 0: a page touch, ./thread-touch.ts),
 * error, quit, panel, scratch, ready, claim, shares (how many shares the worker has run), then the touch job's first
 * page, end page, stop and page reached (./worker-body.ts). Task-mode encoding and the calling thread's drain loop
 * are ./thread-tasks.ts; the step governor's construction and `stats()` are ./thread-governors.ts. In browsers a
 * worker may start only after the creating thread yields, so work is handed only to workers whose ready word is
 * set; the calling thread runs the rest (results do not depend on which thread runs a command). dispose() stops
 * the workers.
 */

import { BackendError } from '../../../errors.js';
import type { WasmHost, WorkerHandle } from './host.js';
import { PoolGovernor } from './pool-governor.js';
import type { StepGovernor } from './step-governor.js';
import {
  awaitDone,
  type Command,
  CTL,
  CTL_WORDS,
  claimBack,
  commandWords,
  dispatchKey,
  encodeCommands,
  publish,
  subst,
  takeWorkerError,
  throwFailures,
} from './thread-control.js';
import { type PoolGovernorOptions, type PoolStats, poolStats, stepGovernorFor } from './thread-governors.js';
import { drainTasks, encodeTasks } from './thread-tasks.js';
import { PageToucher } from './thread-touch.js';
import type { WasmExports, WasmMemory, WasmModule } from './wasm-api.js';
import { MAX_ARGS, THREAD_PANEL, THREAD_SCRATCH, TOUCH, WORKER_BODY } from './worker-body.js';

export type { Command, PoolStats };
export { THREAD_PANEL, THREAD_SCRATCH };

export class ThreadPool {
  private readonly workers: WorkerHandle[] = [];
  private readonly ctl: Int32Array;
  private readonly fnIndex = new Map<string, number>();
  private gen = 0;
  private disposed = false;
  /**
   * Synchronisation counters for profiling: pool calls that woke workers, the time the calling thread spent
   * waiting for them after finishing its own share (wake-up latency plus load imbalance), in ms, and how many
   * worker shares it took over because that worker had not started.
   */
  readonly sync = { calls: 0, waitMs: 0, takenOver: 0 };
  private readonly governor: PoolGovernor;
  private readonly stepGov: StepGovernor;
  /** The page touch handed to the last worker (touchPages) while it may still be unclaimed or running. */
  private readonly toucher: PageToucher;
  /** Resolves once every worker has instantiated the module (at once where the host need not wait for that). */
  readonly ready: Promise<void>;

  /**
   * @param exports the calling thread's instance exports (thread 0 calls them directly)
   * @param allocCmd allocates `bytes` of shared memory for a command list and returns [ptr, free]
   */
  constructor(
    readonly threads: number,
    module: WasmModule,
    private readonly memory: WasmMemory,
    private readonly exports: WasmExports,
    names: readonly string[],
    relaxed: boolean,
    private readonly allocCmd: (bytes: number) => [number, () => void],
    private readonly host: WasmHost,
    governor: PoolGovernorOptions = {},
  ) {
    this.governor = new PoolGovernor(governor.adaptive ?? true, governor);
    this.stepGov = stepGovernorFor(governor, this.governor, threads);
    this.ctl = new Int32Array(memory.buffer, 0, 1024);
    this.toucher = new PageToucher(
      this.ctl,
      memory,
      (threads - 1) * CTL_WORDS,
      () => this.workers[this.threads - 2]!.failure() !== null,
      () => this.disposed,
    );
    names.forEach((n, i) => {
      this.fnIndex.set(n, i);
    });
    const waits: Promise<void>[] = [];
    for (let w = 1; w < threads; w++) {
      let onReady = () => {};
      if (!host.workersStartWhileBlocked) waits.push(new Promise<void>((res) => (onReady = res)));
      this.workers.push(
        host.startWorker(WORKER_BODY, { module, memory, base: w * CTL_WORDS, relaxed, names }, onReady),
      );
    }
    this.ready = Promise.all(waits).then(() => {});
  }

  /** Throws when a worker is known dead (failed to start, crashed, exited): never a silent one-thread pool. */
  private checkWorkers(): void {
    for (let w = 0; w < this.workers.length; w++) {
      const why = this.workers[w]!.failure();
      if (why !== null) {
        throw new BackendError(
          `wasm backend: worker thread ${w + 1} of ${this.threads} is not running (${why}); ` +
            'create the backend with threads: 1 to run without workers',
        );
      }
    }
  }

  /** Whether worker w may be handed work now (always where the host lets the caller wait for a starting worker). */
  private usable(w: number): boolean {
    return this.host.workersStartWhileBlocked || Atomics.load(this.ctl, w * CTL_WORDS + CTL.ready) === 1;
  }

  /**
   * A training step ended (the optimizer's update ran): the step governor records the step's time and picks the
   * next step's mode. Never called: no effect (inference, tests).
   */
  stepEnded(): void {
    if (this.stepGov.enabled) this.stepGov.stepEnded(performance.now());
  }

  /** Every dispatch: the first one after a step boundary starts the step governor's clock. */
  private beginStep(): void {
    if (this.stepGov.enabled && !this.stepGov.open) this.stepGov.begin(performance.now());
  }

  /**
   * Whether a threaded dispatch of `units` shares or tasks starting at `now` runs solo because the step governor
   * chose a solo step (the dispatch counts into the step's signature).
   */
  private soloStep(now: number, units: number): boolean {
    return this.stepGov.enabled && this.stepGov.soloNow(now, units);
  }

  /**
   * Counters beyond `sync`: dispatches the governor ran on the calling thread alone and the back-offs that caused
   * them, cold windows it voided; steps the step governor timed, ran solo, probes and flips of its decision, cold
   * steps it skipped; workers that have instantiated the module and are alive; shares the workers have run in all
   * (./thread-governors.ts `poolStats`).
   */
  stats(): PoolStats {
    return poolStats(this.ctl, this.threads, this.workers, this.governor, this.stepGov);
  }

  /** Run `lists[t]` on thread t (lists may be shorter than the pool, or contain empty lists) and wait for all. */
  run(lists: readonly (readonly Command[])[]): void {
    if (this.disposed) throw new BackendError('wasm backend: used after dispose()');
    this.checkWorkers();
    this.beginStep();
    const tStart = lists.length > 1 && this.threads > 1 ? performance.now() : 0;
    const key = tStart > 0 && this.governor.perCall ? dispatchKey(lists) : '';
    if (this.toucher.busy && lists.length > 1) this.toucher.end();
    if (lists.length > 1 && (this.soloStep(tStart, lists.length) || this.governor.solo(tStart, key))) {
      this.run([lists.slice(0, this.threads).flat()]);
      this.governor.recordSolo(key, performance.now() - tStart);
      return;
    }
    const started: { w: number; prev: number; free: () => void; list: readonly Command[] }[] = [];
    const mine: (readonly Command[])[] = [lists[0] ?? []];
    const gen = ++this.gen;
    for (let w = 1; w < Math.min(lists.length, this.threads); w++) {
      const list = lists[w]!;
      if (list.length === 0) continue;
      if (!this.usable(w)) {
        mine.push(list);
        continue;
      }
      const words = commandWords(list);
      const [ptr, free] = this.allocCmd((words + MAX_ARGS) * 8);
      const f64 = new Float64Array(this.memory.buffer, ptr, words);
      encodeCommands(f64, 0, list, this.index);
      const base = w * CTL_WORDS;
      const prev = Atomics.load(this.ctl, base + CTL.done);
      this.ctl[base + CTL.cmdPtr] = ptr | 0;
      this.ctl[base + CTL.cmdWords] = words;
      publish(this.ctl, base, gen);
      started.push({ w, prev, free, list });
    }
    let err: unknown;
    const exec = (l: readonly Command[]) => {
      for (const c of l) (this.exports[c.fn] as (...a: number[]) => void)(...c.args);
    };
    const tWork = started.length > 0 ? performance.now() : 0;
    try {
      for (const l of mine) exec(l);
    } catch (e) {
      err = e;
    }
    const failed: string[] = [];
    const t0 = started.length > 0 ? performance.now() : 0;
    let ownWork = t0 - tWork;
    const mineLists = mine.filter((l) => l.length > 0).length;
    let ownLists = mineLists;
    for (const s of started) {
      const base = s.w * CTL_WORDS;
      if (claimBack(this.ctl, base, gen)) {
        // the worker has not started: run its list here
        this.sync.takenOver++;
        s.free();
        const ta = performance.now();
        try {
          if (err === undefined) exec(s.list);
        } catch (e) {
          err = e;
        }
        ownWork += performance.now() - ta;
        ownLists++;
        continue;
      }
      awaitDone(this.ctl, base, gen, s.prev);
      s.free();
      const why = takeWorkerError(this.ctl, base, s.w, this.workers[s.w - 1]!);
      if (why !== null) failed.push(why);
    }
    if (started.length > 0) {
      const end = this.noteWait(t0);
      this.governor.record(end - tStart, ownWork, ownLists / (mineLists + started.length), end, key);
    }
    throwFailures(err, failed);
  }

  /** Returns the time the wait ended. */
  private noteWait(t0: number): number {
    const end = performance.now();
    this.sync.calls++;
    this.sync.waitMs += end - t0;
    return end;
  }

  /**
   * Run `tasks` (command lists) on every thread, handed out in order through a shared counter, so a thread that is
   * descheduled or slower simply takes fewer tasks. `locals(t)` gives thread t's [B panel, scratch] for the
   * THREAD_PANEL / THREAD_SCRATCH argument sentinels. Tasks must write disjoint outputs and must not depend on
   * which thread runs them (then results are the same for any thread count and any schedule).
   */
  runTasks(tasks: readonly (readonly Command[])[], locals: (t: number) => readonly [number, number]): void {
    if (this.disposed) throw new BackendError('wasm backend: used after dispose()');
    this.checkWorkers();
    const nTasks = tasks.length;
    const T = Math.min(this.threads, nTasks);
    this.beginStep();
    const tStart = T > 1 ? performance.now() : 0;
    const key = T > 1 && this.governor.perCall ? `task:${dispatchKey(tasks)}` : '';
    if (this.toucher.busy && T > 1) this.toucher.end();
    if (T <= 1 || this.soloStep(tStart, nTasks) || this.governor.solo(tStart, key)) {
      this.run([tasks.flatMap((l) => l.map((c) => subst(c, locals(0))))]);
      if (T > 1) this.governor.recordSolo(key, performance.now() - tStart);
      return;
    }
    const { words, ptr, free, hdr } = encodeTasks(this.memory, this.allocCmd, tasks, this.index);
    const started: { w: number; prev: number }[] = [];
    const gen = ++this.gen;
    for (let w = 1; w < T; w++) {
      if (!this.usable(w)) continue;
      const base = w * CTL_WORDS;
      const [l0, l1] = locals(w);
      const prev = Atomics.load(this.ctl, base + CTL.done);
      this.ctl[base + CTL.cmdPtr] = ptr | 0;
      this.ctl[base + CTL.cmdWords] = -words;
      this.ctl[base + CTL.panel] = l0;
      this.ctl[base + CTL.scratch] = l1;
      publish(this.ctl, base, gen);
      started.push({ w, prev });
    }
    const tWork = performance.now();
    const { own, err } = drainTasks(hdr, tasks, locals, this.exports);
    const t0 = performance.now();
    this.waitFor(started, gen, err, free, t0);
    const end = performance.now();
    if (started.length > 0) this.governor.record(end - tStart, t0 - tWork, own / nTasks, end, key);
  }

  private waitFor(
    started: readonly { w: number; prev: number }[],
    gen: number,
    err: unknown,
    free: () => void,
    t0: number,
  ): void {
    const failed: string[] = [];
    for (const s of started) {
      const base = s.w * CTL_WORDS;
      // every task is taken (or failed): a worker that has not started has nothing to do
      if (claimBack(this.ctl, base, gen)) {
        this.sync.takenOver++;
        continue;
      }
      awaitDone(this.ctl, base, gen, s.prev);
      const why = takeWorkerError(this.ctl, base, s.w, this.workers[s.w - 1]!);
      if (why !== null) failed.push(why);
    }
    free();
    if (started.length > 0) this.noteWait(t0);
    throwFailures(err, failed);
  }

  /**
   * Touch the 4 KiB pages of [from, to) (byte offsets in the memory) on the last worker, in the background: one
   * value-preserving atomic add per page, so the OS maps them now and not in the first step's kernels. The calling
   * thread only publishes the job (./thread-touch.ts). Returns the stop word (1 stops the worker within ~64 pages;
   * the next threaded dispatch also stops it, the calling thread taking over that worker's shares until it is done)
   * and a promise of the bytes touched; null without a worker or while an earlier touch is unfinished.
   */
  touchPages(from: number, to: number): { stop: Int32Array; done: Promise<number> } | null {
    if (this.threads < 2 || this.disposed || this.toucher.busy) return null;
    const first = Math.ceil(from / 4096);
    const end = Math.floor(to / 4096);
    if (end <= first) return null;
    return this.toucher.start(first, end, ++this.gen);
  }

  /** A kernel's function index (bound once, so encoding a dispatch allocates no closure). */
  private readonly index = (fn: string, nargs: number): number => {
    if (nargs > MAX_ARGS) throw new BackendError(`wasm backend: '${fn}' called with ${nargs} > ${MAX_ARGS} arguments`);
    const i = this.fnIndex.get(fn);
    if (i === undefined) throw new BackendError(`wasm backend: no kernel named '${fn}'`);
    return i;
  };

  /** Stop every worker (in Node the process can exit even without this: workers are unref()'d). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.workers.forEach((w, i) => {
      const base = (i + 1) * CTL_WORDS;
      Atomics.store(this.ctl, base + TOUCH.stop, 1);
      Atomics.store(this.ctl, base + CTL.quit, 1);
      Atomics.store(this.ctl, base + CTL.seq, ++this.gen);
      Atomics.notify(this.ctl, base + CTL.seq);
      w.terminate();
    });
  }
}
