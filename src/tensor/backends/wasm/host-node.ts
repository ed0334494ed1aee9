/**
 * The wasm backend's Node platform: thread count from os.availableParallelism(), relaxed SIMD through the V8
 * flag, pool workers as worker_threads started from source (`eval: true`, no TS loader involved). A worker's error
 * text travels over a MessagePort read synchronously (receiveMessageOnPort). Workers and ports are unref()'d so a
 * forgotten backend does not keep Node alive. Bundlers targeting browsers replace this file by ./host-browser.ts.
 */

import os from 'node:os';
import v8 from 'node:v8';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { WasmHost, WorkerHandle, WorkerInit } from './host.js';

const PREAMBLE = `
const { workerData } = require('node:worker_threads');
const report = (text) => workerData.port.postMessage(text);
if (workerData.relaxed) require('node:v8').setFlagsFromString('--experimental-wasm-relaxed-simd');
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

export const host: WasmHost = {
  name: 'node',
  defaultThreads: () => os.availableParallelism(),
  maxThreads: () => ({ n: 16, why: '' }),
  sharedMemory: () => true,
  enableRelaxedSimd: () => setV8Flags(['--experimental-wasm-relaxed-simd']),
  compileEagerly<T>(compile: () => T): T {
    setV8Flags(['--no-wasm-lazy-compilation', '--no-liftoff']);
    try {
      return compile();
    } finally {
      setV8Flags(['--wasm-lazy-compilation', '--liftoff']);
    }
  },
  workersStartWhileBlocked: true,
  startWorker(body: string, init: WorkerInit): WorkerHandle {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(PREAMBLE + body, {
      eval: true,
      // the worker source is CommonJS: a parent started with --input-type=module (node -e with ESM) would
      // otherwise make the eval'd worker ESM, where `require` is undefined and the worker dies at once
      execArgv: process.execArgv.filter((a) => !a.startsWith('--input-type')),
      workerData: { ...init, names: [...init.names], port: port2 },
      transferList: [port2],
    });
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
