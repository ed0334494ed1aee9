/**
 * Same-process A/B of the residual add folded into the conv (Backend.conv2dAdd) on the wasm backend, per conv shape:
 * in each round, alternating, `sep` = conv2d then binary add (the unfused unit end: two ops, two output buffers),
 * `fused` = conv2dAdd with the GEMM store adding the residual, and `pass` = conv2dAdd with the store off
 * (BIT_WASM_RESADD_STORE=0: conv into the output, then one in-place add pass), and `fused4` = conv2dAdd with the
 * fused store on the 4x8 kernels (BIT_GEMM_ROWS_RESID=0, read per call: where the GEMM would take the 5x8 kernels,
 * M >= 40 and N >= 384, they run macroRowsR otherwise). Prints each variant's median time per call and the median
 * over rounds of the paired ratios fused/sep, pass/sep and fused/fused4 (< 1: faster), with the load average.
 * Default shapes: BiT-R50x1's conv3 (1x1, cmid -> 4*cmid) at batch 8 x 128 px, stages 1..4.
 *
 *   npx tsx bench/resadd-ab.ts [--threads 2] [--rounds 9] [--reps 5] [--batch 8] [--px 128] [--shapes n:cin:hw:cout,...]
 */

import os from 'node:os';
import type { Backend, Conv2dGeom } from '../src/tensor/backend.js';
import { createWasmBackend } from '../src/tensor/backends/wasm/index.js';
import { opt } from './cli-args.js';

const threads = Number(opt('threads', '2'));
const rounds = Number(opt('rounds', '9'));
const reps = Number(opt('reps', '5'));
const batch = Number(opt('batch', '8'));
const px = Number(opt('px', '128'));

const make = (store: boolean): Backend => {
  const old = process.env.BIT_WASM_RESADD_STORE;
  process.env.BIT_WASM_RESADD_STORE = store ? '1' : '0';
  try {
    return createWasmBackend({ threads });
  } finally {
    if (old === undefined) delete process.env.BIT_WASM_RESADD_STORE;
    else process.env.BIT_WASM_RESADD_STORE = old;
  }
};
const on = make(true);
const off = make(false);

const custom = opt('shapes', ''); // n:cin:hw:cout[,...] instead of R50x1's conv3s
const geom = (n: number, cin: number, hw: number, cout: number): Conv2dGeom => {
  return { n, cin, h: hw, w: hw, cout, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1, oh: hw, ow: hw };
};
const shapes: Conv2dGeom[] = custom
  ? custom.split(',').map((c) => {
      const [n, cin, hw, cout] = c.split(':').map(Number) as [number, number, number, number];
      return geom(n, cin, hw, cout);
    })
  : [64, 128, 256, 512].map((cmid, s) => geom(batch, cmid, px / 4 / 2 ** s, 4 * cmid));
/** `f()` with env BIT_GEMM_ROWS_RESID = v (fused and fused4 both set it: the same overhead either way). */
const withRowsResid = (v: string, f: () => void) => {
  process.env.BIT_GEMM_ROWS_RESID = v;
  try {
    f();
  } finally {
    delete process.env.BIT_GEMM_ROWS_RESID;
  }
};
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

for (const g of shapes) {
  const ySize = g.n * g.cout * g.oh * g.ow;
  const data = (n: number, k: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + k));
  const inputs = (b: Backend) => ({
    x: b.upload(data(g.n * g.cin * g.h * g.w, 1), 'float32'),
    w: b.upload(
      data(g.cout * g.cin, 2).map((v) => v * 0.05),
      'float32',
    ),
    r: b.upload(data(ySize, 3), 'float32'),
  });
  const ion = inputs(on);
  const ioff = inputs(off);
  const shape = [g.n, g.cout, g.oh, g.ow];
  const strides = [g.cout * g.oh * g.ow, g.oh * g.ow, g.ow, 1];
  const variants: Record<string, () => void> = {
    sep: () => {
      const y = on.conv2d(ion.x, ion.w, g);
      const v = (buf: typeof y) => ({ buf, shape, strides, offset: 0 });
      const out = on.binary('add', v(y), v(ion.r), shape);
      on.free(y);
      on.free(out);
    },
    fused: () => withRowsResid('1', () => on.free(on.conv2dAdd(ion.x, ion.w, ion.r, g))),
    pass: () => off.free(off.conv2dAdd(ioff.x, ioff.w, ioff.r, g)),
    fused4: () => withRowsResid('0', () => on.free(on.conv2dAdd(ion.x, ion.w, ion.r, g))),
  };
  const time = (f: () => void) => {
    const t = performance.now();
    for (let i = 0; i < reps; i++) f();
    return (performance.now() - t) / reps;
  };
  for (const f of Object.values(variants)) for (let i = 0; i < 3; i++) f(); // warm up
  const ms: Record<string, number[]> = { sep: [], fused: [], pass: [], fused4: [] };
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? ['sep', 'fused', 'fused4', 'pass'] : ['pass', 'fused4', 'fused', 'sep'];
    for (const k of order) ms[k]!.push(time(variants[k]!));
  }
  const ratio = (k: string, base = 'sep') => median(ms[k]!.map((v, i) => v / ms[base]![i]!)).toFixed(3);
  const med = (k: string) => median(ms[k]!).toFixed(3);
  console.log(
    `[${g.n},${g.cin},${g.h},${g.w}] -> ${g.cout}: sep ${med('sep')} ms, fused ${med('fused')} ms, pass ${med('pass')} ms;` +
      ` fused4 ${med('fused4')} ms; fused/sep ${ratio('fused')}, pass/sep ${ratio('pass')},` +
      ` fused/fused4 ${ratio('fused', 'fused4')}, fused/pass ${ratio('fused', 'pass')}` +
      ` (median of ${rounds} paired rounds)`,
  );
  for (const [b, io] of [
    [on, ion],
    [off, ioff],
  ] as const)
    for (const t of Object.values(io)) b.free(t);
}
console.log(
  `threads ${threads}, load ${os
    .loadavg()
    .map((v) => v.toFixed(1))
    .join(' ')}`,
);
on.dispose();
off.dispose();
