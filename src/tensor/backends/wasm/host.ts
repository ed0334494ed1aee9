/**
 * What the wasm backend needs from its platform, as one interface with two implementations: ./host-node.ts
 * (worker_threads, os, v8: the default) and ./host-browser.ts (Web Workers over a SharedArrayBuffer). Bundlers
 * swap the first for the second through the `browser` map in package.json, so a browser bundle never sees a
 * `node:` import. Nothing here is imported at run time except types.
 *
 * Invariants: `maxThreads()` is 1 wherever the calling thread may not block in Atomics.wait (a browser page's
 * main thread) or memory cannot be shared (a page that is not cross-origin isolated); `sharedMemory()` false
 * means the kernel module is built for an unshared memory and no worker is ever started.
 */

import type { WasmMemory, WasmModule } from './wasm-api.js';

/** What every pool worker receives when it starts. */
export interface WorkerInit {
  readonly module: WasmModule;
  readonly memory: WasmMemory;
  /** First Int32 word of this worker's slot in the control block. */
  readonly base: number;
  readonly relaxed: boolean;
  readonly names: readonly string[];
}

/** A started pool worker. */
export interface WorkerHandle {
  /** The error text the worker reported for its last failed command (consumed), or null. */
  takeError(): string | null;
  /**
   * Why the worker is not running (it failed to start or exited), or null while it is alive. The pool turns this
   * into a BackendError: a dead worker must not silently leave every share to the calling thread.
   */
  failure(): string | null;
  /** Stop the worker (it has already been told to quit through the control block). */
  terminate(): void;
}

export interface WasmHost {
  /** 'node' or 'browser' (for messages). */
  readonly name: string;
  /** Threads to use when the caller gives none. */
  defaultThreads(): number;
  /** Most threads allowed here (1: no blocking waits or no shared memory on this thread), with the reason. */
  maxThreads(): { readonly n: number; readonly why: string };
  /** Whether WebAssembly memory can be shared with workers here. */
  sharedMemory(): boolean;
  /** Enable relaxed SIMD before the first module using it compiles (a V8 flag in Node; nothing in browsers). */
  enableRelaxedSimd(): void;
  /**
   * Run `compile` (which compiles the kernel module) with every function compiled up front by the optimizing
   * compiler, so the first step pays no lazy compilation or baseline-to-optimized tier-up (Node: V8 flags set
   * around the call and restored after; browsers: just `compile()`, the engine decides).
   */
  compileEagerly<T>(compile: () => T): T;
  /**
   * Start one worker running `body` (JavaScript that reads `workerData: WorkerInit` and calls `report(text)`
   * when a command fails). `onReady` runs once the worker has instantiated the module (browser only; Node
   * workers need not announce themselves because the Node main thread may block while they start).
   */
  startWorker(body: string, init: WorkerInit, onReady: () => void): WorkerHandle;
  /**
   * Map the pages of [from, to) of a SHARED memory on a thread of its own, without blocking the caller: every 4 KiB
   * page gets one `Atomics.add(word, 0)`, a write access that keeps the word's value whatever other threads store
   * there meanwhile, so the caller may allocate and write inside the range while it runs. It stops early once
   * `stop[0]` is non-zero (the caller's compute has started: both would then fault pages and compete for cores).
   * Resolves to the end of the range it mapped; null where no such thread can be started (the caller then skips
   * the prefault: it is a speed hint only).
   */
  touchPagesInBackground(memory: WasmMemory, from: number, to: number, stop: Int32Array): Promise<number> | null;
  /**
   * True when a worker can be waited for before it announced itself (Node). False in browsers, where a worker
   * may start only after the creating thread returns to its event loop: the pool then runs a not-yet-ready
   * worker's share itself (results do not depend on which thread runs a command).
   */
  readonly workersStartWhileBlocked: boolean;
}
