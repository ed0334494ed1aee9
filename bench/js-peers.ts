/**
 * The JavaScript engines a user would pick instead of bit-ts, timed in the same run as the PyTorch step rows
 * (`npm run bench -- --backends wasm --only step --rounds 7 --peers js [--peer-rounds 7] [--peer-reps 5]`: the peers
 * table follows the step table, --save writes both), or alone (`npx tsx bench/js-peers.ts [--rounds 7] [--reps 5]
 * [--save FILE]`):
 * - BiT-R50x1 inference, batch 8 x 128 px, same weights: bit-ts wasm (default threads) against onnxruntime-web
 *   (wasm execution provider, the same thread count; the ONNX graph exported by bench/onnx_export.py with Debian's
 *   python3-torch 1.13 at /usr/bin/python3, conv weights standardized once) and TensorFlow.js with
 *   @tensorflow/tfjs-backend-wasm (the network in tfjs ops, bench/tfjs-resnet.ts; one thread in Node, so it is
 *   compared with bit-ts on one thread, `ours-infer-1t`).
 * - The bit-tiny training step, batch 32 x 32 px (forward, cross-entropy, backward, SGD momentum 0.9): bit-ts
 *   against @tensorflow/tfjs-core on its cpu backend (tfjs's backend with every conv gradient), for the record.
 * Every side runs in its own fresh process; rounds alternate the sides. A row: median over rounds of each side's
 * median of `reps` steady calls (after one warm-up), its min-max, and ours / theirs as a speed ratio (> 1: bit-ts
 * faster; paired by round). The tfjs cpu training step (tens of seconds) runs in the first round only, one timed
 * step, no warm-up (tfjs cpu compiles nothing). The inference peers' logits must match bit-ts's on the same input within PEER_LOGIT_TOL or the bench
 * throws (same function, or the speed comparison means nothing).
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { createModel } from '../src/models/index.js';
import { useBackend } from '../src/tensor/backends/registry.js';
import * as F from '../src/tensor/index.js';
import { makeTrainStep, timeFirstAndSteady } from './step.js';
import type { TfjsArch } from './tfjs-resnet.js';

const root = path.resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? args[i + 1]! : d;
};
const THREADS = os.availableParallelism();
const INFER = { model: 'BiT-R50x1', batch: 8, px: 128, units: [3, 4, 6, 3], base: 64, groups: 32 };
const TRAIN = { model: 'bit-tiny', batch: 32, px: 32, units: [1, 1, 1, 1], base: 16, groups: 8 };
const CLASSES = 10;

interface ChildOut {
  median: number;
  min: number;
  max: number;
  first: number;
  logits?: number[];
  info?: string;
}

/** Deterministic input, NCHW. */
function input(n: number, px: number): Float32Array {
  const v = new Float32Array(n * 3 * px * px);
  for (let i = 0; i < v.length; i++) v[i] = Math.sin(i * 0.7311) * 1.5;
  return v;
}

const nchwToNhwc = (x: Float32Array, n: number, c: number, h: number, w: number) => {
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let p = 0; p < h * w; p++) out[(b * h * w + p) * c + ch] = x[(b * c + ch) * h * w + p]!;
  return out;
};

async function timeCalls(call: () => Promise<Float32Array | undefined>, reps: number): Promise<ChildOut> {
  const { result, ...r } = await timeFirstAndSteady(call, reps);
  return { ...r, logits: result ? Array.from(result.slice(0, 2 * CLASSES)) : undefined };
}

/** Parameters of a fresh bit-ts model (seed 0) as flat values + shapes. */
async function modelParams(model: string) {
  const net = createModel(model, { numClasses: CLASSES, seed: 0 });
  const named = net.namedParameters();
  const values: Float32Array[] = [];
  for (const [, p] of named) values.push(Float32Array.from(await p.data()));
  const out = { names: named.map(([n]) => n), shapes: named.map(([, p]) => [...p.shape]), values };
  net.dispose();
  return out;
}

async function loadTfjs(backend: 'wasm' | 'cpu') {
  const tf = await import('@tensorflow/tfjs-core');
  if (backend === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(`${path.join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist')}/`);
    wasm.setThreadsCount(THREADS);
  } else {
    await import('@tensorflow/tfjs-backend-cpu');
    // tfjs-core's gradient functions are registered only by its ESM module dist/register_all_gradients.js, which
    // Node cannot load as is (directory imports); esbuild bundles it, and it registers into tfjs's global registry
    const { build } = await import('esbuild');
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'bit-ts-tfjs-')), 'grads.mjs');
    await build({
      entryPoints: [path.join(root, 'node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js')],
      bundle: true,
      format: 'esm',
      platform: 'node',
      outfile: file,
      logLevel: 'error',
    });
    await import(file);
  }
  await tf.setBackend(backend);
  await tf.ready();
  return tf;
}

async function child(side: string, dir: string, reps: number): Promise<ChildOut> {
  const arch = (c: typeof INFER): TfjsArch => ({ ...c, classes: CLASSES, wsEps: 1e-10 });
  if (side === 'ours-infer' || side === 'ours-infer-1t') {
    await useBackend('wasm', side === 'ours-infer-1t' ? { threads: 1 } : {});
    const net = createModel(INFER.model, { numClasses: CLASSES, seed: 0 }).eval();
    const x = F.fromTyped(input(INFER.batch, INFER.px), [INFER.batch, 3, INFER.px, INFER.px]);
    return timeCalls(async () => {
      const y = F.noGrad(() => F.tidy(() => net.forward(x)));
      const v = (await y.data()) as Float32Array;
      y.dispose();
      return v;
    }, reps);
  }
  if (side === 'ort-wasm') {
    const ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = THREADS;
    const session = await ort.InferenceSession.create(readFileSync(path.join(dir, 'model.onnx')), {
      executionProviders: ['wasm'],
    });
    const x = new ort.Tensor('float32', input(INFER.batch, INFER.px), [INFER.batch, 3, INFER.px, INFER.px]);
    const r = await timeCalls(async () => (await session.run({ x })).logits!.data as Float32Array, reps);
    return { ...r, info: `onnxruntime-web ${ort.env.versions.web ?? '?'} wasm EP, numThreads ${THREADS}` };
  }
  const { tfjsResNetV2 } = await import('./tfjs-resnet.js');
  if (side === 'tfjs-wasm') {
    const tf = await loadTfjs('wasm');
    const p = await modelParams(INFER.model);
    const net = tfjsResNetV2(tf, arch(INFER), p, 'inference');
    const xs = nchwToNhwc(input(INFER.batch, INFER.px), INFER.batch, 3, INFER.px, INFER.px);
    const x = tf.tensor4d(xs, [INFER.batch, INFER.px, INFER.px, 3]);
    const r = await timeCalls(async () => {
      const y = tf.tidy(() => net.forward(x));
      const v = (await y.data()) as Float32Array;
      y.dispose();
      return v;
    }, reps);
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    return { ...r, info: `tfjs-backend-wasm ${wasm.version_wasm}, threads ${wasm.getThreadsCount()}` };
  }
  if (side === 'ours-train') {
    await useBackend('wasm');
    const { step } = makeTrainStep(TRAIN.model, TRAIN.batch, TRAIN.px);
    return timeCalls(async () => {
      await step();
      return undefined;
    }, reps);
  }
  if (side === 'tfjs-cpu-train') {
    const tf = await loadTfjs('cpu');
    const p = await modelParams(TRAIN.model);
    const net = tfjsResNetV2(tf, arch(TRAIN), p, 'training');
    const xs = nchwToNhwc(input(TRAIN.batch, TRAIN.px), TRAIN.batch, 3, TRAIN.px, TRAIN.px);
    const x = tf.tensor4d(xs, [TRAIN.batch, TRAIN.px, TRAIN.px, 3]);
    const labels = tf.oneHot(
      tf.tensor1d(
        Int32Array.from({ length: TRAIN.batch }, (_, i) => i % CLASSES),
        'int32',
      ),
      CLASSES,
    );
    const optimizer = tf.train.momentum(0.003, 0.9);
    const trainStep = async () => {
      const loss = optimizer.minimize(
        () => tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.logSoftmax(net.forward(x))), 1))) as F.Tensor & never,
        true,
        net.vars,
      );
      await loss!.data();
      loss!.dispose();
    };
    // a tfjs cpu step takes tens of seconds (no kernel compilation to warm up): one step, timed, is the figure
    const t = performance.now();
    await trainStep();
    const ms = performance.now() - t;
    const r = { median: ms, min: ms, max: ms, first: ms };
    return { ...r, info: `tfjs-core ${tf.version_core} cpu backend` };
  }
  throw new Error(`js-peers: unknown side ${side}`);
}

/** A row of the peers table: one side's median over rounds and, for a peer, bit-ts's speed against it. */
export interface PeerRow {
  side: string;
  median: number;
  min: number;
  max: number;
  /** Median over rounds of (their ms / our ms): > 1 means bit-ts is faster; null for bit-ts's own sides. */
  speedup: number | null;
  /** Max |logit difference| from bit-ts's logits on the same input (inference peers), else null. */
  logitDiff: number | null;
  info?: string;
}

/**
 * Largest |logit difference| accepted between bit-ts and an inference peer (same weights, same input; logits of
 * magnitude <= ~0.6). Float32 summation orders differ over 50 layers: measured 5.9e-5 (tfjs) and 6.9e-5 (ORT);
 * a different function (e.g. the Pad fused into the MaxPool, see bench/onnx_export.py) gave 1.8e-2.
 */
export const PEER_LOGIT_TOL = 5e-4;

/**
 * Run every side in fresh processes, alternating over `rounds` rounds (the tfjs cpu training step, seconds to
 * minutes each, only in the first round with one timed step), print the table and return it; throws when an
 * inference peer's logits differ from bit-ts's by more than PEER_LOGIT_TOL (then the peers compute another function
 * and the speed comparison is void).
 */
export async function runJsPeers(opts: { rounds: number; reps: number; log?: (line: string) => void }) {
  const log = opts.log ?? console.log;
  const { rounds, reps } = opts;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bit-ts-peers-'));
  const p = await modelParams(INFER.model);
  writeFileSync(path.join(dir, 'weights.f32'), Buffer.concat(p.values.map((v) => Buffer.from(v.buffer))));
  const meta = { ...INFER, classes: CLASSES, wsEps: 1e-10, names: p.names, shapes: p.shapes };
  writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(meta));
  const py = process.env.BIT_ONNX_PYTHON ?? '/usr/bin/python3';
  execFileSync(py, ['-W', 'ignore', path.join(root, 'bench/onnx_export.py'), dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // tfjs-backend-wasm runs one thread in Node (its threaded build is for browsers: tfjs issue 3830), so bit-ts on one
  // thread is timed too, for the same-thread-count ratio
  const sides = ['ours-infer', 'ort-wasm', 'ours-infer-1t', 'tfjs-wasm', 'ours-train', 'tfjs-cpu-train'];
  const runs: { round: number; side: string; load: number; out: ChildOut }[] = [];
  const tsx = path.join(root, 'node_modules/.bin/tsx');
  for (let r = 0; r < rounds; r++) {
    for (const side of sides) {
      if (side === 'tfjs-cpu-train' && r > 0) continue;
      const n = side === 'tfjs-cpu-train' ? 1 : reps;
      const res = execFileSync(tsx, [path.join(root, 'bench/js-peers.ts'), '--child', side, dir, String(n)], {
        cwd: root,
        encoding: 'utf8',
      });
      const out = JSON.parse(res.trim().split('\n').pop()!) as ChildOut;
      runs.push({ round: r, side, load: os.loadavg()[0]!, out });
      log(`round ${r + 1} ${side}: ${out.median.toFixed(1)} ms${out.info ? ` (${out.info})` : ''}`);
    }
  }
  const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  const of = (side: string) => runs.filter((x) => x.side === side);
  const ours = (s: string) => (s.endsWith('train') ? 'ours-train' : s === 'tfjs-wasm' ? 'ours-infer-1t' : 'ours-infer');
  const loads = runs.map((x) => x.load);
  log(`\nload ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}, ${THREADS} threads each`);
  log('side             median ms  (min-max over rounds)  ours/theirs speed  max |logit diff| vs ours');
  const rows: PeerRow[] = [];
  const bad: string[] = [];
  for (const side of sides) {
    const mine = of(side);
    const ms = mine.map((x) => x.out.median);
    const peer = !side.startsWith('ours');
    const speedup = peer
      ? med(mine.map((x) => x.out.median / of(ours(side)).find((o) => o.round === x.round)!.out.median))
      : null;
    const ref = of(ours(side))[0]!.out.logits;
    const lg = mine[0]!.out.logits;
    const logitDiff = ref && lg && peer ? Math.max(...lg.map((v, i) => Math.abs(v - ref[i]!))) : null;
    if (logitDiff !== null && !(logitDiff <= PEER_LOGIT_TOL)) bad.push(`${side}: ${logitDiff.toExponential(2)}`);
    const row: PeerRow = { side, median: med(ms), min: Math.min(...ms), max: Math.max(...ms), speedup, logitDiff };
    if (mine[0]!.out.info) row.info = mine[0]!.out.info;
    rows.push(row);
    const spread = `(${row.min.toFixed(1)}-${row.max.toFixed(1)})`;
    log(
      `${side.padEnd(16)} ${row.median.toFixed(1).padStart(9)}  ${spread.padEnd(22)} ${
        speedup === null ? '-' : `${speedup.toFixed(2)}x`
      }`.padEnd(78) + (logitDiff === null ? '' : logitDiff.toExponential(1)),
    );
  }
  if (bad.length > 0) {
    throw new Error(
      `js-peers: logits differ from bit-ts's by more than ${PEER_LOGIT_TOL} (${bad.join(', ')}): the peers do not compute the same function`,
    );
  }
  const info = { cpu: os.cpus()[0]?.model, cores: os.cpus().length, threads: THREADS, rounds, reps, INFER, TRAIN };
  return { ...info, rows, runs };
}

if (args[0] === '--child') {
  const out = await child(args[1]!, args[2]!, Number(args[3]));
  console.log(JSON.stringify(out));
  process.exit(0);
} else if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await runJsPeers({ rounds: Number(opt('rounds', '7')), reps: Number(opt('reps', '5')) });
  const save = opt('save', '');
  if (save) writeFileSync(save, `${JSON.stringify(r, null, 1)}\n`);
}
