/**
 * What the Winograd test files share (winograd.test.ts: forward / grad-input, winograd-grad-weight.test.ts): conv
 * geometry with a rectangular input, float32's unit roundoff, float64 copies and absolute values for the error
 * bounds (|result - float64 reference| <= C eps S, S the same conv on absolute values), and one 2-thread wasm backend
 * per Winograd mode, disposed after the file.
 */

import fc from 'fast-check';
import { afterAll } from 'vitest';
import type { Conv2dGeom } from '../../../../src/tensor/backend.js';
import { createWasmBackend, type WasmBackend } from '../../../../src/tensor/backends/wasm/index.js';
import type { WinogradMode } from '../../../../src/tensor/backends/wasm/winograd.js';

/** Conv geometry (groups 1) on an h x w input with oh/ow derived. */
export function convGeomHW(
  n: number,
  cin: number,
  h: number,
  w: number,
  cout: number,
  k: number,
  stride: number,
  pad: number,
): Conv2dGeom {
  const out = (v: number) => Math.floor((v + 2 * pad - k) / stride) + 1;
  return { n, cin, h, w, cout, kh: k, kw: k, stride, pad, groups: 1, oh: out(h), ow: out(w) };
}

/** float32's unit roundoff. */
export const EPS = 2 ** -24;

export const f64 = (a: ArrayLike<number>) => Float64Array.from(a as ArrayLike<number>);
export const abs = (a: ArrayLike<number>) => Float64Array.from(a, Math.abs);

/** One 2-thread wasm backend per mode (`off`: the GEMM path), disposed after the calling test file. */
export function winogradBackends<M extends WinogradMode>(modes: readonly M[]): Record<M, WasmBackend> {
  const out = Object.fromEntries(modes.map((m) => [m, createWasmBackend({ threads: 2, winograd: m })])) as Record<
    M,
    WasmBackend
  >;
  afterAll(() => {
    for (const b of Object.values(out) as WasmBackend[]) b.dispose();
  });
  return out;
}

/** Random stride-1 3x3 pad-1 convs (fast-check): batch 1-3, 1-13 input / 1-11 output channels, 2-13 px sides. */
export const winoShapes = fc
  .record({
    n: fc.integer({ min: 1, max: 3 }),
    cin: fc.integer({ min: 1, max: 13 }),
    cout: fc.integer({ min: 1, max: 11 }),
    h: fc.integer({ min: 2, max: 13 }),
    w: fc.integer({ min: 2, max: 13 }),
    seed: fc.integer({ min: 1, max: 1e6 }),
  })
  .map(({ n, cin, cout, h, w, seed }) => ({ g: convGeomHW(n, cin, h, w, cout, 3, 1, 1), seed }));
