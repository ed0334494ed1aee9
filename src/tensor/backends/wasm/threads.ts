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
 * Control block (Int32 words, at byte 0): worker w uses [w*16 .. w*16+15]: seq, done, cmdPtr, cmdWords (negative:
 * task mode; 0: a page touch, see touchPages), error, quit, panel, scratch, ready, claim, shares (how many shares the
 * worker has run), then the touch job's first page, end page, stop and page reached (./worker-body.ts). In browsers a worker may start only after the creating thread
 * yields, so work is handed only to workers whose ready word is set; the calling thread runs the rest (results do
 * not depend on which thread runs a command). dispose() stops the workers.
 */

import { envVar } from '../../../env.js';
import { BackendError } from '../../../errors.js';
import type { WasmHost, WorkerHandle } from './host.js';
import { type GovernorOptions, PoolGovernor } from './pool-governor.js';
import { StepGovernor, type StepGovernorOptions } from './step-governor.js';
import type { WasmExports, WasmMemory, WasmModule } from './wasm-api.js';
import { MAX_ARGS, TASK_DATA, THREAD_PANEL, THREAD_SCRATCH, TOUCH, WORKER_BODY } from './worker-body.js';

export { THREAD_PANEL, THREAD_SCRATCH };

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

/** One call: exported function name and its numeric arguments. */
export interface Command {
  readonly fn: string;
  readonly args: readonly number[];
}

/**
 * A dispatch's key for the per-call governor: the first command's kernel, how many lists / commands, and its
 * small integer arguments (dimensions, strides, kernel sizes: every pointer is >= 4096, see ./allocator.ts), so
 * the same op at the same shape maps to the same key every training step.
 */
function dispatchKey(lists: readonly (readonly Command[])[]): string {
  const first = lists.find((l) => l.length > 0)?.[0];
  if (first === undefined) return '';
  let k = `${first.fn}/${lists.length}/${lists.reduce((n, l) => n + l.length, 0)}`;
  for (const a of first.args) if (Number.isInteger(a) && a >= 0 && a < 4096) k += `,${a}`;
  return k;
}

/** `c` with the per-thread sentinels replaced by `loc`. */
function subst(c: Command, loc: readonly [number, number]): Command {
  if (!c.args.some((a) => a === THREAD_PANEL || a === THREAD_SCRATCH)) return c;
  return { fn: c.fn, args: c.args.map((a) => (a === THREAD_PANEL ? loc[0] : a === THREAD_SCRATCH ? loc[1] : a)) };
}

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
  private touching: { gen: number; dropped: boolean } | null = null;
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
    governor: { readonly adaptive?: boolean; readonly step?: boolean | StepGovernorOptions } & GovernorOptions = {},
  ) {
    this.governor = new PoolGovernor(governor.adaptive ?? true, governor);
    // the step governor: on where asked (true, or an object with enabled), else only with BIT_STEP_GOVERNOR=1 (off by
    // default: it measured no gain under contention and a quiet cost; see step-governor.ts); never without a pool or
    // with the dispatch governor off (the plain pool)
    const step = typeof governor.step === 'object' ? governor.step : {};
    const asked = typeof governor.step === 'boolean' ? governor.step : step.enabled;
    this.stepGov = new StepGovernor({
      ...(governor.freshMark ? { freshMark: governor.freshMark } : {}),
      ...step,
      enabled: (asked ?? envVar('BIT_STEP_GOVERNOR') === '1') && this.governor.enabled && threads > 1,
    });
    this.ctl = new Int32Array(memory.buffer, 0, 1024);
    names.forEach((n, i) => {
      this.fnIndex.set(n, i);
    });
    const waits: Promise<void>[] = [];
    for (let w = 1; w < threads; w++) {
      let onReady = () => {};
      if (!host.workersStartWhileBlocked) waits.push(new Promise<void>((res) => (onReady = res)));
      this.workers.push(host.startWorker(WORKER_BODY, { module, memory, base: w * 16, relaxed, names }, onReady));
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
    return this.host.workersStartWhileBlocked || Atomics.load(this.ctl, w * 16 + 8) === 1;
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
   * them, cold windows it voided; steps the step governor timed, ran solo, probes and flips of its decision, cold steps it skipped;
   * workers that have instantiated the module and are alive; shares the workers have run in all.
   */
  stats(): PoolStats {
    let workersRunning = 0;
    let workerShares = 0;
    for (let w = 1; w < this.threads; w++) {
      if (Atomics.load(this.ctl, w * 16 + 8) === 1 && this.workers[w - 1]!.failure() === null) workersRunning++;
      workerShares += Atomics.load(this.ctl, w * 16 + 10);
    }
    const st = this.stepGov.stats;
    return {
      ...this.governor.stats,
      steps: st.steps,
      soloSteps: st.soloSteps,
      stepProbes: st.probes,
      stepFlips: st.flips,
      coldSteps: st.coldSteps,
      workersRunning,
      workerShares,
    };
  }

  /** Run `lists[t]` on thread t (lists may be shorter than the pool, or contain empty lists) and wait for all. */
  run(lists: readonly (readonly Command[])[]): void {
    if (this.disposed) throw new BackendError('wasm backend: used after dispose()');
    this.checkWorkers();
    this.beginStep();
    const tStart = lists.length > 1 && this.threads > 1 ? performance.now() : 0;
    const key = tStart > 0 && this.governor.perCall ? dispatchKey(lists) : '';
    if (this.touching !== null && lists.length > 1) this.endTouch();
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
      const words = list.reduce((s, c) => s + 2 + c.args.length, 0);
      const [ptr, free] = this.allocCmd((words + MAX_ARGS) * 8);
      const f64 = new Float64Array(this.memory.buffer, ptr, words);
      let i = 0;
      for (const c of list) {
        f64[i++] = this.index(c.fn, c.args.length);
        f64[i++] = c.args.length;
        for (const a of c.args) f64[i++] = a;
      }
      const base = w * 16;
      const prev = Atomics.load(this.ctl, base + 1);
      this.ctl[base + 2] = ptr | 0;
      this.ctl[base + 3] = words;
      Atomics.store(this.ctl, base + 9, -gen);
      Atomics.store(this.ctl, base, gen);
      Atomics.notify(this.ctl, base);
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
      const base = s.w * 16;
      if (Atomics.compareExchange(this.ctl, base + 9, -gen, 0) === -gen) {
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
      let spins = 0;
      while (Atomics.load(this.ctl, base + 1) !== gen) {
        if (++spins > 2000) Atomics.wait(this.ctl, base + 1, s.prev, 1000);
      }
      s.free();
      if (Atomics.load(this.ctl, base + 4) !== 0) {
        Atomics.store(this.ctl, base + 4, 0);
        failed.push(`thread ${s.w}: ${this.workers[s.w - 1]!.takeError() ?? 'unknown error'}`);
      }
    }
    if (started.length > 0) {
      const end = this.noteWait(t0);
      this.governor.record(end - tStart, ownWork, ownLists / (mineLists + started.length), end, key);
    }
    if (err !== undefined) throw new BackendError(`wasm backend: kernel failed on the main thread: ${String(err)}`);
    if (failed.length > 0) throw new BackendError(`wasm backend: kernel failed in a worker: ${failed.join('; ')}`);
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
    if (this.touching !== null && T > 1) this.endTouch();
    if (T <= 1 || this.soloStep(tStart, nTasks) || this.governor.solo(tStart, key)) {
      this.run([tasks.flatMap((l) => l.map((c) => subst(c, locals(0))))]);
      if (T > 1) this.governor.recordSolo(key, performance.now() - tStart);
      return;
    }
    const words = tasks.reduce((s, l) => l.reduce((w, c) => w + 2 + c.args.length, s), 0);
    const dataOff = TASK_DATA(nTasks);
    const [ptr, free] = this.allocCmd(dataOff + (words + MAX_ARGS) * 8);
    const buf = this.memory.buffer;
    const hdr = new Int32Array(buf, ptr, 2);
    const offs = new Int32Array(buf, ptr + 8, nTasks + 1);
    const f64 = new Float64Array(buf, ptr + dataOff, words);
    let i = 0;
    tasks.forEach((l, t) => {
      offs[t] = i;
      for (const c of l) {
        f64[i++] = this.index(c.fn, c.args.length);
        f64[i++] = c.args.length;
        for (const a of c.args) f64[i++] = a;
      }
    });
    offs[nTasks] = i;
    hdr[1] = nTasks;
    Atomics.store(hdr, 0, 0);
    const started: { w: number; prev: number }[] = [];
    const gen = ++this.gen;
    for (let w = 1; w < T; w++) {
      if (!this.usable(w)) continue;
      const base = w * 16;
      const [l0, l1] = locals(w);
      const prev = Atomics.load(this.ctl, base + 1);
      this.ctl[base + 2] = ptr | 0;
      this.ctl[base + 3] = -words;
      this.ctl[base + 6] = l0;
      this.ctl[base + 7] = l1;
      Atomics.store(this.ctl, base + 9, -gen);
      Atomics.store(this.ctl, base, gen);
      Atomics.notify(this.ctl, base);
      started.push({ w, prev });
    }
    let err: unknown;
    const tWork = performance.now();
    let own = 0;
    try {
      const loc = locals(0);
      for (let t = Atomics.add(hdr, 0, 1); t < nTasks; t = Atomics.add(hdr, 0, 1)) {
        own++;
        for (const c of tasks[t]!) {
          const cs = subst(c, loc);
          (this.exports[cs.fn] as (...a: number[]) => void)(...cs.args);
        }
      }
    } catch (e) {
      err = e;
      Atomics.store(hdr, 0, nTasks); // let the workers drain
    }
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
      const base = s.w * 16;
      // every task is taken (or failed): a worker that has not started has nothing to do
      if (Atomics.compareExchange(this.ctl, base + 9, -gen, 0) === -gen) {
        this.sync.takenOver++;
        continue;
      }
      let spins = 0;
      while (Atomics.load(this.ctl, base + 1) !== gen) {
        if (++spins > 2000) Atomics.wait(this.ctl, base + 1, s.prev, 1000);
      }
      if (Atomics.load(this.ctl, base + 4) !== 0) {
        Atomics.store(this.ctl, base + 4, 0);
        failed.push(`thread ${s.w}: ${this.workers[s.w - 1]!.takeError() ?? 'unknown error'}`);
      }
    }
    free();
    if (started.length > 0) this.noteWait(t0);
    if (err !== undefined) throw new BackendError(`wasm backend: kernel failed on the main thread: ${String(err)}`);
    if (failed.length > 0) throw new BackendError(`wasm backend: kernel failed in a worker: ${failed.join('; ')}`);
  }

  /**
   * Touch the 4 KiB pages of [from, to) (byte offsets in the memory) on the last worker, in the background: one
   * value-preserving atomic add per page, so the OS maps them now and not in the first step's kernels. The calling
   * thread only publishes the job. Returns the stop word (1 stops the worker within ~64 pages; the next threaded
   * dispatch also stops it, the calling thread taking over that worker's shares until it is done) and a promise of
   * the bytes touched; null without a worker or while an earlier touch is unfinished.
   */
  touchPages(from: number, to: number): { stop: Int32Array; done: Promise<number> } | null {
    if (this.threads < 2 || this.disposed || this.touching !== null) return null;
    const first = Math.ceil(from / 4096);
    const end = Math.floor(to / 4096);
    if (end <= first) return null;
    const base = (this.threads - 1) * 16;
    const gen = ++this.gen;
    const job = { gen, dropped: false };
    this.touching = job;
    this.ctl[base + TOUCH.from] = first;
    this.ctl[base + TOUCH.to] = end;
    this.ctl[base + TOUCH.reached] = end; // touched from the last page down
    Atomics.store(this.ctl, base + TOUCH.stop, 0);
    this.ctl[base + 3] = 0; // 0 command words: a touch job (./worker-body.ts)
    Atomics.store(this.ctl, base + 9, -gen);
    Atomics.store(this.ctl, base, gen);
    Atomics.notify(this.ctl, base);
    const stop = new Int32Array(this.memory.buffer, (base + TOUCH.stop) * 4, 1);
    const done = new Promise<number>((resolve) => {
      const poll = () => {
        const dead = this.workers[this.threads - 2]!.failure() !== null;
        if (job.dropped || this.disposed || dead || Atomics.load(this.ctl, base + 1) >= gen) {
          if (this.touching === job) this.touching = null;
          resolve(job.dropped ? 0 : Math.max(0, end - Atomics.load(this.ctl, base + TOUCH.reached)) * 4096);
        } else setTimeout(poll, 2); // not unref'd: an awaited prefault must keep Node alive until it settles
      };
      poll();
    });
    return { stop, done };
  }

  /** A threaded dispatch is about to use the workers: stop the touch, or drop it if the worker has not begun. */
  private endTouch(): void {
    const job = this.touching!;
    this.touching = null;
    const base = (this.threads - 1) * 16;
    Atomics.store(this.ctl, base + TOUCH.stop, 1);
    if (Atomics.compareExchange(this.ctl, base + 9, -job.gen, 0) === -job.gen) job.dropped = true;
  }

  private index(fn: string, nargs: number): number {
    if (nargs > MAX_ARGS) throw new BackendError(`wasm backend: '${fn}' called with ${nargs} > ${MAX_ARGS} arguments`);
    const i = this.fnIndex.get(fn);
    if (i === undefined) throw new BackendError(`wasm backend: no kernel named '${fn}'`);
    return i;
  }

  /** Stop every worker (in Node the process can exit even without this: workers are unref()'d). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.workers.forEach((w, i) => {
      const base = (i + 1) * 16;
      Atomics.store(this.ctl, base + TOUCH.stop, 1);
      Atomics.store(this.ctl, base + 5, 1);
      Atomics.store(this.ctl, base, ++this.gen);
      Atomics.notify(this.ctl, base);
      w.terminate();
    });
  }
}
