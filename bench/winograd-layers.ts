/**
 * Per-layer A/B of the wasm backend's Winograd 3x3 path (issue 24): for each stride-1 3x3 conv shape of BiT
 * (R50x1 at 8 x 128 px and 32 x 32 px, bit-tiny / bit-small at 32 px), forward, grad-input and grad-weight (`gw`,
 * ../src/tensor/backends/wasm/winograd-grad-weight.ts) timed on backends
 * created with winograd 'off' (the GEMM path), 'f2' and 'f4', alternating in one process, round by round; prints
 * per shape the median over rounds of each call's median time and the median of the paired ratios off / variant
 * (> 1: the variant is faster). The weight-transform cache is off (as in training, where every step's
 * standardized weights are a new buffer), so the weight transform is inside every timed call.
 *
 *   npx tsx bench/winograd-layers.ts [--threads 1,2] [--rounds 5] [--reps 3] [--only SUBSTRING] [--json FILE]
 *     [--kinds fwd,gi,gw]
 *     [--phases]  (also the ms per call of each Winograd phase: weight / input / GEMMs / output transform; for gw:
 *     input = the x and dy transforms, weight = the inverse weight transform)
 */

import { writeFileSync } from 'node:fs';
import os from 'node:os';
import type { Conv2dGeom } from '../src/tensor/backend.js';
import { createWasmBackend, type WasmBackend } from '../src/tensor/backends/wasm/index.js';
import { winogradPhases } from '../src/tensor/backends/wasm/winograd.js';
import { convGeom } from './shapes.js';

const args = process.argv.slice(2);
const opt = (n: string, d: string) => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? args[i + 1]! : d;
};
const threadList = opt('threads', '1,2').split(',').map(Number);
const rounds = Number(opt('rounds', '5'));
const reps = Number(opt('reps', '3'));
const only = opt('only', '');
const phases = args.includes('--phases');
const kinds = opt('kinds', 'fwd,gi,gw').split(',') as ('fwd' | 'gi' | 'gw')[];

/** Every stride-1 3x3 pad-1 conv shape of the bench models (cin = cout in all of them). */
export const WINO_SHAPES: { name: string; g: Conv2dGeom }[] = [
  { name: 'R50x1 b8 64@32', g: convGeom(8, 64, 32, 64, 3, 1, 1) },
  { name: 'R50x1 b8 128@16', g: convGeom(8, 128, 16, 128, 3, 1, 1) },
  { name: 'R50x1 b8 256@8', g: convGeom(8, 256, 8, 256, 3, 1, 1) },
  { name: 'R50x1 b8 512@4', g: convGeom(8, 512, 4, 512, 3, 1, 1) },
  { name: 'R50x1 b32 64@8', g: convGeom(32, 64, 8, 64, 3, 1, 1) },
  { name: 'R50x1 b32 128@4', g: convGeom(32, 128, 4, 128, 3, 1, 1) },
  { name: 'R50x1 b32 256@2', g: convGeom(32, 256, 2, 256, 3, 1, 1) },
  { name: 'tiny b32 16@8', g: convGeom(32, 16, 8, 16, 3, 1, 1) },
  { name: 'tiny b128 16@8', g: convGeom(128, 16, 8, 16, 3, 1, 1) },
  { name: 'small b32 32@8', g: convGeom(32, 32, 8, 32, 3, 1, 1) },
  { name: 'small b32 64@4', g: convGeom(32, 64, 4, 64, 3, 1, 1) },
  { name: 'small b32 128@2', g: convGeom(32, 128, 2, 128, 3, 1, 1) },
  { name: 'small b128 32@8', g: convGeom(128, 32, 8, 32, 3, 1, 1) },
  { name: 'small b128 64@4', g: convGeom(128, 64, 4, 64, 3, 1, 1) },
  { name: 'small b128 128@2', g: convGeom(128, 128, 2, 128, 3, 1, 1) },
];

const MODES = ['off', 'f2', 'f4'] as const;
const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function timeCall(b: WasmBackend, f: () => ReturnType<WasmBackend['conv2d']>): number {
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    const out = f();
    ms.push(performance.now() - t);
    b.free(out);
  }
  return median(ms);
}

const rows: Record<string, unknown>[] = [];
console.log(`# ${os.cpus()[0]?.model}, load ${os.loadavg()[0]!.toFixed(1)}, rounds ${rounds}, reps ${reps}`);
for (const threads of threadList) {
  const bes = MODES.map((mode) =>
    createWasmBackend({ threads, winograd: mode, winogradCacheBytes: 0, adaptiveThreads: false }),
  );
  await Promise.all(bes.map((b) => b.ready));
  for (const { name, g } of WINO_SHAPES) {
    if (only && !name.includes(only)) continue;
    for (const kind of kinds) {
      const times: number[][] = MODES.map(() => []);
      const inputs = bes.map((b) => {
        const rnd = (n: number) =>
          b.upload(
            Float32Array.from({ length: n }, () => Math.random() - 0.5),
            'float32',
          );
        return {
          x: rnd(g.n * g.cin * g.h * g.w),
          w: rnd(g.cout * g.cin * 9),
          dy: rnd(g.n * g.cout * g.oh * g.ow),
        };
      });
      const acc = MODES.map(() => ({ weight: 0, input: 0, gemm: 0, output: 0 }));
      for (let r = 0; r <= rounds; r++) {
        bes.forEach((b, i) => {
          const { x, w, dy } = inputs[i]!;
          Object.assign(winogradPhases, { on: phases && r > 0, weight: 0, input: 0, gemm: 0, output: 0 });
          const op = {
            fwd: () => b.conv2d(x, w, g),
            gi: () => b.conv2dGradInput(dy, w, g),
            gw: () => b.conv2dGradWeight(x, dy, g),
          }[kind];
          const t = timeCall(b, op);
          for (const k of ['weight', 'input', 'gemm', 'output'] as const)
            acc[i]![k] += winogradPhases[k] / reps / rounds;
          if (r > 0) times[i]!.push(t); // round 0 warms up
        });
      }
      winogradPhases.on = false;
      const ratio = (i: number) => median(times[0]!.map((t0, r) => t0 / times[i]![r]!));
      const row = {
        threads,
        shape: name,
        kind,
        off_ms: +median(times[0]!).toFixed(2),
        f2_ms: +median(times[1]!).toFixed(2),
        f4_ms: +median(times[2]!).toFixed(2),
        f2_speedup: +ratio(1).toFixed(2),
        f4_speedup: +ratio(2).toFixed(2),
      };
      rows.push(phases ? { ...row, phases: acc } : row);
      console.log(
        `T${threads} ${name.padEnd(18)} ${kind.padEnd(3)} off ${row.off_ms} ms  f2 ${row.f2_ms} (${row.f2_speedup}x)  f4 ${row.f4_ms} (${row.f4_speedup}x)`,
      );
      if (phases) {
        for (const i of [1, 2]) {
          const a = acc[i]!;
          const f = (v: number) => v.toFixed(2);
          console.log(
            `    ${MODES[i]}: weight ${f(a.weight)} input ${f(a.input)} gemm ${f(a.gemm)} output ${f(a.output)} ms`,
          );
        }
      }
    }
  }
  for (const b of bes) b.dispose();
}
const json = opt('json', '');
if (json) writeFileSync(json, `${JSON.stringify({ cpu: os.cpus()[0]?.model, rows }, null, 1)}\n`);
