/**
 * Inference cache of StdConv2d's standardized kernels. In eval mode under `noGrad` a StdConv2d would standardize
 * the same raw weight on every forward; instead each module keeps one `StdKernelSlot` holding the standardized
 * kernel of its weight at the storage version it was computed from (so the backend's own per-buffer caches, the
 * wasm Winograd weight transforms, also hit across forwards).
 *
 * Invariants: an entry is used only while its weight's storage is the one it was made from and its version is
 * unchanged (every in-place write bumps it: copy_/fill_/add_..., loadStateDict, the optimizers' sgdUpdate); a stale
 * entry is freed before a new kernel is computed. All slots share one byte budget (`setStdWeightCacheBudget`;
 * default 256 MiB, env BIT_WS_CACHE_MB, 0 turns caching off): a kernel that does not fit is not cached (the caller
 * standardizes per call and frees it, the old behaviour), so a model bigger than the budget on the GPU backend does
 * not double its weight memory. Cached kernels are `keep()`-ed (no tidy scope frees them) and freed by
 * `StdKernelSlot.clear` (module `dispose()`, `.train()`, a forward that records gradients) or `clearStdWeightCache`.
 */

import { envVar } from '../env.js';
import { ConfigError } from '../errors.js';
import { bytesPerElement } from '../tensor/dtype.js';
import { keep } from '../tensor/engine.js';
import type { Storage } from '../tensor/storage.js';
import type { Tensor } from '../tensor/tensor.js';

interface Entry {
  readonly kernel: Tensor;
  readonly storage: Storage;
  readonly version: number;
  readonly bytes: number;
}

const MIB = 2 ** 20;

function budgetFromEnv(): number {
  const mb = Number(envVar('BIT_WS_CACHE_MB') ?? 256);
  return Number.isFinite(mb) && mb >= 0 ? mb * MIB : 256 * MIB;
}

let budget = budgetFromEnv();
let used = 0;
/** Slots that hold an entry (so the whole cache can be cleared). */
const holding = new Set<StdKernelSlot>();

/** One module's cached standardized kernel (at most one entry). */
export class StdKernelSlot {
  private entry: Entry | null = null;

  /** The cached kernel of `weight` when it is current (same storage, same version), else null (a stale one is freed). */
  get(weight: Tensor): Tensor | null {
    const e = this.entry;
    if (!e) return null;
    if (e.storage === weight.storage && e.version === weight.storage.version && !weight.isDisposed) return e.kernel;
    this.clear();
    return null;
  }

  /**
   * Offer `kernel`, just standardized from `weight` at its current version. True: cached (the slot owns it from now
   * on, the caller must not free it); false: over the budget (the caller still owns it).
   */
  offer(weight: Tensor, kernel: Tensor): boolean {
    this.clear();
    const bytes = kernel.size * bytesPerElement(kernel.dtype);
    if (used + bytes > budget) return false;
    keep(kernel);
    this.entry = { kernel, storage: weight.storage, version: weight.storage.version, bytes };
    used += bytes;
    holding.add(this);
    return true;
  }

  /** Free the cached kernel, if any. */
  clear(): void {
    const e = this.entry;
    if (!e) return;
    this.entry = null;
    used -= e.bytes;
    holding.delete(this);
    e.kernel.dispose();
  }
}

/** Bytes of standardized kernels cached now, the budget, and how many modules hold one. */
export function stdWeightCacheStats(): { bytes: number; budgetBytes: number; kernels: number } {
  return { bytes: used, budgetBytes: budget, kernels: holding.size };
}

/**
 * Set the byte budget shared by every StdConv2d's cached kernel (0: never cache). Kernels already cached stay (call
 * `clearStdWeightCache` to free them); new ones are cached only while the total fits. Returns the previous budget.
 * @throws ConfigError on a negative or non-finite budget.
 */
export function setStdWeightCacheBudget(bytes: number): number {
  if (!Number.isFinite(bytes) || bytes < 0) {
    throw new ConfigError(`setStdWeightCacheBudget: budget must be a finite number of bytes >= 0, got ${bytes}`);
  }
  const prev = budget;
  budget = bytes;
  return prev;
}

/** Free every cached standardized kernel (of every module). */
export function clearStdWeightCache(): void {
  for (const s of [...holding]) s.clear();
}
