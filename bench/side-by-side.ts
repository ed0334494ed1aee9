/**
 * Side-by-side bench, wasm against PyTorch in the same run with alternating rounds (ours, PyTorch, ours, ...), so
 * that load changes on a shared machine hit both sides alike. Reports median and spread (min-max) per side:
 * - training steps (the training core's Trainer.trainStep: upload, forward, cross-entropy, backward, SGD momentum
 *   0.9; 10 classes) of bit-tiny and bit-small at 32 px, batch 32 and 128, and BiT-R50x1 at batch 32 x 32 px and batch 8 x 128 px; the PyTorch peer builds the
 *   identical architecture and the parameter counts must be equal (509,594 / 3,503,018 / 23,520,842) or the bench
 *   stops; first step (every kernel build / JIT warm-up) against the steady median; peak RSS of each process after
 *   the row (process-wide peaks, so rows run smallest first and each peak bounds that row's); a round's sample is
 *   the median of a block of steps after a settle pause, in ABBA order (see ROUND_MS below: the noise);
 * - SGEMM 512/1024 and every conv shape of bench/shapes.ts (R50x1 at 8 x 128 px and at 32 x 32 px) in each
 *   direction, GFLOP/s per side (a round = median of 3 calls).
 * ratio = PyTorch median / ours median (> 1: we are faster); paired = median (min-max) of the per-round ratios.
 * PyTorch runs as two peers, OpenMP's default short spin-wait (S) and OMP_WAIT_POLICY=PASSIVE (P), both timed in
 * every round; each row reports the faster of the two (PyTorch's best case on this machine at that load).
 */

import os from 'node:os';
import type { Backend, BackendBuffer, Conv2dGeom } from '../src/tensor/backend.js';
import { useBackend } from '../src/tensor/backends/registry.js';
import type { WasmBackend } from '../src/tensor/backends/wasm/index.js';
import { CONV_SHAPES, CONV_SHAPES_32, convFlops } from './shapes.js';
import { makeTrainStep } from './step.js';
import { TorchServer } from './torch-server.js';

export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}

export interface SideRow {
  bench: string;
  shape: string;
  ours: Stat;
  torch: Stat;
  /** The OpenMP wait policy of the PyTorch peer reported (the faster of spinning and passive for this row). */
  torchPolicy: string;
  /** PyTorch median / ours median. */
  ratio: number;
  /** Per-round ratios PyTorch / ours (each round pairs neighbouring measurements, so load drift cancels). */
  paired: Stat;
  oursFirstMs: number;
  torchFirstMs: number;
  gflops: { ours: number; torch: number } | null;
  /** Peak RSS of each process so far, bytes (steps only). */
  rss: { ours: number; torch: number } | null;
  params: number | null;
  load: string;
}

/** Two PyTorch peers, OpenMP default (spinning) and PASSIVE; OMP_WAIT_POLICY set by the caller means just that one. */
class Peers {
  readonly list: TorchServer[];
  constructor() {
    const env = process.env.OMP_WAIT_POLICY;
    this.list = env ? [new TorchServer(env)] : [new TorchServer(null), new TorchServer('PASSIVE')];
  }
  async setup(id: string, c: Record<string, unknown>) {
    const r = [];
    for (const p of this.list) r.push(await p.setup(id, c));
    return r;
  }
  async drop(id: string) {
    for (const p of this.list) await p.drop(id);
  }
  close() {
    for (const p of this.list) p.close();
  }
}

/** The peer with the lower median: its index and times. */
function faster(series: number[][]): number {
  let best = 0;
  for (let i = 1; i < series.length; i++) if (stat(series[i]!).median < stat(series[best]!).median) best = i;
  return best;
}

const policyName = (p: TorchServer) => p.policy ?? 'default';

export const stat = (xs: number[]): Stat => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, n: s.length };
};

const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

interface StepCfg {
  model: string;
  units: number[];
  base: number;
  groups: number;
  params: number;
  batch: number;
  px: number;
}

/**
 * Round structure of the step rows (the noise, issue 24). With one step per side per round, bit-tiny b32 swung
 * 2x between runs (PyTorch 26-65 ms, ours 33-45 ms in one run): a single ~30 ms step absorbs a whole GC pause, a
 * Python cycle collection or a scheduler time slice, and each side started right after the other had finished, while
 * the other's threads were still spinning (libgomp's default wait policy spins after a parallel region, our workers
 * spin up to 20000 loads before they park), so a side on 2 threads ran beside 1-2 spinning threads on 2 cores, and
 * the PASSIVE peer always ran right after the spinning one. Now: a settle pause before every timed side
 * (BIT_BENCH_SETTLE_MS, default 100 ms: every pool has parked), each round times `per` steps per side (~ROUND_MS of
 * work, BIT_BENCH_ROUND_MS, default 250 ms, at most 8) and keeps their median, and the order alternates ABBA
 * (BIT_BENCH_ABBA=0: ours first in every round). The old structure, for an A/B of the noise:
 * BIT_BENCH_SETTLE_MS=0 BIT_BENCH_ROUND_MS=0 BIT_BENCH_ABBA=0.
 */
const SETTLE_MS = Number(process.env.BIT_BENCH_SETTLE_MS ?? 100);
const ROUND_MS = Number(process.env.BIT_BENCH_ROUND_MS ?? 250);
const ABBA = process.env.BIT_BENCH_ABBA !== '0';
const settle = () => (SETTLE_MS > 0 ? new Promise<void>((res) => setTimeout(res, SETTLE_MS)) : Promise.resolve());

const TINY = { model: 'bit-tiny', units: [1, 1, 1, 1], base: 16, groups: 8, params: 509_594 };
const SMALL = { model: 'bit-small', units: [2, 2, 2, 2], base: 32, groups: 16, params: 3_503_018 };
const R50 = { model: 'BiT-R50x1', units: [3, 4, 6, 3], base: 64, groups: 32, params: 23_520_842 };

/** Step rows, smallest first (peak RSS is process-wide). */
export function stepCases(quick: boolean): StepCfg[] {
  const all: StepCfg[] = [
    { ...TINY, batch: 32, px: 32 },
    { ...TINY, batch: 128, px: 32 },
    { ...SMALL, batch: 32, px: 32 },
    { ...SMALL, batch: 128, px: 32 },
    { ...R50, batch: 32, px: 32 },
    { ...R50, batch: 8, px: 128 },
  ];
  return quick ? all.slice(0, 3) : all;
}

async function stepRow(torch: Peers, c: StepCfg, rounds: number): Promise<SideRow> {
  // the training core's step (bench/step.ts): upload, forward, cross-entropy, backward, NaN guard, SGD
  const ts = makeTrainStep(c.model, c.batch, c.px);
  const params = ts.params;
  if (params !== c.params) throw new Error(`${c.model}: ${params} parameters here, expected ${c.params}`);
  const step = async () => {
    const t = performance.now();
    await ts.step();
    return performance.now() - t;
  };
  const id = `${c.model}:${c.batch}x${c.px}`;
  // the same settle pause every timed sample gets: the previous row's PyTorch timing and drop (two peer processes
  // freeing ~1 GB, OpenMP threads winding down) otherwise overlap our first step (R50x1 rows: +150-200 ms measured)
  await settle();
  const oursFirstMs = await step();
  const tcs = await torch.setup(id, {
    kind: 'resnet_step',
    units: c.units,
    base: c.base,
    groups: c.groups,
    batch: c.batch,
    px: c.px,
    classes: 10,
  });
  for (const tc of tcs) {
    if (tc.params !== params)
      throw new Error(`${c.model}: PyTorch peer has ${tc.params} parameters, we have ${params}`);
  }
  const ours: number[] = [];
  const series: number[][] = torch.list.map(() => []);
  // steps per side per round: enough for ~ROUND_MS of work (a round's sample is their median, so one GC pause or a
  // descheduled step does not make the round), from a warm second step; the same count on every side
  const per = Math.max(1, Math.min(8, Math.round(ROUND_MS / (await step()))));
  const timeOurs = async () => {
    await settle();
    const ts: number[] = [];
    for (let i = 0; i < per; i++) ts.push(await step());
    ours.push(stat(ts).median);
  };
  const timeTorch = async () => {
    for (const [i, p] of torch.list.entries()) {
      await settle();
      series[i]!.push(stat(await p.time(id, per)).median);
    }
  };
  for (let r = 0; r < rounds; r++) {
    // ABBA: which side runs right after the other's pool went idle alternates
    if (r % 2 === 0 || !ABBA) {
      await timeOurs();
      await timeTorch();
    } else {
      await timeTorch();
      await timeOurs();
    }
  }
  const k = faster(series);
  const theirs = series[k]!;
  const tc = tcs[k]!;
  ts.dispose();
  await torch.drop(id);
  const o = stat(ours);
  const t = stat(theirs);
  return {
    bench: 'train_step',
    shape: `${c.model} ${c.batch}x${c.px}px`,
    ours: o,
    torch: t,
    torchPolicy: policyName(torch.list[k]!),
    ratio: t.median / o.median,
    paired: stat(theirs.map((v, i) => v / ours[i]!)),
    oursFirstMs,
    torchFirstMs: tc.firstMs,
    gflops: null,
    rss: { ours: process.resourceUsage().maxRSS * 1024, torch: await torch.list[k]!.peakRss() },
    params,
    load: load(),
  };
}

function fill(b: Backend, n: number): BackendBuffer {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = Math.sin(i * 12.9898) * 0.5;
  return b.upload(v, 'float32');
}

interface KernelCase {
  bench: string;
  shape: string;
  flops: number;
  torch: Record<string, unknown>;
  make(b: Backend): { call: () => BackendBuffer; bufs: BackendBuffer[] };
}

export function kernelCases(quick: boolean): KernelCase[] {
  const out: KernelCase[] = [];
  for (const n of quick ? [1024] : [512, 1024]) {
    out.push({
      bench: 'sgemm',
      shape: `${n}x${n}x${n}`,
      flops: 2 * n ** 3,
      torch: { kind: 'sgemm', n },
      make(b) {
        const a = fill(b, n * n);
        const c = fill(b, n * n);
        const g = { batch: 1, m: n, k: n, n, transA: false, transB: false };
        return { call: () => b.matmul(a, c, g), bufs: [a, c] };
      },
    });
  }
  const convs = quick
    ? [...CONV_SHAPES.slice(0, 2), ...CONV_SHAPES_32.slice(2, 4)]
    : [...CONV_SHAPES, ...CONV_SHAPES_32];
  for (const { name, g } of convs) {
    for (const kind of ['conv_fwd', 'conv_gi', 'conv_gw'] as const) {
      out.push({
        bench: { conv_fwd: 'conv2d', conv_gi: 'conv2d_grad_input', conv_gw: 'conv2d_grad_weight' }[kind],
        shape: name,
        flops: convFlops(g),
        torch: { kind, g },
        make(b) {
          const x = fill(b, g.n * g.cin * g.h * g.w);
          const w = fill(b, g.cout * g.cin * g.kh * g.kw);
          const dy = fill(b, g.n * g.cout * g.oh * g.ow);
          const geom: Conv2dGeom = g;
          const call =
            kind === 'conv_fwd'
              ? () => b.conv2d(x, w, geom)
              : kind === 'conv_gi'
                ? () => b.conv2dGradInput(dy, w, geom)
                : () => b.conv2dGradWeight(x, dy, geom);
          return { call, bufs: [x, w, dy] };
        },
      });
    }
  }
  return out;
}

async function kernelRow(torch: Peers, b: Backend, c: KernelCase, rounds: number): Promise<SideRow> {
  const { call, bufs } = c.make(b);
  const once = () => {
    const t = performance.now();
    const out = call();
    const dt = performance.now() - t;
    b.free(out);
    return dt;
  };
  const id = `${c.bench}:${c.shape}`;
  const oursFirstMs = once();
  const tcs = await torch.setup(id, c.torch);
  const ours: number[] = [];
  const series: number[][] = torch.list.map(() => []);
  for (let r = 0; r < rounds; r++) {
    ours.push(stat([once(), once(), once()]).median);
    for (const [i, p] of torch.list.entries()) series[i]!.push(stat(await p.time(id, 3)).median);
  }
  const k = faster(series);
  const theirs = series[k]!;
  const tc = tcs[k]!;
  for (const x of bufs) b.free(x);
  await torch.drop(id);
  const o = stat(ours);
  const t = stat(theirs);
  return {
    bench: c.bench,
    shape: c.shape,
    ours: o,
    torch: t,
    torchPolicy: policyName(torch.list[k]!),
    ratio: t.median / o.median,
    paired: stat(theirs.map((v, i) => v / ours[i]!)),
    oursFirstMs,
    torchFirstMs: tc.firstMs,
    gflops: { ours: c.flops / (o.median * 1e6), torch: c.flops / (t.median * 1e6) },
    rss: null,
    params: null,
    load: load(),
  };
}

const f1 = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
const span = (s: Stat) => `${f1(s.median)} (${f1(s.min)}-${f1(s.max)})`;
const mb = (v: number) => `${(v / 2 ** 20).toFixed(0)}`;

/** One markdown table line per row. */
export function formatRow(r: SideRow): string {
  const p = r.paired;
  const base = `| ${r.bench} | ${r.shape} | ${span(r.ours)} | ${span(r.torch)} ${r.torchPolicy === 'PASSIVE' ? 'P' : 'S'} | ${r.ratio.toFixed(2)}x | ${p.median.toFixed(2)}x (${p.min.toFixed(2)}-${p.max.toFixed(2)}) |`;
  if (r.rss) {
    return `${base} ${f1(r.oursFirstMs)} / ${(r.oursFirstMs / r.ours.median).toFixed(2)}x | ${mb(r.rss.ours)} / ${mb(r.rss.torch)} | ${r.load} |`;
  }
  return `${base} ${r.gflops!.ours.toFixed(1)} / ${r.gflops!.torch.toFixed(1)} | ${r.load} |`;
}

/** Run every side-by-side row on wasm; `emit` gets each row as it completes. */
export async function runSideBySide(opts: {
  quick: boolean;
  only?: string;
  rounds: number;
  emit: (r: SideRow, line: string) => void;
}): Promise<{ peer: string; rows: SideRow[] }> {
  const b = await useBackend('wasm');
  await (b as WasmBackend).ready; // every worker started: first calls measure the step, not thread start-up
  const torch = new Peers();
  const info = await torch.list[0]!.info;
  for (const p of torch.list) await p.info;
  const rows: SideRow[] = [];
  const want = (s: string) => !opts.only || s.includes(opts.only);
  try {
    const steps = stepCases(opts.quick).filter((c) => want('step') || want(c.model));
    if (steps.length > 0) {
      console.log(
        '\n| bench | shape | wasm ms median (min-max) | PyTorch ms median (min-max) | ratio | paired ratio | wasm first ms / x steady | peak RSS MiB wasm / PyTorch | load |',
      );
      console.log('|---|---|---|---|---|---|---|---|---|');
    }
    for (const c of steps) {
      const r = await stepRow(torch, c, opts.rounds);
      rows.push(r);
      opts.emit(r, formatRow(r));
    }
    const kernels = kernelCases(opts.quick).filter((c) => want(c.bench) || want(c.shape));
    if (kernels.length > 0) {
      console.log(
        '\n| bench | shape | wasm ms median (min-max) | PyTorch ms median (min-max) | ratio | paired ratio | GFLOP/s wasm / PyTorch | load |',
      );
      console.log('|---|---|---|---|---|---|---|---|');
    }
    for (const c of kernels) {
      const r = await kernelRow(torch, b, c, opts.rounds);
      rows.push(r);
      opts.emit(r, formatRow(r));
    }
  } finally {
    torch.close();
  }
  return {
    peer: `PyTorch ${info.torch} (CPU, ${info.threads} threads; per row the faster of OpenMP wait policies ${torch.list.map(policyName).join(' and ')}, both timed in every round)`,
    rows,
  };
}
