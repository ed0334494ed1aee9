/**
 * Batch chunking for NCHW-style ops: split the leading batch axis into groups whose per-group buffers stay under
 * the chunk limit (f32 index math on webasm), and sum per-group partials (for reductions over the batch) with an
 * elementwise add kernel. Groups are non-overlapping; the last may be smaller (one more kernel build).
 */

import { BackendError } from '../../../../errors.js';
import { type Arr, assemble, type OpGen } from '../op-gen.js';
import type { KThis } from './types.js';

export function addKernel(this: KThis, a: Float32Array, b: Float32Array): number {
  return a[this.thread.x]! + b[this.thread.x]!;
}

/**
 * [start, count] groups over n units (samples, or the rows / channels of one sample: `unit` names them in the
 * error), each group's largest per-unit size times count <= limit.
 */
export function batchGroups(
  op: string,
  n: number,
  perSample: readonly number[],
  limit: number,
  unit = 'sample',
): [number, number][] {
  const per = Math.max(1, ...perSample);
  const nc = Math.min(n, Math.floor(limit / per));
  if (nc < 1) throw new BackendError(`${op}: one ${unit} (${per} elements) exceeds the chunk limit ${limit}`);
  const groups: [number, number][] = [];
  for (let s = 0; s < n; s += nc) groups.push([s, Math.min(nc, n - s)]);
  return groups;
}

/** Elementwise a + b (same length, under the limit). */
export function* addOp(a: Arr, b: Arr): OpGen<Arr> {
  return yield { spec: { name: 'add', fn: addKernel, constants: {}, output: a.length }, args: [a, b] };
}

/** Per-group launches whose outputs are concatenated along the batch. */
export function* concatGroups(
  groups: readonly [number, number][],
  perOut: number,
  run: (n0: number, nc: number) => OpGen<Arr>,
): OpGen<Arr> {
  if (groups.length === 1) return yield* run(groups[0]![0], groups[0]![1]);
  const pieces: { src: Arr; at: number }[] = [];
  for (const [n0, nc] of groups) pieces.push({ src: yield* run(n0, nc), at: n0 * perOut });
  return yield* assemble(groups.reduce((s, g) => s + g[1], 0) * perOut, pieces);
}

/** Per-group launches whose outputs are summed (reductions over the batch). */
export function* sumGroups(
  groups: readonly [number, number][],
  run: (n0: number, nc: number) => OpGen<Arr>,
): OpGen<Arr> {
  let acc: Arr | null = null;
  for (const [n0, nc] of groups) {
    const part: Arr = yield* run(n0, nc);
    acc = acc ? yield* addOp(acc, part) : part;
  }
  return acc!;
}
