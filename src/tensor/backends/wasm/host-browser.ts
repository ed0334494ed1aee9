/**
 * The wasm backend's browser platform (package.json's `browser` map puts this file in place of ./host-node.ts).
 * Threads come from navigator.hardwareConcurrency; pool workers are Web Workers started from a Blob URL and
 * handed the compiled module and the shared memory by postMessage. Browsers allow this only when the page is
 * cross-origin isolated (COOP/COEP headers), and forbid Atomics.wait on a page's main thread: in either case
 * `maxThreads()` is 1 and the backend runs single-threaded on an unshared memory (no worker, no blocking wait).
 * Run the engine in a dedicated Worker to get the thread pool.
 *
 * A worker's error text is written into a small SharedArrayBuffer of its own (there is no synchronous message
 * read in browsers): word 0 holds the length in UTF-16 units, the text follows (cut at ERR_UNITS).
 */

import type { WasmHost, WorkerHandle, WorkerInit } from './host.js';

const ERR_UNITS = 2048;

const PREAMBLE = `
self.onmessage = (e) => {
self.onmessage = null;
const workerData = e.data;
const report = (text) => {
  const u = new Uint16Array(workerData.errors);
  const n = Math.min(text.length, u.length - 1);
  for (let i = 0; i < n; i++) u[i + 1] = text.charCodeAt(i);
  Atomics.store(u, 0, n);
};
postMessage('ready');
`;
const POSTAMBLE = '\n};\n';

interface BrowserGlobals {
  crossOriginIsolated?: boolean;
  navigator?: { hardwareConcurrency?: number };
  SharedArrayBuffer?: SharedArrayBufferConstructor;
  Blob: new (parts: string[], o: { type: string }) => object;
  URL: { createObjectURL(b: object): string; revokeObjectURL(u: string): void };
  Worker: new (
    url: string,
  ) => {
    postMessage(m: unknown): void;
    terminate(): void;
    onmessage: ((e: { data: unknown }) => void) | null;
    onerror: ((e: { message?: string }) => void) | null;
  };
}
const g = globalThis as unknown as BrowserGlobals;

/** Whether this thread may block in Atomics.wait (false on a page's main thread). */
function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

export const host: WasmHost = {
  name: 'browser',
  defaultThreads: () => g.navigator?.hardwareConcurrency ?? 1,
  maxThreads() {
    if (!host.sharedMemory()) {
      return { n: 1, why: 'the page is not cross-origin isolated (serve it with COOP/COEP headers)' };
    }
    if (!canBlock()) return { n: 1, why: "a page's main thread may not block in Atomics.wait (run it in a Worker)" };
    return { n: 16, why: '' };
  },
  sharedMemory: () => g.crossOriginIsolated === true && typeof g.SharedArrayBuffer === 'function',
  enableRelaxedSimd() {
    // relaxed SIMD is on by default in the browsers that have it; validation decides
  },
  compileEagerly: (compile) => compile(),
  // a Web Worker started here may not run before this thread returns to its event loop; not worth a worker
  touchPagesInBackground: () => null,
  workersStartWhileBlocked: false,
  startWorker(body: string, init: WorkerInit, onReady: () => void): WorkerHandle {
    const errors = new SharedArrayBuffer(2 * (ERR_UNITS + 1));
    const url = g.URL.createObjectURL(new g.Blob([PREAMBLE + body + POSTAMBLE], { type: 'text/javascript' }));
    const worker = new g.Worker(url);
    worker.onmessage = (e) => {
      if (e.data === 'ready') {
        worker.onmessage = null;
        g.URL.revokeObjectURL(url);
        onReady();
      }
    };
    let failure: string | null = null;
    worker.onerror = (e) => {
      failure ??= `failed: ${e.message ?? 'worker error'}`;
    };
    worker.postMessage({ ...init, names: [...init.names], errors });
    const u = new Uint16Array(errors);
    return {
      failure: () => failure,
      takeError() {
        const n = Atomics.load(u, 0);
        if (n === 0) return null;
        const text = String.fromCharCode(...u.subarray(1, 1 + n));
        Atomics.store(u, 0, 0);
        return text;
      },
      terminate: () => worker.terminate(),
    };
  },
};
