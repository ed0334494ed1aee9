/**
 * What the wasm backend's op implementations share: its buffers (`WasmBuffer`, a byte offset and a size in the
 * shared heap) and the backend state they run against (`WasmState`: heap view, allocation, the GEMM context).
 * Kept apart from index.ts so the op modules need not import the backend's entry (no import cycle).
 */

import type { BackendBuffer } from '../../backend.js';
import type { DType } from '../../dtype.js';
import type { GemmContext } from './gemm.js';
import type { WeightCache } from './weight-cache.js';
import type { WinogradMode } from './winograd.js';

/** A buffer in the shared heap: byte offset `ptr`, `size` float32 elements. */
export class WasmBuffer implements BackendBuffer {
  readonly dtype: DType = 'float32';
  freed = false;
  constructor(
    readonly ptr: number,
    readonly size: number,
    readonly cls: number,
  ) {}
}

/** Everything the op implementations share. */
export interface WasmState extends GemmContext {
  readonly relaxed: boolean;
  /** Current Float32Array view of the whole memory (re-created after growth). */
  heap(): Float32Array;
  newBuffer(size: number, zero: boolean): WasmBuffer;
  buf(b: BackendBuffer, op: string): WasmBuffer;
  release(b: BackendBuffer): void;
  liveCount(): number;
  /** Winograd 3x3 path choice and its weight-transform cache (./winograd.ts). */
  readonly winograd: { readonly mode: WinogradMode; readonly cache: WeightCache };
  /**
   * Every op that writes into an EXISTING buffer (copy into dst, fill, sgdUpdate) calls this, so caches derived
   * from a buffer's contents (the Winograd weight transforms) are never used stale.
   */
  written(b: WasmBuffer): void;
}
