/**
 * Thread pool over one shared WasmMemory. Thread 0 is the calling (main) thread; threads 1..T-1 are
 * worker_threads started once from a generated JS string (`eval: true`, so no TS loader is involved), each with
 * its own instance of the same compiled module. A dispatch hands each thread a command list — (function index,
 * argument count, arguments) as float64 words in shared memory — wakes the workers with Atomics.notify, runs list 0
 * itself, then blocks in Atomics.wait until every worker reports done, so every op stays synchronous.
 *
 * Control block (Int32 words, at byte 0): worker w uses [w*16 .. w*16+5]: seq, done, cmdPtr, cmdWords, error,
 * quit. Workers are unref()'d so a forgotten backend does not keep Node alive; dispose() stops them.
 */

import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { BackendError } from '../../../errors.js';
import type { WasmExports, WasmMemory, WasmModule } from './wasm-api.js';

/** One call: exported function name and its numeric arguments. */
export interface Command {
  readonly fn: string;
  readonly args: readonly number[];
}

const WORKER_SRC = `
const { workerData } = require('node:worker_threads');
const { module, memory, base, relaxed, names, port } = workerData;
if (relaxed) require('node:v8').setFlagsFromString('--experimental-wasm-relaxed-simd');
const inst = new WebAssembly.Instance(module, { env: { mem: memory } });
const fns = names.map((n) => inst.exports[n]);
const ctl = new Int32Array(memory.buffer, 0, 1024);
let seen = 0;
for (;;) {
  let g = Atomics.load(ctl, base);
  for (let s = 0; s < 20000 && g === seen; s++) g = Atomics.load(ctl, base);
  if (g === seen) { Atomics.wait(ctl, base, seen); continue; }
  seen = g;
  if (Atomics.load(ctl, base + 5) === 1) break;
  try {
    const ptr = ctl[base + 2] >>> 0;
    const n = ctl[base + 3];
    const cmd = new Float64Array(memory.buffer, ptr, n);
    let i = 0;
    while (i < n) {
      const f = fns[cmd[i]];
      const k = cmd[i + 1];
      f.apply(null, Array.prototype.slice.call(cmd.subarray(i + 2, i + 2 + k)));
      i += 2 + k;
    }
  } catch (e) {
    Atomics.store(ctl, base + 4, 1);
    port.postMessage(String((e && e.stack) || e));
  }
  Atomics.store(ctl, base + 1, g);
  Atomics.notify(ctl, base + 1);
}
`;

export class ThreadPool {
  private readonly workers: Worker[] = [];
  private readonly ports: MessagePort[] = [];
  private readonly ctl: Int32Array;
  private readonly fnIndex = new Map<string, number>();
  private gen = 0;
  private disposed = false;

  /**
   * @param exports the main thread's instance exports (thread 0 calls them directly)
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
  ) {
    this.ctl = new Int32Array(memory.buffer, 0, 1024);
    names.forEach((n, i) => {
      this.fnIndex.set(n, i);
    });
    for (let w = 1; w < threads; w++) {
      const { port1, port2 } = new MessageChannel();
      const worker = new Worker(WORKER_SRC, {
        eval: true,
        workerData: { module, memory, base: w * 16, relaxed, names: [...names], port: port2 },
        transferList: [port2],
      });
      worker.unref();
      port1.unref();
      this.workers.push(worker);
      this.ports.push(port1);
    }
  }

  /** Run `lists[t]` on thread t (lists may be shorter than the pool, or contain empty lists) and wait for all. */
  run(lists: readonly (readonly Command[])[]): void {
    if (this.disposed) throw new BackendError('wasm backend: used after dispose()');
    const started: { w: number; prev: number; free: () => void }[] = [];
    const gen = ++this.gen;
    for (let w = 1; w < Math.min(lists.length, this.threads); w++) {
      const list = lists[w]!;
      if (list.length === 0) continue;
      const words = list.reduce((s, c) => s + 2 + c.args.length, 0);
      const [ptr, free] = this.allocCmd(words * 8);
      const f64 = new Float64Array(this.memory.buffer, ptr, words);
      let i = 0;
      for (const c of list) {
        f64[i++] = this.index(c.fn);
        f64[i++] = c.args.length;
        for (const a of c.args) f64[i++] = a;
      }
      const base = w * 16;
      const prev = Atomics.load(this.ctl, base + 1);
      this.ctl[base + 2] = ptr | 0;
      this.ctl[base + 3] = words;
      Atomics.store(this.ctl, base, gen);
      Atomics.notify(this.ctl, base);
      started.push({ w, prev, free });
    }
    let err: unknown;
    try {
      for (const c of lists[0] ?? []) (this.exports[c.fn] as (...a: number[]) => void)(...c.args);
    } catch (e) {
      err = e;
    }
    const failed: string[] = [];
    for (const s of started) {
      const base = s.w * 16;
      let spins = 0;
      while (Atomics.load(this.ctl, base + 1) !== gen) {
        if (++spins > 2000) Atomics.wait(this.ctl, base + 1, s.prev, 1000);
      }
      s.free();
      if (Atomics.load(this.ctl, base + 4) !== 0) {
        Atomics.store(this.ctl, base + 4, 0);
        const msg = receiveMessageOnPort(this.ports[s.w - 1]!);
        failed.push(`thread ${s.w}: ${msg ? String(msg.message) : 'unknown error'}`);
      }
    }
    if (err !== undefined) throw new BackendError(`wasm backend: kernel failed on the main thread: ${String(err)}`);
    if (failed.length > 0) throw new BackendError(`wasm backend: kernel failed in a worker: ${failed.join('; ')}`);
  }

  private index(fn: string): number {
    const i = this.fnIndex.get(fn);
    if (i === undefined) throw new BackendError(`wasm backend: no kernel named '${fn}'`);
    return i;
  }

  /** Stop every worker (the process can exit even without this: workers are unref()'d). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.workers.forEach((w, i) => {
      const base = (i + 1) * 16;
      Atomics.store(this.ctl, base + 5, 1);
      Atomics.store(this.ctl, base, ++this.gen);
      Atomics.notify(this.ctl, base);
      void w.terminate();
    });
    for (const p of this.ports) p.close();
  }
}
