/**
 * Soak test (not CI): one long training run on the wasm backend, sampling the process RSS, the V8 heap and
 * the engine's live buffers at a fixed interval, to show that memory is flat after warm-up (no leak per step,
 * per evaluation or per checkpoint). The run trains bit-tiny at 32 px on the shared CIFAR-10 tar (embedded MNIST
 * when the tar is absent) with a loader worker, an evaluation and a checkpoint every epoch (short epochs), so
 * every path of a real run repeats many times.
 *
 *   npx tsx bench/soak.ts [--minutes 30] [--interval 60] [--out FILE.json]
 *
 * Prints one JSON line per sample and a summary: after the warm-up (the first 20% of the run, at least two
 * samples) the RSS slope (MB per minute, least squares) and range, the live-buffer range, steps and epochs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { memory } from '../src/index.js';
import { releaseBackends, setupBackend } from '../src/train/backend-setup.js';
import { loadConfig } from '../src/train/config.js';
import { train } from '../src/train/trainer.js';

const argv = process.argv.slice(2);
const arg = (name: string, def: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : def;
};
const minutes = arg('minutes', 30);
const intervalS = arg('interval', 60);
const outIdx = argv.indexOf('--out');
const outFile = outIdx >= 0 ? argv[outIdx + 1] : null;

const here = path.dirname(fileURLToPath(import.meta.url));
const cifar = path.resolve(here, '..', '..', 'shared', 'data', 'cifar10', 'train.tar');
const haveCifar = fs.existsSync(cifar);
const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bit-ts-soak-'));

const cfg = loadConfig(null, {
  ...(haveCifar ? { dataset: 'imagefolder', data_dir: cifar } : { dataset: 'mnist', mnist_digits: [0, 1, 2, 3, 4] }),
  num_classes: haveCifar ? 10 : 5,
  model: 'bit-tiny',
  model_base_width: 8,
  model_gn_groups: 4,
  image_resize: 32,
  augment: 'bit',
  batch_size: 32,
  train_limit: 2000,
  val_split: 0.1,
  val_limit: 256,
  epoch_size: 100_000,
  scheduler: 'constant',
  warmup_epochs: 0,
  lr: 0.02,
  num_parallel_workers: 1,
  threads: 1,
  keep_checkpoint_max: 2,
  progress: 'none',
  plots: false,
  backend: 'wasm',
  ckpt_save_dir: runDir,
});
await setupBackend(cfg.backend, cfg.threads);

interface Sample {
  t_min: number;
  step: number;
  rss_mb: number;
  heap_mb: number;
  live_buffers: number;
}
const samples: Sample[] = [];
let step = 0;
const t0 = performance.now();
const sample = () => {
  const s: Sample = {
    t_min: +((performance.now() - t0) / 60_000).toFixed(2),
    step,
    rss_mb: +(process.memoryUsage().rss / 2 ** 20).toFixed(1),
    heap_mb: +(process.memoryUsage().heapUsed / 2 ** 20).toFixed(1),
    live_buffers: memory().liveBuffers,
  };
  samples.push(s);
  console.log(JSON.stringify(s));
};
sample();
const timer = setInterval(sample, intervalS * 1000);
const r = await train(cfg, {
  log: () => {},
  shouldStop: (s) => {
    step = s;
    const stop = performance.now() - t0 >= minutes * 60_000;
    if (stop) sample(); // the last sample while the model, optimizer and loader are still alive
    return stop;
  },
});
clearInterval(timer);

const warm = samples.filter((s) => s.t_min >= Math.max(samples[1]?.t_min ?? 0, 0.2 * minutes));
const slope = (() => {
  const n = warm.length;
  if (n < 2) return Number.NaN;
  const mx = warm.reduce((a, s) => a + s.t_min, 0) / n;
  const my = warm.reduce((a, s) => a + s.rss_mb, 0) / n;
  let num = 0;
  let den = 0;
  for (const s of warm) {
    num += (s.t_min - mx) * (s.rss_mb - my);
    den += (s.t_min - mx) ** 2;
  }
  return num / den;
})();
const range = (xs: number[]) => (xs.length ? [Math.min(...xs), Math.max(...xs)] : []);
const summary = {
  cpu: os.cpus()[0]?.model,
  cores: os.cpus().length,
  node: process.version,
  data: haveCifar ? cifar : 'embedded MNIST',
  minutes_requested: minutes,
  minutes_run: samples.at(-1)?.t_min,
  steps: r.steps,
  status: r.status,
  samples_after_warmup: warm.length,
  rss_mb_range_after_warmup: range(warm.map((s) => s.rss_mb)),
  rss_mb_per_min_after_warmup: +slope.toFixed(3),
  heap_mb_range_after_warmup: range(warm.map((s) => s.heap_mb)),
  live_buffers_range_after_warmup: range(warm.map((s) => s.live_buffers)),
  samples,
};
console.log(JSON.stringify({ ...summary, samples: undefined }, null, 1));
if (outFile) fs.writeFileSync(outFile, `${JSON.stringify(summary, null, 1)}\n`);
fs.rmSync(runDir, { recursive: true, force: true });
releaseBackends();
