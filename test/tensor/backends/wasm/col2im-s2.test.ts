// Grad-input of stride-2 convs on even maps through col2imS2 (src/tensor/backends/wasm/kernels-col2im-s2.ts: the
// polyphase gather of 3x3 pad-1 and 1x1 pad-0 column matrices): the SAME BITS as col2im (env BIT_COL2IM_S2=0, read
// per call), bit-identical between 1 and 2 threads, and close to the float64 reference (TOL.linear). Maps with
// ow = 2 (the 2-lane path), 4, 8 and 12 (several 4-lane blocks a row, the last one padding its shifted lane with
// +0), non-square maps, odd channel counts, a dy with exact zeros and negative zeros (col2im's sums start from +0,
// so dx never holds -0), and bit-small's two strided 3x3 shapes at batch 16.
import { afterAll, describe, expect, it } from 'vitest';
import type { Conv2dGeom } from '../../../../src/tensor/backend.js';
import { createReferenceBackend } from '../../../../src/tensor/backends/reference/index.js';
import { createWasmBackend } from '../../../../src/tensor/backends/wasm/index.js';
import { expectClose, TOL } from '../../../tolerances.js';
import { convGeom, rng, runConv } from './helpers.js';

const t1 = createWasmBackend({ threads: 1, minParallelWork: 0 });
const t2 = createWasmBackend({ threads: 2, minParallelWork: 0, adaptiveThreads: false });
const ref = createReferenceBackend();
afterAll(() => {
  for (const b of [t1, t2]) b.dispose();
});

/** Grad-input on `be` with col2imS2 on (default) or off (BIT_COL2IM_S2=0 for the call). */
function gradInput(be: typeof t1, g: Conv2dGeom, w: number[], dy: number[], s2: boolean): Float32Array {
  const prev = process.env.BIT_COL2IM_S2;
  if (!s2) process.env.BIT_COL2IM_S2 = '0';
  try {
    return runConv(be, 'conv2dGradInput', g, [], w, dy);
  } finally {
    if (prev === undefined) delete process.env.BIT_COL2IM_S2;
    else process.env.BIT_COL2IM_S2 = prev;
  }
}

const MAPS: [number, number][] = [
  [4, 4],
  [8, 8],
  [16, 16],
  [24, 24],
  [4, 8],
  [8, 24],
  [16, 4],
];

describe('wasm col2imS2 (stride-2 grad-input on even maps)', () => {
  for (const [kh, pad] of [
    [3, 1],
    [1, 0],
  ] as const) {
    it(`${kh}x${kh}/2 pad ${pad}: same bits as col2im, 1 = 2 threads, near float64`, () => {
      let seed = 900 + kh;
      for (const [h, w] of MAPS) {
        const g = convGeom({ n: 3, cin: 5, h, w, cout: 7, kh, kw: kh, stride: 2, pad, groups: 1 });
        const r = rng(seed++);
        const wt = r(g.cout * g.cin * kh * kh);
        const dy = r(g.n * g.cout * g.oh * g.ow);
        dy[0] = 0;
        dy[1] = -0;
        const a = gradInput(t1, g, wt, dy, true);
        const b = gradInput(t1, g, wt, dy, false);
        const c = gradInput(t2, g, wt, dy, true);
        const what = `${kh}x${kh} ${h}x${w}`;
        expect([...a], `${what}: col2im`).toEqual([...b]);
        expect([...c], `${what}: 2 threads`).toEqual([...a]);
        expect(a.some((v) => Object.is(v, -0))).toBe(false);
        const e = ref.readSync(ref.conv2dGradInput(ref.upload(dy, 'float64'), ref.upload(wt, 'float64'), g));
        expectClose(a, e, TOL.linear, what);
      }
    });
  }

  it('bit-small shapes (64 channels 8x8 -> 4x4, 128 channels 4x4 -> 2x2, batch 16): same bits as col2im', () => {
    for (const [c, h] of [
      [64, 8],
      [128, 4],
    ] as const) {
      const g = convGeom({ n: 16, cin: c, h, w: h, cout: c, kh: 3, kw: 3, stride: 2, pad: 1, groups: 1 });
      const r = rng(c);
      const wt = r(g.cout * g.cin * 9);
      const dy = r(g.n * g.cout * g.oh * g.ow);
      const a = gradInput(t2, g, wt, dy, true);
      const b = gradInput(t2, g, wt, dy, false);
      const c1 = gradInput(t1, g, wt, dy, true);
      const differ = (u: Float32Array, v: Float32Array) => u.filter((x, i) => !Object.is(x, v[i])).length;
      expect(differ(a, b), `${c} channels: col2im`).toBe(0);
      expect(differ(c1, a), `${c} channels: 1 thread`).toBe(0);
    }
  });
});
