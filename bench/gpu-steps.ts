/**
 * Training-step time and host <-> device traffic on gpujs-webgpu vs wasm, for one source tree: this checkout, or
 * another one given by --root (e.g. a worktree of main, for the before/after table of docs/gpu.md). Traffic is
 * counted at the Dawn level, which works on any tree: compute dispatches (GPUComputePassEncoder.dispatchWorkgroups),
 * queue writes (GPUQueue.writeBuffer: uploads and the kernels' uniform parameter blocks) and mapped readbacks
 * (GPUBuffer.mapAsync), wrapped on the `webgpu` package's classes before the backend starts.
 *
 * Usage: tsx bench/gpu-steps.ts [--root DIR] [--models bit-tiny,bit-small,BiT-R50x1] [--batch 2] [--px 32]
 *        [--steps 3] [--save FILE]
 * Each model runs `steps` steps on wasm, then on gpujs-webgpu, in the same process. Every step is timed from an
 * idle device to an idle device (a read of one parameter before and after, not counted), so its time and counts
 * are its own; reported: the first step (kernel builds included), the mean of the later ones, the last one's counts.
 * Needs a WebGPU adapter (SwiftShader is fine).
 */

import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? args[i + 1]! : d;
};
const root = path.resolve(opt('root', path.join(import.meta.dirname, '..')));
const models = opt('models', 'bit-tiny,bit-small,BiT-R50x1').split(',');
const batch = Number(opt('batch', '2'));
const px = Number(opt('px', '32'));
const steps = Number(opt('steps', '3'));
const save = opt('save', '');

const dawn = { dispatches: 0, writes: 0, writeBytes: 0, maps: 0, mapBytes: 0 };
type Proto = Record<string, (...a: unknown[]) => unknown>;
function wrap(proto: Proto, name: string, count: (a: unknown[]) => void): void {
  const orig = proto[name]!;
  proto[name] = function (this: unknown, ...a: unknown[]) {
    count(a);
    return orig.apply(this, a);
  };
}
const { globals } = (await import('webgpu')) as unknown as { globals: Record<string, { prototype: Proto }> };
wrap(globals.GPUComputePassEncoder!.prototype, 'dispatchWorkgroups', () => dawn.dispatches++);
wrap(globals.GPUQueue!.prototype, 'writeBuffer', (a) => {
  dawn.writes++;
  dawn.writeBytes += (a[2] as ArrayBufferView).byteLength;
});
wrap(globals.GPUBuffer!.prototype, 'mapAsync', (a) => {
  dawn.maps++;
  dawn.mapBytes += (a[2] as number | undefined) ?? 0;
});

const mod = (p: string) => import(pathToFileURL(path.join(root, p)).href);
const { createModel } = await mod('src/models/index.ts');
const { crossEntropy, SGD } = await mod('src/nn/index.ts');
const { getBackend, disposeBackends } = await mod('src/tensor/backends/registry.ts');
const F = await mod('src/tensor/index.ts');

interface Row {
  model: string;
  backend: string;
  first_ms: number;
  ms: number;
  dispatches: number;
  writes: number;
  write_bytes: number;
  readbacks: number;
  readback_bytes: number;
}

async function run(backend: string, model: string): Promise<Row> {
  const b = await getBackend(backend);
  F.setDefaultBackend(b);
  const net = createModel(model, { numClasses: 10, seed: 0, backend: b });
  const sgd = new SGD(net.parameters(), { lr: 0.003, momentum: 0.9 });
  const rng = new F.Rng(1);
  const params = net.parameters();
  // Wait until the device is idle (a read of the stem weight, the last gradient of the backward and so among the
  // last updates issued; its readback is not counted), so a step's time and counts are mostly its own: ops are
  // issued asynchronously and run past the loss readback.
  const idle = () => params[0].data();
  let first = 0;
  const times: number[] = [];
  let d0 = { ...dawn };
  let d1 = { ...dawn };
  await idle();
  for (let s = 0; s < steps; s++) {
    const images = Float32Array.from({ length: batch * 3 * px * px }, () => rng.normal());
    const labels = Int32Array.from({ length: batch }, (_, i) => (i + s) % 10);
    d0 = { ...dawn };
    const t0 = performance.now();
    const loss = F.tidy(() => {
      sgd.zeroGrad();
      const l = crossEntropy(net.forward(F.fromTyped(images, [batch, 3, px, px])), labels);
      l.backward();
      sgd.step();
      return l.detach();
    });
    await loss.data();
    loss.dispose();
    const before = { ...dawn };
    await idle();
    const t = performance.now() - t0;
    // the step's counts: everything up to idle, less the idle read's own traffic
    d1 = { ...dawn, maps: before.maps, mapBytes: before.mapBytes };
    if (s === 0) first = t;
    else times.push(t);
  }
  const last = times.length ? times.reduce((a, b) => a + b, 0) / times.length : first;
  sgd.dispose();
  net.dispose();
  return {
    model,
    backend,
    first_ms: Math.round(first),
    ms: Math.round(last * 10) / 10,
    dispatches: d1.dispatches - d0.dispatches,
    writes: d1.writes - d0.writes,
    write_bytes: d1.writeBytes - d0.writeBytes,
    readbacks: d1.maps - d0.maps,
    readback_bytes: d1.mapBytes - d0.mapBytes,
  };
}

const rows: Row[] = [];
for (const model of models) {
  for (const backend of ['wasm', 'gpujs-webgpu']) {
    const r = await run(backend, model);
    rows.push(r);
    console.log(JSON.stringify(r));
  }
  const [w, g] = rows.slice(-2) as [Row, Row];
  console.log(`${model} ${batch}x${px}px: webgpu/wasm step time ${(g.ms / w.ms).toFixed(1)}x`);
}
if (save) {
  const info = { root, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version, date: new Date() };
  writeFileSync(save, `${JSON.stringify({ info, batch, px, steps, rows }, null, 2)}\n`);
}
disposeBackends();
