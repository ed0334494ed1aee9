/**
 * Per-call A/B of the stem's grad-weight (3 -> C 7x7/2 pad 3): the phase-split kernel (src/tensor/backends/wasm/
 * conv-stem-gw.ts) against the thin kernel it replaces (BIT_STEM_GW=0), in ONE process and on the same backend,
 * the switch flipped per call. Each round times `--reps` calls of each side (order alternating between rounds);
 * the summary is the median per side and the median over rounds of the paired ratio new/old (< 1: new is
 * faster). Threads 1 are timed in process CPU time (robust to other load), threads 2 in wall time.
 *
 *   npx tsx bench/stem-ab.ts [--rounds 9] [--reps 5] [--threads 1,2] [--switch BIT_STEM_GW]
 */

import os from 'node:os';
import type { Conv2dGeom } from '../src/tensor/backend.js';
import { createWasmBackend } from '../src/tensor/backends/wasm/index.js';
import { opt } from './cli-args.js';
import { fill } from './wasm-kernels.js';

const rounds = Number(opt('rounds', '9'));
const reps = Number(opt('reps', '5'));
const threadList = opt('threads', '1,2').split(',').map(Number);
/** The switch flipped between the sides: (BIT_STEM_GW: the old kernel against the new; another BIT_ lever of the same call). */
const sw = opt('switch', 'BIT_STEM_GW');

const stem = (n: number, cout: number, px: number): Conv2dGeom => {
  const o = Math.floor((px + 6 - 7) / 2) + 1;
  return { n, cin: 3, h: px, w: px, cout, kh: 7, kw: 7, stride: 2, pad: 3, groups: 1, oh: o, ow: o };
};
const SHAPES: [string, Conv2dGeom][] = [
  ['bit-tiny b128 3->16 @32px', stem(128, 16, 32)],
  ['bit-small b128 3->32 @32px', stem(128, 32, 32)],
  ['R50x1 b8 3->64 @128px', stem(8, 64, 128)],
];

const med = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)]!;

console.log(
  `stem grad-weight A/B (${sw}=0 old, =1 new), ${rounds} rounds x ${reps} calls per side, load ${os.loadavg()[0]!.toFixed(2)}`,
);
for (const threads of threadList) {
  const cpu = threads === 1;
  const be = createWasmBackend({ threads, adaptiveThreads: false });
  for (const [name, g] of SHAPES) {
    const x = be.upload(fill(g.n * g.cin * g.h * g.w, 3), 'float32');
    const dy = be.upload(fill(g.n * g.cout * g.oh * g.ow, 5), 'float32');
    const time = (val: string): number => {
      process.env[sw] = val;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) be.free(be.conv2dGradWeight(x, dy, g));
      const u = process.cpuUsage(c0);
      return (cpu ? (u.user + u.system) / 1000 : performance.now() - t0) / reps;
    };
    time('1');
    time('0'); // warm both
    const old: number[] = [];
    const cur: number[] = [];
    for (let r = 0; r < rounds; r++) {
      if (r % 2 === 0) {
        old.push(time('0'));
        cur.push(time('1'));
      } else {
        cur.push(time('1'));
        old.push(time('0'));
      }
    }
    const ratios = cur.map((c, i) => c / old[i]!);
    const flops = 2 * g.n * g.oh * g.ow * g.cout * g.cin * g.kh * g.kw;
    const gf = (ms: number) => (flops / ms / 1e6).toFixed(1);
    console.log(
      `t${threads} ${cpu ? 'cpu' : 'wall'} ${name}: old ${med(old).toFixed(2)} ms (${gf(med(old))} GFLOP/s), ` +
        `new ${med(cur).toFixed(2)} ms (${gf(med(cur))} GFLOP/s), new/old ${med(ratios).toFixed(3)} ` +
        `(${Math.min(...ratios).toFixed(3)}..${Math.max(...ratios).toFixed(3)}), load ${os.loadavg()[0]!.toFixed(2)}`,
    );
    be.free(x);
    be.free(dy);
  }
  be.dispose();
}
delete process.env[sw];
