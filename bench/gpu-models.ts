/**
 * Every BiT model on gpujs-webgpu vs wasm (issue 20, point 2), outside CI (minutes on SwiftShader): a forward at
 * batch 1 x `px` for each model of `bit-ts models`' BiT list, and optionally (--train) one SGD training step of
 * BiT-R50x3 at batch 2 x `px`, each compared with wasm from the same seed (closeness in units of TOL.training;
 * <= 0 passes). Prints wall time and the process's peak RSS (SwiftShader's device memory is host memory).
 *
 * Usage: tsx bench/gpu-models.ts [--models BiT-R50x1,...] [--px 32] [--train] [--head 21843] [--save FILE]
 */

import { writeFileSync } from 'node:fs';
import { createModel } from '../src/models/index.js';
import { crossEntropy, SGD } from '../src/nn/index.js';
import type { Backend } from '../src/tensor/backend.js';
import { disposeBackends, getBackend } from '../src/tensor/backends/registry.js';
import * as F from '../src/tensor/index.js';
import { closeness, TOL } from '../test/tolerances.js';

const args = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? args[i + 1]! : d;
};
const models = opt('models', 'BiT-R50x1,BiT-R50x3,BiT-R101x1,BiT-R101x3,BiT-R152x2,BiT-R152x4')
  .split(',')
  .filter((m) => m !== '');
const px = Number(opt('px', '32'));
const classes = Number(opt('head', '10'));
const save = opt('save', '');

const rss = () => Math.round(process.resourceUsage().maxRSS / 1024);

async function forward(b: Backend, model: string): Promise<{ y: number[]; ms: number }> {
  F.setDefaultBackend(b);
  const net = createModel(model, { numClasses: classes, seed: 3, backend: b });
  net.eval();
  const x = F.randn([1, 3, px, px], { backend: b, rng: new F.Rng(9) });
  const t0 = performance.now();
  const y = F.noGrad(() => F.tidy(() => net.forward(x)));
  const v = Array.from(await y.data());
  const ms = performance.now() - t0;
  y.dispose();
  x.dispose();
  net.dispose();
  return { y: v, ms };
}

async function trainStep(b: Backend, model: string): Promise<{ y: number[]; ms: number }> {
  F.setDefaultBackend(b);
  const net = createModel(model, { numClasses: classes, seed: 3, backend: b });
  const opt = new SGD(net.parameters(), { lr: 0.01, momentum: 0.9 });
  const x = F.randn([2, 3, px, px], { backend: b, rng: new F.Rng(9) });
  const t0 = performance.now();
  const loss = F.tidy(() => {
    opt.zeroGrad();
    const l = crossEntropy(net.forward(x), Int32Array.from([1, 2]));
    l.backward();
    opt.step();
    return l.detach();
  });
  const l = (await loss.data())[0]!;
  // the updated head weight: the update reached every parameter through the backward
  const params = net.parameters();
  const w = Array.from(await params[params.length - 2]!.data()).slice(0, 4096);
  const ms = performance.now() - t0;
  loss.dispose();
  x.dispose();
  opt.dispose();
  net.dispose();
  return { y: [l, ...w], ms };
}

const rows: Record<string, unknown>[] = [];
const gpu = await getBackend('gpujs-webgpu');
const wasm = await getBackend('wasm');
const cases: [string, string, typeof forward][] = models.map((m) => [m, 'forward', forward]);
if (args.includes('--train')) cases.push(['BiT-R50x3', 'train step', trainStep]);
for (const [model, what, run] of cases) {
  try {
    const g = await run(gpu, model);
    const w = await run(wasm, model);
    const c = closeness(g.y, w.y, TOL.training);
    const row = { model, what, px, classes, webgpu_ms: Math.round(g.ms), wasm_ms: Math.round(w.ms), closeness: c };
    rows.push({ ...row, peak_rss_mb: rss() });
    console.log(JSON.stringify(rows.at(-1)));
  } catch (err) {
    rows.push({ model, what, error: String(err) });
    console.log(JSON.stringify(rows.at(-1)));
  }
}
if (save) writeFileSync(save, `${JSON.stringify({ date: new Date(), rows }, null, 2)}\n`);
disposeBackends();
