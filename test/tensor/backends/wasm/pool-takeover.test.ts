/**
 * The thread pool's take-over path: when a worker has not started on its share by the time the calling thread has
 * finished its own (here: ops issued right after creating the backend, while the worker thread is still booting),
 * the calling thread claims and runs that share itself. Results must be bit for bit those of one thread, and the
 * pool must keep working once the worker is up.
 */

import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../../../src/tensor/backend.js';
import { createWasmBackend, type WasmBackend } from '../../../../src/tensor/backends/wasm/index.js';
import { convGeom, rng } from './helpers.js';

const made: WasmBackend[] = [];
afterAll(() => {
  for (const b of made) b.dispose();
});

function work(b: Backend): number[][] {
  const r = rng(5);
  const g = convGeom({ n: 4, cin: 16, h: 9, w: 9, cout: 24, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1 });
  const x = b.upload(Float32Array.from(r(g.n * g.cin * g.h * g.w)), 'float32');
  const w = b.upload(Float32Array.from(r(g.cout * g.cin * 9)), 'float32');
  const a = b.upload(Float32Array.from(r(70 * 90)), 'float32');
  const outs = [
    b.conv2d(x, w, g),
    b.conv2dGradWeight(x, b.conv2d(x, w, g), g),
    b.matmul(a, a, { batch: 1, m: 70, k: 90, n: 70, transA: false, transB: true }),
  ];
  return outs.map((o) => Array.from(b.readSync(o)));
}

describe('wasm thread pool: calling thread takes over unstarted shares', () => {
  it('gives the one-thread results while the worker boots, and after', async () => {
    const one = createWasmBackend({ threads: 1 });
    made.push(one);
    const want = work(one);
    const two = createWasmBackend({ threads: 2, minParallelWork: 0, adaptiveThreads: false });
    made.push(two);
    const early = work(two);
    const taken = two.syncStats().takenOver;
    await two.ready;
    await new Promise((res) => setTimeout(res, 50));
    const late = work(two);
    expect(early).toEqual(want);
    expect(late).toEqual(want);
    // the worker could not have started on every share issued during its boot
    expect(taken).toBeGreaterThan(0);
  });
});
