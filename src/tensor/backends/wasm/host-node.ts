/**
 * The wasm backend's Node platform: thread count from os.availableParallelism(), relaxed SIMD through the V8
 * flag, eager kernel compilation through two V8 flags set around the compile and restored to the values the
 * process had before (`compileEagerly`), pool workers as worker_threads started from source (`eval: true`, no TS
 * loader involved). A worker's error text travels over a MessagePort read synchronously (receiveMessageOnPort). Workers and ports are unref()'d so a
 * forgotten backend does not keep Node alive. Bundlers targeting browsers replace this file by ./host-browser.ts.
 */

import os from 'node:os';
import v8 from 'node:v8';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { WasmHost, WorkerHandle, WorkerInit } from './host.js';
import type { WasmMemory } from './wasm-api.js';

const PREAMBLE = `
const { workerData } = require('node:worker_threads');
const report = (text) => workerData.port.postMessage(text);
if (workerData.relaxed) require('node:v8').setFlagsFromString('--experimental-wasm-relaxed-simd');
`;

/**
 * The page toucher (`touchPagesInBackground`): one write-intent atomic per 4 KiB page, values unchanged
 * (compareExchange(w, i, 0, 0): one locked write, one fault per fresh page; Atomics.add is a load then a locked
 * exchange in V8, two faults: the zero page, then its copy); checks its stop word every 64 pages; posts where it got
 * to.
 */
const TOUCH = `
const { parentPort, workerData: { memory, from, to, stop } } = require('node:worker_threads');
const w = new Int32Array(memory.buffer);
let b = from;
while (b < to && Atomics.load(stop, 0) === 0) {
  const end = Math.min(to, b + (64 << 12));
  for (; b < end; b += 4096) Atomics.compareExchange(w, b >>> 2, 0, 0);
}
parentPort.postMessage(Math.min(b, to));
`;

/** Set V8 flags, skipping any this V8 does not know (then the engine's default stays). */
function setV8Flags(flags: readonly string[]): void {
  for (const f of flags) {
    try {
      v8.setFlagsFromString(f);
    } catch {
      // unknown on this V8 (e.g. relaxed SIMD on by default in newer ones)
    }
  }
}

/**
 * V8's built-in defaults of the two boolean flags `compileEagerly` flips (Node 20-24: both on; `node --v8-options`
 * prints them, and test/tensor/backends/wasm/host-node-flags.test.ts checks this table against the running node).
 */
export const V8_FLAG_DEFAULTS = { 'wasm-lazy-compilation': true, liftoff: true } as const;
type EagerFlag = keyof typeof V8_FLAG_DEFAULTS;

/**
 * The value a boolean V8 flag had when this process started: the last `--name` / `--no-name` (V8 also accepts
 * underscores) in NODE_OPTIONS then the command line (`process.execArgv`, which wins), else V8's default. V8 has no
 * getter for a flag, so this is the value in effect before our first change unless the application itself called
 * `v8.setFlagsFromString` for it at run time.
 */
export function startupFlag(
  name: EagerFlag,
  execArgv = process.execArgv,
  nodeOptions = process.env.NODE_OPTIONS ?? '',
) {
  let v: boolean = V8_FLAG_DEFAULTS[name];
  const norm = (a: string) => a.replace(/_/g, '-');
  for (const a of [...nodeOptions.split(/\s+/), ...execArgv].map(norm)) {
    if (a === `--${name}` || a === `--${name}=true`) v = true;
    else if (a === `--no-${name}` || a === `--${name}=false`) v = false;
  }
  return v;
}

/** The flags' values in effect now, as far as this process's code changed them (nested calls restore exactly). */
const flagState: Record<EagerFlag, boolean> = {
  'wasm-lazy-compilation': startupFlag('wasm-lazy-compilation'),
  liftoff: startupFlag('liftoff'),
};

function setEagerFlags(values: Record<EagerFlag, boolean>): void {
  setV8Flags(Object.entries(values).map(([k, on]) => `--${on ? '' : 'no-'}${k}`));
  Object.assign(flagState, values);
}

/**
 * Start an eval'd worker with the parent's execArgv, less the flags a worker may not take: `--input-type` (the
 * worker source is CommonJS: a parent started with --input-type=module would make it ESM, where `require` is
 * undefined) and process-wide V8 flags (e.g. `--always-sparkplug`, `--max-lazy`: Node refuses them in a worker's
 * execArgv with ERR_WORKER_INVALID_EXEC_ARGV and names them; the worker inherits their effect anyway, V8 flags
 * being per process).
 */
function startWithArgv(source: string, workerData: unknown, port: MessagePort): Worker {
  let execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
  for (;;) {
    try {
      return new Worker(source, { eval: true, execArgv, workerData, transferList: [port] });
    } catch (e) {
      const bad = (e as { code?: string }).code === 'ERR_WORKER_INVALID_EXEC_ARGV' ? invalidFlags(e as Error) : [];
      const kept = execArgv.filter((a) => !bad.includes(a.split('=')[0]!) && !bad.includes(a));
      if (kept.length === execArgv.length) throw e;
      execArgv = kept;
    }
  }
}

/** The flags named by an ERR_WORKER_INVALID_EXEC_ARGV message ("...invalid execArgv flags: --a, --b"). */
function invalidFlags(e: Error): string[] {
  const at = e.message.lastIndexOf(':');
  return at < 0
    ? []
    : e.message
        .slice(at + 1)
        .split(/[\s,]+/)
        .filter((f) => f.startsWith('-'));
}

export const host: WasmHost = {
  name: 'node',
  defaultThreads: () => os.availableParallelism(),
  maxThreads: () => ({ n: 16, why: '' }),
  sharedMemory: () => true,
  enableRelaxedSimd: () => setV8Flags(['--experimental-wasm-relaxed-simd']),
  compileEagerly<T>(compile: () => T): T {
    // process-wide V8 flags: set around the compile only, then put back to the values they had before (the
    // process's own, from its command line / NODE_OPTIONS, not assumed defaults)
    const before = { ...flagState };
    setEagerFlags({ 'wasm-lazy-compilation': false, liftoff: false });
    try {
      return compile();
    } finally {
      setEagerFlags(before);
    }
  },
  touchPagesInBackground(memory: WasmMemory, from: number, to: number, stop: Int32Array): Promise<number> | null {
    if (!(memory.buffer instanceof SharedArrayBuffer) || to <= from) return null;
    let w: Worker;
    try {
      w = new Worker(TOUCH, { eval: true, execArgv: [], workerData: { memory, from, to, stop } });
    } catch {
      return null; // no worker here (a restricted embedder): a prefault is only a hint
    }
    w.unref();
    return new Promise((resolve) => {
      let reached = from;
      w.once('message', (end: number) => {
        reached = end;
      });
      // resolves on error too: a prefault is a hint, its failure changes nothing but speed
      w.once('exit', () => resolve(reached));
      w.once('error', () => resolve(reached));
    });
  },
  workersStartWhileBlocked: true,
  startWorker(body: string, init: WorkerInit): WorkerHandle {
    const { port1, port2 } = new MessageChannel();
    const worker = startWithArgv(PREAMBLE + body, { ...init, names: [...init.names], port: port2 }, port2);
    let failure: string | null = null;
    let stopping = false;
    worker.on('error', (e: unknown) => {
      failure ??= `failed: ${e instanceof Error ? e.message : String(e)}`;
    });
    worker.on('exit', (code: number) => {
      if (!stopping) failure ??= `exited with code ${code}`;
    });
    worker.unref();
    port1.unref();
    return {
      takeError() {
        const msg = receiveMessageOnPort(port1);
        return msg ? String(msg.message) : failure;
      },
      failure: () => failure,
      terminate() {
        stopping = true;
        void worker.terminate();
        port1.close();
      },
    };
  },
};
