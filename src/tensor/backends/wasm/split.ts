/**
 * Work splitting for the wasm thread pool: [0, total) cut into per-thread ranges whose starts are aligned (vector
 * kernels need multiples of 4), run as one command per thread; and the size check every op does on its inputs.
 */

import { ShapeError } from '../../../errors.js';
import type { WasmBuffer, WasmState } from './state.js';
import type { Command } from './threads.js';

/** Split [0, total) into `parts` ranges with starts aligned to `align`. */
export function splitRange(total: number, parts: number, align: number): [number, number][] {
  const out: [number, number][] = [];
  for (let t = 0; t < parts; t++) {
    const a = t === 0 ? 0 : Math.min(total, Math.ceil(Math.floor((t * total) / parts) / align) * align);
    const b =
      t === parts - 1 ? total : Math.min(total, Math.ceil(Math.floor(((t + 1) * total) / parts) / align) * align);
    if (b > a) out.push([a, b]);
  }
  return out;
}

/**
 * Run `cmd(lo, hi)` over [0, total) split across threads when `work` is large enough. `cmd` may return several
 * commands: a thread runs them in order on its own range with no barrier in between, so a later command may read
 * only what earlier ones wrote for the SAME range (e.g. per-row statistics, then the rows normalized with them):
 * one pool call instead of one per phase.
 */
export function runSplit(
  s: WasmState,
  total: number,
  work: number,
  align: number,
  cmd: (lo: number, hi: number) => Command | Command[],
): void {
  const T = work < s.minParallelWork ? 1 : Math.min(s.threads, Math.max(1, Math.floor(total / align)));
  const lists: Command[][] = splitRange(total, T, align).map(([a, b]) => {
    const c = cmd(a, b);
    return Array.isArray(c) ? c : [c];
  });
  s.pool.run(lists);
}

export function need(op: string, b: WasmBuffer, size: number, what: string): void {
  if (b.size < size) throw new ShapeError(`wasm.${op}: ${what} has ${b.size} elements, expected at least ${size}`);
}
