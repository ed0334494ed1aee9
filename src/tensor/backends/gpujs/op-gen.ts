/**
 * The vocabulary shared by the gpu.js op bodies (./kernels/*) and the context that runs them (./context.ts): the
 * mode, kernel specs and launches, assemblies, and `OpGen`, an op body written as a generator that yields steps and
 * receives each step's output. The same body then runs synchronously on host arrays (cpu, webasm) or asynchronously
 * on device arrays (webgpu).
 *
 * Invariants: outputs are 1-D; `constants` and argument lengths are part of a kernel's cache key; an assembly makes a
 * new array (it never writes into `base` or a piece).
 */

import { BackendError } from '../../../errors.js';
import type { DeviceArray } from './device.js';

export type GpujsMode = 'webasm' | 'cpu' | 'webgpu';

/** A kernel body: a plain `function` reading `this.thread.x` and `this.constants`; gpu.js compiles its source. */
// biome-ignore lint/suspicious/noExplicitAny: gpu.js kernels take typed arrays and numbers positionally.
export type KernelFn = (...args: any[]) => number;

/** What one kernel launch needs; `constants` and argument lengths are part of the cache key. */
export interface KernelSpec {
  /** Family-qualified name, e.g. 'binary', 'conv2d.fwd'. */
  readonly name: string;
  /** The body, or its source text (kernels/index-math.ts `exactIndexSource`: idiv expanded inline). */
  readonly fn: KernelFn | string;
  readonly constants: Readonly<Record<string, number>>;
  /** Number of output cells (1-D output, < the chunk limit). */
  readonly output: number;
  /** Largest loop trip count the body runs (all loop bounds are constants); raises loopMaxIterations. */
  readonly loops?: number;
}

/** The data an op body sees: host arrays (cpu, webasm) or device windows (webgpu). Both have length and subarray. */
export type Arr = Float32Array | DeviceArray;

/**
 * A kernel argument bound as a 2-D array of rows of `width` elements (webgpu only): the kernel reads it as
 * `A[row][column]`, and gpu.js forms the flat index `column + width * row` in i32 from the two f32 indices, so a
 * buffer above 2^24 elements is addressed exactly with no window (../strided.ts `ChunkPlan.rowDims`).
 */
export class Rows {
  constructor(
    readonly data: Arr,
    readonly width: number,
  ) {}

  get length(): number {
    return this.data.length;
  }
}

/** One launch: a spec and its positional arguments (arrays, rows-bound arrays or scalars). */
export interface Launch {
  readonly spec: KernelSpec;
  readonly args: readonly (Arr | Rows | number)[];
}

/** A new array of `total` elements: `base` (or zeros), then each piece written at its offset (later pieces win). */
export interface Assembly {
  readonly total: number;
  readonly base: Arr | null;
  readonly pieces: readonly { readonly src: Arr; readonly at: number }[];
}

/** What an op body yields: a kernel launch, or an assembly of earlier outputs (split launches, zero results). */
export type Step = Launch | { readonly assemble: Assembly };

/** An op body: yields steps, receives each step's output, returns the op's result. */
export type OpGen<T> = Generator<Step, T, Arr>;

/** Yield an assembly (see `Assembly`): concatenation of split outputs, zeros, or pieces written over a base. */
export function* assemble(
  total: number,
  pieces: readonly { readonly src: Arr; readonly at: number }[] = [],
  base: Arr | null = null,
): OpGen<Arr> {
  return yield { assemble: { total, base, pieces } };
}

/** The host array of a synchronous run (a device array there is a bug). */
export function host(a: Arr, what: string): Float32Array {
  if (a instanceof Float32Array) return a;
  throw new BackendError(`gpujs ${what}: got a device array on a host path`);
}

/** An assembly on host arrays (synchronous runs). */
export function hostAssemble(a: Assembly): Float32Array {
  const out = new Float32Array(a.total);
  if (a.base) out.set(host(a.base, 'assemble'));
  for (const p of a.pieces) out.set(host(p.src, 'assemble'), p.at);
  return out;
}
