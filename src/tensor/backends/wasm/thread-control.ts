/**
 * The thread pool's shared control block and command encoding (./threads.ts drives them; ./worker-body.ts is the
 * worker side). Control block: Int32 words at byte 0, CTL_WORDS per worker, worker w at [w * CTL_WORDS ..): the word
 * offsets are `CTL` (and ./worker-body.ts `TOUCH` for a page-touch job). A command list is float64 words in shared
 * memory: (function index, argument count, arguments) per command.
 *
 * Invariants: a publication of generation g writes the command words first, then claim = -g, then seq = g, then
 * notifies seq; a worker takes g only by compareExchange(claim, -g, g), and the calling thread takes a list back only
 * by compareExchange(claim, -g, 0), so exactly one thread runs each published list. The helpers here keep that order
 * and add no side effect of their own.
 */

import { BackendError } from '../../../errors.js';
import type { WorkerHandle } from './host.js';
import { THREAD_PANEL, THREAD_SCRATCH } from './worker-body.js';

/** Int32 control words per worker. */
export const CTL_WORDS = 16;

/** Offsets of a worker's control words from its base (w * CTL_WORDS). */
export const CTL = {
  seq: 0,
  done: 1,
  cmdPtr: 2,
  /** Negative: task mode; 0: a page touch (./worker-body.ts). */
  cmdWords: 3,
  error: 4,
  quit: 5,
  panel: 6,
  scratch: 7,
  ready: 8,
  claim: 9,
  /** How many shares the worker has run. */
  shares: 10,
} as const;

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
export function dispatchKey(lists: readonly (readonly Command[])[]): string {
  const first = lists.find((l) => l.length > 0)?.[0];
  if (first === undefined) return '';
  let k = `${first.fn}/${lists.length}/${lists.reduce((n, l) => n + l.length, 0)}`;
  for (const a of first.args) if (Number.isInteger(a) && a >= 0 && a < 4096) k += `,${a}`;
  return k;
}

/** `c` with the per-thread sentinels replaced by `loc`. */
export function subst(c: Command, loc: readonly [number, number]): Command {
  if (!c.args.some((a) => a === THREAD_PANEL || a === THREAD_SCRATCH)) return c;
  return { fn: c.fn, args: c.args.map((a) => (a === THREAD_PANEL ? loc[0] : a === THREAD_SCRATCH ? loc[1] : a)) };
}

/** Float64 words `list` takes encoded. */
export function commandWords(list: readonly Command[]): number {
  return list.reduce((s, c) => s + 2 + c.args.length, 0);
}

/** Encode `list` into `f64` from word `at`; `index` maps a kernel name to its index. Returns the next free word. */
export function encodeCommands(
  f64: Float64Array,
  at: number,
  list: readonly Command[],
  index: (fn: string, nargs: number) => number,
): number {
  let i = at;
  for (const c of list) {
    f64[i++] = index(c.fn, c.args.length);
    f64[i++] = c.args.length;
    for (const a of c.args) f64[i++] = a;
  }
  return i;
}

/** Publish generation `gen` to the worker at `base` (its command words already written) and wake it. */
export function publish(ctl: Int32Array, base: number, gen: number): void {
  Atomics.store(ctl, base + CTL.claim, -gen);
  Atomics.store(ctl, base + CTL.seq, gen);
  Atomics.notify(ctl, base + CTL.seq);
}

/** Take generation `gen` back from the worker at `base`: true where it had not started (it will skip `gen`). */
export function claimBack(ctl: Int32Array, base: number, gen: number): boolean {
  return Atomics.compareExchange(ctl, base + CTL.claim, -gen, 0) === -gen;
}

/** Block until the worker at `base` reports `gen` done (`prev`: its done word before the publication). */
export function awaitDone(ctl: Int32Array, base: number, gen: number, prev: number): void {
  let spins = 0;
  while (Atomics.load(ctl, base + CTL.done) !== gen) {
    if (++spins > 2000) Atomics.wait(ctl, base + CTL.done, prev, 1000);
  }
}

/** The failure worker `w` (at `base`) reported for its last list, clearing the flag; null when it succeeded. */
export function takeWorkerError(ctl: Int32Array, base: number, w: number, worker: WorkerHandle): string | null {
  if (Atomics.load(ctl, base + CTL.error) === 0) return null;
  Atomics.store(ctl, base + CTL.error, 0);
  return `thread ${w}: ${worker.takeError() ?? 'unknown error'}`;
}

/** Throws the dispatch's failure: the calling thread's first, else every worker's. */
export function throwFailures(err: unknown, failed: readonly string[]): void {
  if (err !== undefined) throw new BackendError(`wasm backend: kernel failed on the main thread: ${String(err)}`);
  if (failed.length > 0) throw new BackendError(`wasm backend: kernel failed in a worker: ${failed.join('; ')}`);
}
