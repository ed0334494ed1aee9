/**
 * A/B of gpujs-webgpu's launch issue order (GpujsOptions.issueOrder, env BIT_GPU_ISSUE; issue 20): 'program' (the
 * default: launches reach the device in call order, one standardized kernel live at a time in inference) against
 * 'dataflow' (each op as soon as its inputs are ready). bit-tiny training steps at 2 x 32 px with SGD momentum, in one
 * process, alternating which order runs first per round: each run takes a fresh backend, a warm-up step (kernel
 * builds), then `steps` steps, each timed from an idle device to an idle device (every parameter read back, so both
 * orders are measured to completion). Prints per-step times, each round's ratio of mean step times and the median
 * ratio program / dataflow; losses must be identical. A first, discarded run warms the process up.
 *
 * Usage: tsx bench/gpu-issue-order.ts [rounds=4] [steps=4]   (needs a WebGPU adapter; SwiftShader is fine)
 */

import { createModel } from '../src/models/index.js';
import { crossEntropy, SGD } from '../src/nn/index.js';
import { createGpujsBackend, type GpujsOptions } from '../src/tensor/backends/gpujs/index.js';
import { fromTyped, Rng, setDefaultBackend, tidy } from '../src/tensor/index.js';

const rounds = Number(process.argv[2] ?? 4);
const steps = Number(process.argv[3] ?? 4);

async function run(order: NonNullable<GpujsOptions['issueOrder']>) {
  const b = await createGpujsBackend('webgpu', { issueOrder: order });
  setDefaultBackend(b);
  const net = createModel('bit-tiny', { numClasses: 10, seed: 0, backend: b });
  const params = net.parameters();
  const opt = new SGD(params, { lr: 0.003, momentum: 0.9 });
  const rng = new Rng(1);
  const step = (s: number) => {
    const images = new Float32Array(2 * 3 * 32 * 32);
    rng.fillNormal(images);
    return tidy(() => {
      opt.zeroGrad();
      const l = crossEntropy(net.forward(fromTyped(images, [2, 3, 32, 32])), [s % 10, (s + 1) % 10]);
      l.backward();
      opt.step();
      return l.detach();
    });
  };
  const idle = () => Promise.all(params.map((p) => p.data()));
  const warm = step(0);
  await warm.data();
  warm.dispose();
  await idle();
  const per: number[] = [];
  let last = 0;
  for (let s = 1; s <= steps; s++) {
    const t0 = performance.now();
    const l = step(s);
    last = (await l.data())[0]!;
    l.dispose();
    await idle();
    per.push(performance.now() - t0);
  }
  opt.dispose();
  net.dispose();
  b.dispose();
  console.log(`${order}: steps ${per.map((t) => t.toFixed(0)).join(' ')} ms; loss ${last}`);
  return { ms: per.reduce((a, t) => a + t, 0) / per.length, last };
}

// The process's first run is slower whichever order it uses (JIT, allocator): one discarded run first.
await run('dataflow');
const ratios: number[] = [];
for (let r = 0; r < rounds; r++) {
  const first = r % 2 === 0 ? 'program' : 'dataflow';
  const a = await run(first);
  const b = await run(first === 'program' ? 'dataflow' : 'program');
  const [p, d] = first === 'program' ? [a, b] : [b, a];
  if (p.last !== d.last) throw new Error(`losses differ: program ${p.last}, dataflow ${d.last}`);
  ratios.push(p.ms / d.ms);
  console.log(`round ${r + 1}: program ${p.ms.toFixed(0)} ms, dataflow ${d.ms.toFixed(0)} ms per step`);
}
ratios.sort((x, y) => x - y);
console.log(
  `median program / dataflow step time: ${ratios[Math.floor(ratios.length / 2)]!.toFixed(2)} (${rounds} rounds)`,
);
