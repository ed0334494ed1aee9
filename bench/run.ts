/**
 * `npm run bench`: side-by-side kernel timings for every backend over the Backend interface, with PyTorch
 * (CPU) timed on the same shapes in the same run when `import torch` works (interpreter: BIT_TORCH_PYTHON, else
 * .venv-torch/bin/python, else python3). For wasm, training steps (bit-tiny, bit-small, R50x1), SGEMM and every conv
 * shape run in alternating rounds against a persistent PyTorch peer (bench/side-by-side.ts: median and spread,
 * parameter counts asserted equal, peak RSS, first vs steady); --rounds N sets the rounds (default 7, quick 3).
 *
 * Flags: --json (one JSON object per line: bench, backend, shape, first_ms, ms, gflops, torch_ms,
 * ratio_to_torch), --only NAME (substring of the bench name, e.g. sgemm, conv, gn, ws, step), --backends a,b
 * (default: wasm,reference,gpujs-webasm,gpujs-cpu), --quick (fewer shapes and reps), --save FILE (write the
 * rows plus machine info as JSON under bench/results/), --peers js (after the rows, in the same run: bit-ts against
 * onnxruntime-web and TensorFlow.js, bench/js-peers.ts, --peer-rounds N (default 7: the issue's paired-ratio criterion; the tfjs cpu training step runs in round 1 only) --peer-reps N (default 5); --save
 * writes its table as `jsPeers`), --peers js-only (the peers table alone).
 * first_ms is the first call (kernel build / warm-up included); ms is the median of the steady calls.
 * ratio_to_torch = torch_ms / ms: the fraction of PyTorch's speed (1 = as fast, 0.5 = half as fast).
 */

import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { formatStepStats, measureSteps } from '../src/cli/backends-stats.js';
import type { Backend, BackendBuffer } from '../src/tensor/backend.js';
import { type BackendName, disposeBackends, getBackend } from '../src/tensor/backends/registry.js';
import { type BenchRow, CONV_SHAPES, convFlops, GEMM_SIZES, GN_SHAPES, WS_SHAPES } from './shapes.js';
import { runSideBySide, type SideRow } from './side-by-side.js';
import { runStepBench } from './step.js';
import { torchAvailable, torchPython } from './torch-server.js';

type Row = BenchRow;

interface Case {
  id: string;
  bench: string;
  shape: string;
  flops: number | null;
  torch: Record<string, unknown> | null;
  /** Runs one call on backend b; returns buffers to free. */
  make(b: Backend): { call: () => BackendBuffer[]; cleanup: () => void };
}

const args = process.argv.slice(2);
const flag = (n: string) => args.includes(`--${n}`);
const opt = (n: string) => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const quick = flag('quick');
const only = opt('only');
const json = flag('json');
const backendNames = (opt('backends') ?? 'wasm,reference,gpujs-webasm,gpujs-cpu').split(',') as BackendName[];

function freeAll(b: Backend, bufs: BackendBuffer[]): void {
  for (const x of bufs) b.free(x);
}

function rand(b: Backend, n: number): BackendBuffer {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = Math.sin(i * 12.9898) * 0.5;
  return b.upload(v, 'float32');
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const n of quick ? [512] : GEMM_SIZES) {
    out.push({
      id: `sgemm${n}`,
      bench: 'sgemm',
      shape: `${n}x${n}x${n}`,
      flops: 2 * n ** 3,
      torch: { kind: 'sgemm', n },
      make(b) {
        const a = rand(b, n * n);
        const c = rand(b, n * n);
        const g = { batch: 1, m: n, k: n, n, transA: false, transB: false };
        return { call: () => [b.matmul(a, c, g)], cleanup: () => freeAll(b, [a, c]) };
      },
    });
  }
  for (const { name, g } of quick ? CONV_SHAPES.slice(0, 3) : CONV_SHAPES) {
    const xs = g.n * g.cin * g.h * g.w;
    const ws = g.cout * g.cin * g.kh * g.kw;
    const ys = g.n * g.cout * g.oh * g.ow;
    for (const kind of ['conv_fwd', 'conv_gi', 'conv_gw'] as const) {
      out.push({
        id: `${kind}:${name}`,
        bench: kind
          .replace('conv_fwd', 'conv2d')
          .replace('conv_gi', 'conv2d_grad_input')
          .replace('conv_gw', 'conv2d_grad_weight'),
        shape: name,
        flops: convFlops(g),
        torch: { kind, g },
        make(b) {
          const x = rand(b, xs);
          const w = rand(b, ws);
          const dy = rand(b, ys);
          const call =
            kind === 'conv_fwd'
              ? () => [b.conv2d(x, w, g)]
              : kind === 'conv_gi'
                ? () => [b.conv2dGradInput(dy, w, g)]
                : () => [b.conv2dGradWeight(x, dy, g)];
          return { call, cleanup: () => freeAll(b, [x, w, dy]) };
        },
      });
    }
  }
  for (const s of GN_SHAPES) {
    const geom = { n: s.n, c: s.c, hw: s.hw, groups: 32, eps: 1e-5 };
    for (const kind of ['gn_fwd', 'gn_bwd'] as const) {
      out.push({
        id: `${kind}:${s.name}`,
        bench: kind === 'gn_fwd' ? 'groupnorm' : 'groupnorm_backward',
        shape: s.name,
        flops: null,
        torch: { kind, n: s.n, c: s.c, hw: s.hw },
        make(b) {
          const x = rand(b, s.n * s.c * s.hw);
          const gm = rand(b, s.c);
          const bt = rand(b, s.c);
          const st = b.groupNorm(x, gm, bt, geom);
          const call =
            kind === 'gn_fwd'
              ? () => Object.values(b.groupNorm(x, gm, bt, geom))
              : () => Object.values(b.groupNormBackward(x, x, gm, st.mean, st.rstd, geom));
          return { call, cleanup: () => freeAll(b, [x, gm, bt, st.y, st.mean, st.rstd]) };
        },
      });
    }
  }
  for (const s of WS_SHAPES) {
    for (const kind of ['ws_fwd', 'ws_bwd'] as const) {
      out.push({
        id: `${kind}:${s.name}`,
        bench: kind === 'ws_fwd' ? 'weight_standardize' : 'weight_standardize_backward',
        shape: s.name,
        flops: null,
        torch: { kind, o: s.o, fanIn: s.fanIn },
        make(b) {
          const w = rand(b, s.o * s.fanIn);
          const st = b.weightStandardize(w, s.o, s.fanIn, 1e-10);
          const call =
            kind === 'ws_fwd'
              ? () => Object.values(b.weightStandardize(w, s.o, s.fanIn, 1e-10))
              : () => [b.weightStandardizeBackward(w, w, st.mean, st.rstd, s.o, s.fanIn)];
          return { call, cleanup: () => freeAll(b, [w, st.y, st.mean, st.rstd]) };
        },
      });
    }
  }
  return out.filter((c) => !only || c.bench.includes(only) || c.id.includes(only));
}

/**
 * Time one case. On a backend whose kernels complete asynchronously (gpujs-webgpu: a call only issues work),
 * each call is timed until its outputs are read back, so the time covers the GPU work and the readback; on the
 * synchronous CPU backends the call alone is timed (a readback would add a copy PyTorch does not make).
 */
async function timeCase(b: Backend, c: Case, reps: number): Promise<{ first: number; ms: number }> {
  const { call, cleanup } = c.make(b);
  const asyncBackend = b.name === 'gpujs-webgpu';
  const once = async () => {
    const t = performance.now();
    const outs = call();
    if (asyncBackend) await Promise.all(outs.map((x) => b.read(x)));
    const dt = performance.now() - t;
    for (const x of outs) b.free(x);
    return dt;
  };
  const first = await once();
  const ts: number[] = [];
  // slow backends: stop repeating once a case has used ~3 s
  let spent = 0;
  for (let i = 0; i < reps && spent < 3000; i++) {
    const dt = await once();
    ts.push(dt);
    spent += dt;
  }
  cleanup();
  ts.sort((p, q) => p - q);
  return { first, ms: ts[Math.floor(ts.length / 2)] ?? first };
}

function torchTimes(list: Case[], extra: Record<string, unknown>[]): { info: string; ms: Map<string, number> } {
  const ms = new Map<string, number>();
  const probe = torchAvailable();
  if (!probe.ok) return { info: `PyTorch: not available (${probe.why})`, ms };
  const payload = [
    ...list.filter((c) => c.torch).map((c) => ({ id: c.id, reps: quick ? 3 : 5, ...c.torch })),
    ...extra,
  ];
  // PyTorch is timed twice, with OpenMP's default (spinning) threads and with OMP_WAIT_POLICY=PASSIVE, and the
  // faster time is kept per case: spinning is fastest on an idle machine, passive on a loaded one (measured here:
  // R50x1 step 0.80 s spinning when idle; 14.7 s spinning vs 1.42 s passive at load 3.5).
  const runPeer = (policy: string | undefined) => {
    const env = { ...process.env };
    if (policy) env.OMP_WAIT_POLICY = policy;
    else delete env.OMP_WAIT_POLICY;
    return spawnSync(torchPython(), [new URL('./torch_peer.py', import.meta.url).pathname], {
      input: JSON.stringify(payload),
      encoding: 'utf8',
      maxBuffer: 1 << 24,
      env,
    });
  };
  let header: { torch: string; threads: number } | null = null;
  for (const policy of [undefined, 'PASSIVE']) {
    const r = runPeer(policy);
    if (r.status !== 0) return { info: `PyTorch peer failed: ${r.stderr.split('\n').slice(-3).join(' ')}`, ms };
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    header = lines[0];
    for (const l of lines.slice(1)) ms.set(l.id, Math.min(ms.get(l.id) ?? Number.POSITIVE_INFINITY, l.ms));
  }
  return {
    info: `PyTorch ${header!.torch} (CPU, ${header!.threads} threads; best of default and passive OpenMP waiting)`,
    ms,
  };
}

function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const load = os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  return `${cpu}, ${os.availableParallelism()} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${os.platform()} ${os.arch()}, load average ${load} (timings are only comparable at a low load)`;
}

/** Benches the side-by-side run covers for wasm (skipped in the one-sided wasm loop when it ran). */
const SIDE_COVERED = (bench: string) => bench === 'sgemm' || bench.startsWith('conv2d');

async function main() {
  let side: { peer: string; rows: SideRow[] } | null = null;
  if (backendNames.includes('wasm') && torchAvailable().ok) {
    if (!json) console.log(`machine: ${machine()}\nwasm vs PyTorch, alternating rounds:`);
    const rounds = Number(opt('rounds') ?? (quick ? 3 : 7));
    side = await runSideBySide({
      quick,
      only,
      rounds,
      emit: (r, line) => console.log(json ? JSON.stringify({ side_by_side: true, ...r }) : line),
    });
    if (!json) console.log(`peer: ${side.peer}\n`);
  }
  const list = cases();
  const wantStep = !only || 'step'.includes(only) || only.includes('step');
  // with the side-by-side run done and wasm the only backend, the one-sided peer times only what it did not cover
  const sideOnly = side !== null && backendNames.every((n) => n === 'wasm');
  const stepTorch =
    wantStep && !sideOnly
      ? [
          { id: 'step:8x128', kind: 'r50_step', batch: 8, px: 128, classes: 10, reps: 3 },
          { id: 'step:32x32', kind: 'r50_step', batch: 32, px: 32, classes: 10, reps: 3 },
          { id: 'step:2x32', kind: 'r50_step', batch: 2, px: 32, classes: 10, reps: 3 },
        ]
      : [];
  const torch = torchTimes(sideOnly ? list.filter((c) => !SIDE_COVERED(c.bench)) : list, stepTorch);
  const rows: Row[] = [];
  const emit = (r: Row) => {
    rows.push(r);
    if (json) console.log(JSON.stringify(r));
    else
      console.log(
        `${r.backend.padEnd(13)} ${r.bench.padEnd(28)} ${r.shape.padEnd(28)} first ${r.first_ms.toFixed(1).padStart(9)} ms  steady ${r.ms.toFixed(2).padStart(9)} ms  ${r.gflops === null ? '' : `${r.gflops.toFixed(1).padStart(6)} GFLOP/s`}  ${r.torch_ms === null ? '' : `torch ${r.torch_ms.toFixed(2)} ms  x${r.ratio_to_torch!.toFixed(3)} of torch speed`}`,
      );
  };
  if (!json) {
    console.log(`machine: ${machine()}`);
    console.log(`peer: ${torch.info}`);
  }
  for (const name of backendNames) {
    let b: Backend;
    try {
      b = await getBackend(name);
    } catch (e) {
      if (!json) console.log(`${name}: unavailable (${(e as Error).message})`);
      continue;
    }
    const slow = name === 'reference' || name.startsWith('gpujs');
    for (const c of list) {
      if (side && name === 'wasm' && SIDE_COVERED(c.bench)) continue;
      const { first, ms } = await timeCase(b, c, slow ? 2 : quick ? 3 : 7);
      const tm = torch.ms.get(c.id) ?? null;
      emit({
        bench: c.bench,
        backend: name,
        shape: c.shape,
        first_ms: first,
        ms,
        gflops: c.flops === null ? null : c.flops / (ms * 1e6),
        torch_ms: tm,
        ratio_to_torch: tm === null ? null : tm / ms,
      });
    }
    if (wantStep && name !== 'reference' && !(side && name === 'wasm')) {
      for (const r of await runStepBench(name, quick)) {
        const tm = torch.ms.get(`step:${r.shape.replace(/ .*/, '')}`) ?? null;
        emit({ ...r, torch_ms: tm, ratio_to_torch: tm === null ? null : tm / r.ms });
      }
      const stats = (b as Backend & { stats?: () => { buildMs: number }[] }).stats?.();
      if (stats && !json) {
        const build = stats.reduce((p, s) => p + s.buildMs, 0);
        console.log(
          `${name}: ${stats.length} kernels built so far, first calls (build + first run) ${build.toFixed(0)} ms in all`,
        );
      }
      // gpu.js backends count launches and host <-> device traffic: print them for a bit-tiny step (issue 20).
      if (name.startsWith('gpujs') && !json) console.log(formatStepStats(await measureSteps(b, 'bit-tiny', 2, 32, 2)));
    }
  }
  disposeBackends();
  const jsPeers = opt('peers') === 'js' ? await peersTable() : null;
  const save = opt('save');
  if (save) {
    writeFileSync(
      save,
      `${JSON.stringify({ machine: machine(), peer: torch.info, date: new Date().toISOString(), args, rows, sideBySide: side, jsPeers }, null, 1)}\n`,
    );
    if (!json) console.log(`saved ${save}`);
  }
}

/** The JS peers' table (bench/js-peers.ts), after the rows of the same run. */
async function peersTable() {
  const { runJsPeers } = await import('./js-peers.js');
  console.log(`\nJS peers (fresh process per side, alternating rounds), machine: ${machine()}`);
  return runJsPeers({ rounds: Number(opt('peer-rounds') ?? 7), reps: Number(opt('peer-reps') ?? 5) });
}

if (opt('peers') === 'js-only') {
  const r = await peersTable();
  const save = opt('save');
  if (save)
    writeFileSync(
      save,
      `${JSON.stringify({ machine: machine(), date: new Date().toISOString(), args, jsPeers: r }, null, 1)}\n`,
    );
} else await main();
