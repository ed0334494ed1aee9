/**
 * The study page's engine, in a dedicated module Worker so the tab stays responsive and the wasm backend may
 * block in Atomics.wait for its own thread pool (Web Workers over shared memory when the page is cross-origin
 * isolated). Receives ./protocol.ts messages; trains with ./lib/study.ts; reads back with `await t.data()` only.
 * Invariant: one study at a time; a new start disposes the previous models.
 */

import { collateBatch } from '../src/data/collate.js';
import { ArrayDataset } from '../src/data/dataset.js';
import { createModel, decodeWeights, encodeSafetensors, matchStateDict, type ResNetV2 } from '../src/models/index.js';
import { isSoftwareAdapter } from '../src/tensor/backends/gpujs/software-adapter.js';
import {
  chooseDefault,
  getBackend,
  type ProbeResult,
  probeBackends,
  useBackend,
} from '../src/tensor/backends/registry.js';
import { fromTyped, noGrad, softmax, tidy } from '../src/tensor/index.js';
import type { StudyConfig } from './lib/config.js';
import { estimateSeconds, probeStep } from './lib/estimate.js';
import { groupNormStats, stemFilters } from './lib/insight.js';
import { unpackMnist } from './lib/mnist-pack.js';
import { DOWN_CLASSES, evaluate, type RunName, runStudy, type StudyEvent, UP_CLASSES } from './lib/study.js';
import type { FromWorker, ToWorker } from './protocol.js';

const post = (m: FromWorker, transfer: Transferable[] = []) => postMessage(m, { transfer });
const models = new Map<RunName | 'loaded', ResNetV2>();
let classesOf: Record<string, string[]> = { upstream: UP_CLASSES, transfer: DOWN_CLASSES, scratch: DOWN_CLASSES };
let stopping = false;
let running = false;
let dataPromise: Promise<ReturnType<typeof unpackMnist>> | null = null;

function mnist() {
  dataPromise ??= fetch(new URL('./mnist-subset.bin', import.meta.url)).then(async (r) => {
    if (!r.ok) throw new Error(`mnist-subset.bin: HTTP ${r.status}`);
    return unpackMnist(new Uint8Array(await r.arrayBuffer()));
  });
  return dataPromise;
}

/**
 * WebGPU's row of the probe without loading gpu.js (its chunk is fetched only when gpujs-webgpu is chosen): the
 * adapter from navigator.gpu, classified by its info. The backend itself is built (and checked) at start.
 */
async function webgpuRow(): Promise<ProbeResult> {
  const name = 'gpujs-webgpu';
  type Adapter = { info?: Record<string, unknown>; isFallbackAdapter?: boolean; limits: Record<string, number> };
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<Adapter | null> } }).gpu;
  if (!gpu) return { name, available: false, reason: 'navigator.gpu is missing (WebGPU is not enabled here)' };
  const a = await gpu.requestAdapter();
  if (!a) return { name, available: false, reason: 'navigator.gpu gave no adapter' };
  const text = (k: string) => String(a.info?.[k] ?? '');
  const base = {
    vendor: text('vendor'),
    architecture: text('architecture'),
    device: text('device'),
    description: text('description'),
    isFallbackAdapter: Boolean(a.info?.isFallbackAdapter ?? a.isFallbackAdapter),
  };
  const deviceType = isSoftwareAdapter(base) ? ('cpu' as const) : ('gpu' as const);
  const limits = {
    maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize!,
    maxBufferSize: a.limits.maxBufferSize!,
  };
  const reason = `ok (${base.vendor} ${base.architecture}, device type ${deviceType}; gpu.js loads when chosen)`;
  return { name, available: true, reason, adapter: { ...base, deviceType, limits } };
}

async function probe(): Promise<void> {
  const rows = [await webgpuRow(), ...(await probeBackends(['wasm', 'reference']))];
  // the registry's rule, as in Node: webgpu only on a hardware adapter, else wasm, else reference
  const preferred = chooseDefault(rows);
  const gpu = rows.find((r) => r.name === 'gpujs-webgpu');
  const note =
    gpu?.available && gpu.adapter?.deviceType !== 'gpu'
      ? `the WebGPU adapter is a software one (${gpu.adapter?.architecture || gpu.adapter?.vendor || 'fallback'}): ${preferred} is preselected as faster`
      : '';
  const wasm = rows.find((r) => r.name === 'wasm')?.available
    ? ((await getBackend('wasm')) as { threads?: number })
    : null;
  post({ type: 'backends', rows, preferred, note, threads: `wasm threads: ${wasm?.threads ?? 0}` });
}

/** Time one training step per backend (see ./lib/estimate.ts) and report the study's estimated duration. */
async function estimate(backends: string[], config: StudyConfig): Promise<void> {
  const data = await mnist();
  for (const backend of backends) {
    await useBackend(backend);
    const { firstMs, stepMs } = await probeStep(config, data);
    post({ type: 'estimate', backend, firstMs, stepMs, seconds: estimateSeconds(config, stepMs) });
  }
}

function latest(): [string, ResNetV2] {
  for (const k of ['loaded', 'transfer', 'scratch', 'upstream'] as const) {
    const m = models.get(k);
    if (m) return [k, m];
  }
  throw new Error('no model yet: train one or load a weights file first');
}

/** Stem filters and GroupNorm statistics of `m` on `n` held-out images (n = the eval batch: no new kernel shapes). */
async function insight(run: RunName, m: ResNetV2, data: ReturnType<typeof unpackMnist>, n: number): Promise<void> {
  post({ type: 'stem', title: `${run} model`, filters: await stemFilters(m) });
  const split = run === 'upstream' ? 'upTest' : 'downTest';
  const ds = new ArrayDataset({
    pixels: data[split].pixels,
    labels: Int32Array.from(data[split].labels),
    height: 28,
    width: 28,
    channels: 1,
    classes: [...UP_CLASSES],
    toRgb: true,
    source: split,
  });
  const idx = Array.from({ length: n }, (_, i) => i);
  const b = collateBatch(ds, { kind: 'bit-eval', crop: 32 }, idx, 0, 0, 0);
  post({ type: 'gn', title: `${run} model, ${n} held-out images`, rows: await groupNormStats(m, b.images, b.shape) });
}

async function start(backend: string, config: Parameters<typeof runStudy>[0]): Promise<void> {
  if (running) throw new Error('a study is already running');
  running = true;
  stopping = false;
  const t0 = performance.now();
  try {
    const b = await useBackend(backend);
    const threads = (b as { threads?: number }).threads;
    post({ type: 'started', backend, info: threads ? `${threads} thread(s)` : '' });
    for (const m of models.values()) m.dispose();
    models.clear();
    const data = await mnist();
    await runStudy(
      config,
      data,
      (e: StudyEvent) => {
        if (e.kind === 'model') models.set(e.run, e.model);
        else post({ type: 'event', e });
      },
      () => stopping,
      async (run, m) => {
        if (run !== 'scratch') await insight(run, m, data, Math.min(8, config.evalImages));
      },
    );
    post({ type: 'done', stopped: stopping, seconds: (performance.now() - t0) / 1000 });
  } finally {
    running = false;
  }
}

async function loadWeights(name: string, bytes: Uint8Array): Promise<void> {
  const w = decodeWeights(bytes, name);
  const head = w.weights.get('head.fc.weight');
  const numClasses = head ? head.shape[0]! : 5;
  const m = createModel('bit-tiny', { numClasses, seed: 0 });
  const expected = new Map([...m.stateDict()].map(([k, t]) => [k, [...t.shape]]));
  const r = matchStateDict(expected, w.weights, { numClasses });
  if (r.missing.length || r.shapeMismatch.length) {
    m.dispose();
    const mm = r.shapeMismatch.map((s) => `${s.name} [${s.expected}] vs file [${s.got}]`);
    throw new Error(
      `${name}: not a bit-tiny checkpoint: missing [${r.missing.slice(0, 5).join(', ')}${r.missing.length > 5 ? ', ...' : ''}]` +
        (mm.length ? `, shape mismatch ${mm.slice(0, 3).join('; ')}` : ''),
    );
  }
  m.loadStateDict(
    new Map(
      [...r.weights].map(([k, a]) => [k, { shape: a.shape, data: Float32Array.from(a.data as ArrayLike<number>) }]),
    ),
    { strict: false },
  );
  models.get('loaded')?.dispose();
  models.set('loaded', m);
  const meta = w.metadata.classes?.split(',');
  const classes = meta?.length === numClasses ? meta : Array.from({ length: numClasses }, (_, i) => `class ${i}`);
  classesOf = { ...classesOf, loaded: classes };
  const data = await mnist();
  const lines = [
    `${name}: ${w.format}, ${w.naming} names, ${r.weights.size} tensors, ${numClasses} classes (${classes.join(' ')})`,
  ];
  if (numClasses === 5) {
    const split = meta?.[0] === '0' ? 'upTest' : 'downTest';
    const ds = new ArrayDataset({
      pixels: data[split].pixels,
      labels: Int32Array.from(data[split].labels),
      height: 28,
      width: 28,
      channels: 1,
      classes,
      toRgb: true,
      source: split,
    });
    lines.push(
      `held-out Top-1 on 200 MNIST ${split === 'upTest' ? '0-4' : '5-9'} images: ${(await evaluate(m, ds, 200, 32)).toFixed(1)}%`,
    );
  }
  post({ type: 'weights', lines, classes });
}

async function infer(rgba: Uint8ClampedArray, width: number, height: number): Promise<void> {
  const [name, m] = latest();
  const rgb = new Uint8Array(width * height);
  let sum = 0;
  for (let i = 0; i < width * height; i++) {
    rgb[i] = Math.round((rgba[i * 4]! + rgba[i * 4 + 1]! + rgba[i * 4 + 2]!) / 3);
    sum += rgb[i]!;
  }
  // MNIST digits are light on dark: a light background is inverted (reported to the page)
  const inverted = sum / (width * height) > 127;
  if (inverted) for (let i = 0; i < rgb.length; i++) rgb[i] = 255 - rgb[i]!;
  const ds = new ArrayDataset({
    pixels: rgb,
    labels: new Int32Array([0]),
    height,
    width,
    channels: 1,
    classes: ['?'],
    toRgb: true,
    source: 'dropped image',
  });
  const b = collateBatch(ds, { kind: 'bit-eval', crop: 32 }, [0], 0, 0, 0);
  m.eval();
  const p = noGrad(() => tidy(() => softmax(m.forward(fromTyped(b.images, b.shape)), -1)));
  m.train();
  const probs = Array.from(await p.data());
  p.dispose();
  post({ type: 'prediction', probs, classes: classesOf[name] ?? [], model: name, inverted });
}

async function checkpoint(): Promise<void> {
  const [name, m] = latest();
  const state = await m.stateDictData();
  const arrays = [...state].map(([k, v]) => ({
    name: k,
    shape: v.shape,
    dtype: 'float32' as const,
    data: Float32Array.from(v.data),
  }));
  const bytes = encodeSafetensors(arrays, { model: 'bit-tiny', run: name, classes: (classesOf[name] ?? []).join(',') });
  post({ type: 'checkpoint', bytes, name: `bit-tiny-${name}.safetensors` }, [bytes.buffer]);
}

/** Messages run one at a time in arrival order (a start never overlaps an estimate); 'stop' acts at once. */
let queue: Promise<void> = Promise.resolve();

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  if (m.type === 'stop') {
    stopping = true;
    return;
  }
  const run = async () => {
    if (m.type === 'probe') await probe();
    else if (m.type === 'estimate') await estimate(m.backends, m.config);
    else if (m.type === 'start') await start(m.backend, m.config);
    else if (m.type === 'load-weights') await loadWeights(m.name, m.bytes);
    else if (m.type === 'infer') await infer(m.rgba, m.width, m.height);
    else if (m.type === 'checkpoint') await checkpoint();
  };
  queue = queue
    .then(run)
    .catch((e: unknown) =>
      post({ type: 'error', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }),
    );
};
