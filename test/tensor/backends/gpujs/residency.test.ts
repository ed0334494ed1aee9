// Device residency on gpujs-webgpu (issue 20): a bit-tiny training step in steady state uploads only its batch
// and labels and reads back only its loss; parameters and optimizer state stay on the device. Counted twice: by
// the backend's own counters and at the Dawn level (GPUQueue.writeBuffer / GPUBuffer.mapAsync of the `webgpu`
// package, wrapped before the backend starts). Also: device buffers are released (no leak per step), the values
// equal wasm's, and a buffer above the adapter's limit is a BackendError naming the limit.
// Skipped (with the reason) where no adapter exists, unless BIT_REQUIRE_WEBGPU=1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendError } from '../../../../src/errors.js';
import { createModel } from '../../../../src/models/index.js';
import { crossEntropy, SGD } from '../../../../src/nn/index.js';
import type { Backend } from '../../../../src/tensor/backend.js';
import {
  createGpujsBackend,
  diffTransferStats,
  type GpujsBackend,
  type TransferStats,
} from '../../../../src/tensor/backends/gpujs/index.js';
import { getBackend } from '../../../../src/tensor/backends/registry.js';
import * as F from '../../../../src/tensor/index.js';
import { closeness, TOL } from '../../../tolerances.js';
import { webgpuRequired, webgpuUnavailableReason } from '../../../webgpu-required.js';

const reason = await webgpuUnavailableReason();
if (reason && webgpuRequired()) throw new Error(`BIT_REQUIRE_WEBGPU=1 but WebGPU is unavailable: ${reason}`);
if (reason) console.log(`skipping device-residency tests: ${reason}`);

/** Dawn-level counts: every writeBuffer and mapAsync of the process while installed. */
const dawn = { writes: 0, writeBytes: 0, maps: 0, creates: 0, destroys: 0 };
let unwrap: (() => void) | null = null;

async function wrapDawn(): Promise<void> {
  const { globals } = (await import('webgpu')) as unknown as {
    globals: Record<string, { prototype: Record<string, (...a: unknown[]) => unknown> }>;
  };
  const q = globals.GPUQueue!.prototype;
  const b = globals.GPUBuffer!.prototype;
  const d = globals.GPUDevice!.prototype;
  const write = q.writeBuffer!;
  const map = b.mapAsync!;
  const create = d.createBuffer!;
  const destroy = b.destroy!;
  d.createBuffer = function (this: unknown, ...a: unknown[]) {
    dawn.creates++;
    return create.apply(this, a);
  };
  b.destroy = function (this: unknown, ...a: unknown[]) {
    dawn.destroys++;
    return destroy.apply(this, a);
  };
  q.writeBuffer = function (this: unknown, ...a: unknown[]) {
    dawn.writes++;
    const data = a[2] as ArrayBufferView;
    dawn.writeBytes += data.byteLength;
    return write.apply(this, a);
  };
  b.mapAsync = function (this: unknown, ...a: unknown[]) {
    dawn.maps++;
    return map.apply(this, a);
  };
  unwrap = () => {
    q.writeBuffer = write;
    b.mapAsync = map;
    d.createBuffer = create;
    b.destroy = destroy;
  };
}

/** One training step of `net` on a fresh host batch; resolves to the loss (the one readback). */
function trainStep(net: ReturnType<typeof createModel>, opt: SGD, seed: number, batch: number, px: number) {
  const rng = new F.Rng(seed);
  const images = Float32Array.from({ length: batch * 3 * px * px }, () => rng.normal());
  const labels = Int32Array.from({ length: batch }, (_, i) => (i + seed) % 10);
  const loss = F.tidy(() => {
    opt.zeroGrad();
    const l = crossEntropy(net.forward(F.fromTyped(images, [batch, 3, px, px])), labels);
    l.backward();
    opt.step();
    return l.detach();
  });
  return loss.data().then((d) => {
    loss.dispose();
    return d[0]!;
  });
}

describe.skipIf(reason !== null)('gpujs-webgpu device residency', () => {
  let gpu: GpujsBackend;
  beforeAll(async () => {
    await wrapDawn();
    gpu = await createGpujsBackend('webgpu');
  });
  afterAll(() => {
    gpu?.dispose();
    unwrap?.();
  });

  it('a bit-tiny training step uploads batch + labels and reads back only the loss; values equal wasm', async () => {
    const batch = 2;
    const px = 32;
    const run = async (b: Backend, steps: number, measure: boolean) => {
      F.setDefaultBackend(b);
      const net = createModel('bit-tiny', { numClasses: 10, seed: 0, backend: b });
      const opt = new SGD(net.parameters(), { lr: 0.01, momentum: 0.9 });
      const losses: number[] = [];
      let perStep: TransferStats | null = null;
      let dawnStep = { writes: 0, writeBytes: 0, maps: 0 };
      let liveAfter: number[] = [];
      for (let s = 0; s < steps; s++) {
        const t0 = measure ? gpu.transfers() : null;
        const d0 = { ...dawn };
        losses.push(await trainStep(net, opt, s, batch, px));
        if (measure && s === steps - 1) {
          perStep = diffTransferStats(t0!, gpu.transfers());
          dawnStep = {
            writes: dawn.writes - d0.writes,
            writeBytes: dawn.writeBytes - d0.writeBytes,
            maps: dawn.maps - d0.maps,
          };
        }
        liveAfter.push(b.liveBuffers());
      }
      // checkpoint-style read of every parameter: one readback each
      const before = measure ? gpu.transfers().readbacks : 0;
      const params = net.parameters();
      const first = await params[0]!.data();
      if (measure) {
        for (const p of params.slice(1)) await p.data();
        expect(gpu.transfers().readbacks - before).toBe(params.length);
      }
      opt.dispose();
      net.dispose();
      liveAfter = liveAfter.slice(1);
      return { losses, perStep, dawnStep, liveAfter, first: Array.from(first) };
    };
    const g = await run(gpu, 3, true);
    const w = await run(await getBackend('wasm'), 3, false);
    const step = g.perStep!;
    const batchBytes = batch * 3 * px * px * 4;
    // Steady state (third step): two host -> device writes (images, labels), one readback (the loss).
    expect(step.uploads).toBe(2);
    expect(step.bytesUploaded).toBeGreaterThanOrEqual(batchBytes);
    expect(step.bytesUploaded).toBeLessThanOrEqual(batchBytes + batch * 10 * 4);
    expect(step.readbacks).toBe(1);
    expect(step.bytesRead).toBe(4);
    expect(step.launches).toBeGreaterThan(100);
    // Dawn agrees: data writes are the two uploads (the rest are the kernels' small uniform parameter blocks),
    // and exactly one buffer is mapped for reading.
    expect(g.dawnStep.maps).toBe(1);
    expect(g.dawnStep.writeBytes - step.bytesUploaded).toBeLessThanOrEqual(step.launches * 512);
    // No buffer leaks across steps: the live count is the same after every step.
    expect(new Set(g.liveAfter).size).toBe(1);
    expect(closeness(g.losses, w.losses, TOL.training)).toBeLessThanOrEqual(0);
    expect(closeness(g.first, w.first, TOL.training)).toBeLessThanOrEqual(0);
  }, 300_000);

  it('no GPU buffer outlives its tensor: ops, in-place copy and SGD, free (counted at the Dawn level)', async () => {
    const n = 1000;
    const ramp = Float32Array.from({ length: n }, (_, i) => i / n);
    const sync = async () => {
      const s = gpu.upload(ramp, 'float32');
      await gpu.read(s);
      gpu.free(s);
    };
    await sync();
    const base = dawn.creates - dawn.destroys;
    for (let r = 0; r < 3; r++) {
      const x = gpu.upload(ramp, 'float32');
      const y = gpu.unary('exp', x);
      const view = { shape: [n], strides: [1], offset: 0 };
      gpu.copy({ buf: x, ...view }, { buf: y, ...view });
      const p = gpu.upload(ramp, 'float32');
      const m = gpu.alloc(n, 'float32');
      const sgd = { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false, firstStep: r === 0 };
      gpu.sgdUpdate(p, y, m, sgd);
      gpu.sgdUpdate(p, y, m, { ...sgd, firstStep: false });
      const s = gpu.reduce('sum', p, 1, n);
      // y = x (the copy), two momentum steps from a zero buffer: p = x - 0.1 x - 0.1 (0.9 x + x) = 0.71 x
      expect((await gpu.read(s))[0]).toBeCloseTo(0.71 * ((n - 1) / 2), 2);
      for (const t of [x, y, p, m, s]) gpu.free(t);
    }
    await sync();
    expect(dawn.creates - dawn.destroys).toBe(base);
  });

  it('a buffer above the adapter limit is a BackendError naming it', () => {
    const huge = 2 ** 31;
    expect(() => gpu.alloc(huge, 'float32')).toThrow(BackendError);
    expect(() => gpu.alloc(huge, 'float32')).toThrow(/maxBufferSize|maxStorageBufferBindingSize/);
  });
});
