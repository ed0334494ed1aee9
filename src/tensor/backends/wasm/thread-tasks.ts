/**
 * Task mode of the thread pool (./threads.ts `runTasks`): one list of tasks in shared memory that every thread drains
 * through a shared atomic counter. Layout at `ptr`: Int32 [next task, task count], then Int32 word offsets of each
 * task (nTasks + 1), then, from ./worker-body.ts `TASK_DATA(nTasks)`, the float64 command words of every task.
 *
 * Invariants: tasks write disjoint outputs and do not depend on which thread runs them, so results are the same for
 * any thread count and schedule; the calling thread substitutes its own per-thread buffers for the THREAD_PANEL /
 * THREAD_SCRATCH sentinels (./thread-control.ts `subst`), workers theirs from their panel / scratch words.
 */

import { type Command, commandWords, encodeCommands, subst } from './thread-control.js';
import type { WasmExports, WasmMemory } from './wasm-api.js';
import { MAX_ARGS, TASK_DATA } from './worker-body.js';

/** An encoded task list: its command words, where it lives, how to free it, and its header (next task, count). */
export interface TaskList {
  readonly words: number;
  readonly ptr: number;
  readonly free: () => void;
  readonly hdr: Int32Array;
}

/** Encode `tasks` into a fresh command buffer from `allocCmd`, the shared counter at task 0. */
export function encodeTasks(
  memory: WasmMemory,
  allocCmd: (bytes: number) => [number, () => void],
  tasks: readonly (readonly Command[])[],
  index: (fn: string, nargs: number) => number,
): TaskList {
  const nTasks = tasks.length;
  const words = tasks.reduce((s, l) => s + commandWords(l), 0);
  const dataOff = TASK_DATA(nTasks);
  const [ptr, free] = allocCmd(dataOff + (words + MAX_ARGS) * 8);
  const buf = memory.buffer;
  const hdr = new Int32Array(buf, ptr, 2);
  const offs = new Int32Array(buf, ptr + 8, nTasks + 1);
  const f64 = new Float64Array(buf, ptr + dataOff, words);
  let i = 0;
  tasks.forEach((l, t) => {
    offs[t] = i;
    i = encodeCommands(f64, i, l, index);
  });
  offs[nTasks] = i;
  hdr[1] = nTasks;
  Atomics.store(hdr, 0, 0);
  return { words, ptr, free, hdr };
}

/**
 * The calling thread's share of a task list: take tasks through the counter until none is left, running each with
 * `locals(0)` for the sentinels. Returns how many it ran and the error it hit (then the counter is set to the end,
 * so the workers drain).
 */
export function drainTasks(
  hdr: Int32Array,
  tasks: readonly (readonly Command[])[],
  locals: (t: number) => readonly [number, number],
  exports: WasmExports,
): { own: number; err: unknown } {
  const nTasks = tasks.length;
  let err: unknown;
  let own = 0;
  try {
    const loc = locals(0);
    for (let t = Atomics.add(hdr, 0, 1); t < nTasks; t = Atomics.add(hdr, 0, 1)) {
      own++;
      for (const c of tasks[t]!) {
        const cs = subst(c, loc);
        (exports[cs.fn] as (...a: number[]) => void)(...cs.args);
      }
    }
  } catch (e) {
    err = e;
    Atomics.store(hdr, 0, nTasks); // let the workers drain
  }
  return { own, err };
}
