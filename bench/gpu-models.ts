/**
 * Every BiT model on gpujs-webgpu vs an oracle backend (issue 20, point 2), outside CI (minutes on SwiftShader): a
 * forward at batch 1 x `px` for each model of `bit-ts models`' BiT list, and optionally (--train) one SGD training
 * step of BiT-R50x3 at batch 2 x `px`, each compared with the oracle from the same seed (closeness in units of
 * TOL.training; <= 0 passes). The oracle is wasm (default) or, with `--oracle reference`, the float32 reference
 * backend, which has no 4 GiB heap and so holds BiT-R101x3 and BiT-R152x4 (3.75 GB of weights).
 *
 * Per row: wall times (webgpu forward, its weight-standardization share with --split: every StdConv2d weight
 * standardized alone, timed the same way), the device memory the webgpu forward needed (peak of live Dawn buffers:
 * test/tensor/backends/gpujs/dawn-memory.ts), the weights' bytes, and the process's peak RSS since start (SwiftShader's device memory is
 * host memory; run one model per process for a per-model peak: `--save` appends to an existing file).
 *
 * Usage: tsx bench/gpu-models.ts [--models BiT-R50x1,...] [--px 32] [--oracle wasm|reference] [--split]
 *        [--train] [--head 21843] [--save FILE]
 */

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { weightStandardize } from '../src/autograd/ops/index.js';
import { createModel } from '../src/models/index.js';
import { crossEntropy, SGD, StdConv2d } from '../src/nn/index.js';
import type { Backend } from '../src/tensor/backend.js';
import { disposeBackends, getBackend } from '../src/tensor/backends/registry.js';
import * as F from '../src/tensor/index.js';
import { installDawnMemory } from '../test/tensor/backends/gpujs/dawn-memory.js';
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
const oracleName = opt('oracle', 'wasm');
if (oracleName !== 'wasm' && oracleName !== 'reference') throw new Error(`--oracle ${oracleName}: wasm or reference`);
const split = args.includes('--split');

const rss = () => Math.round(process.resourceUsage().maxRSS / 1024);
const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

interface Run {
  y: number[];
  ms: number;
  /** Milliseconds to standardize every StdConv2d weight alone (--split), else undefined. */
  wsMs?: number;
  weightBytes: number;
}

/** Standardize every StdConv2d weight of `net` (nothing else), wait for the device, return the wall ms. */
async function standardizeAll(net: ReturnType<typeof createModel>): Promise<number> {
  const convs = net.namedModules().flatMap(([, m]) => (m instanceof StdConv2d ? [m] : []));
  const t0 = performance.now();
  let last: F.Tensor | null = null;
  F.noGrad(() => {
    for (const m of convs) {
      last?.dispose();
      last = weightStandardize(m.weight, m.eps);
    }
  });
  if (last) {
    await (last as F.Tensor).data();
    (last as F.Tensor).dispose();
  }
  return performance.now() - t0;
}

async function forward(b: Backend, model: string, withSplit: boolean): Promise<Run> {
  F.setDefaultBackend(b);
  const net = createModel(model, { numClasses: classes, seed: 3, backend: b });
  net.eval();
  const weightBytes = net.numParameters() * 4;
  const x = F.randn([1, 3, px, px], { backend: b, rng: new F.Rng(9) });
  const t0 = performance.now();
  const y = F.noGrad(() => F.tidy(() => net.forward(x)));
  const v = Array.from(await y.data());
  const ms = performance.now() - t0;
  y.dispose();
  x.dispose();
  const wsMs = withSplit ? await standardizeAll(net) : undefined;
  net.dispose();
  return { y: v, ms, wsMs, weightBytes };
}

async function trainStep(b: Backend, model: string): Promise<Run> {
  F.setDefaultBackend(b);
  const net = createModel(model, { numClasses: classes, seed: 3, backend: b });
  const weightBytes = net.numParameters() * 4;
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
  return { y: [l, ...w], ms, weightBytes };
}

const rows: Record<string, unknown>[] =
  save && existsSync(save) ? (JSON.parse(readFileSync(save, 'utf8')) as { rows: Record<string, unknown>[] }).rows : [];
const dawn = await installDawnMemory();
const gpu = await getBackend('gpujs-webgpu');
const oracle = await getBackend(oracleName);
type Case = [string, string, (b: Backend, model: string, withSplit: boolean) => Promise<Run>];
const cases: Case[] = models.map((m) => [m, 'forward', forward]);
if (args.includes('--train')) cases.push(['BiT-R50x3', 'train step', trainStep]);
for (const [model, what, run] of cases) {
  try {
    dawn.resetPeak();
    const base = dawn.live();
    const g = await run(gpu, model, split);
    const devicePeak = dawn.peak() - base;
    const o = await run(oracle, model, false);
    const c = closeness(g.y, o.y, TOL.training);
    const row = {
      model,
      what,
      px,
      classes,
      oracle: oracleName,
      webgpu_ms: Math.round(g.ms),
      ...(g.wsMs !== undefined ? { webgpu_ws_only_ms: Math.round(g.wsMs) } : {}),
      [`${oracleName}_ms`]: Math.round(o.ms),
      closeness: c,
      max_abs_diff: Math.max(...g.y.map((v, i) => Math.abs(v - o.y[i]!))),
      weights_mb: mb(g.weightBytes),
      webgpu_device_peak_mb: mb(devicePeak),
      peak_rss_mb: rss(),
      load: loadavg()[0],
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  } catch (err) {
    rows.push({ model, what, px, oracle: oracleName, error: String(err), peak_rss_mb: rss() });
    console.log(JSON.stringify(rows.at(-1)));
  }
}
if (save)
  writeFileSync(
    save,
    `${JSON.stringify({ date: new Date(), cpu: cpus()[0]?.model, cores: cpus().length, rows }, null, 2)}\n`,
  );
dawn.uninstall();
disposeBackends();
