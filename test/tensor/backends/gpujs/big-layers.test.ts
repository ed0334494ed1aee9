// The layers that threw on gpujs-webgpu (issue 20, point 2), at their real sizes, equal to wasm: the BiT-R50x3
// stage-4 3x3 weight (1536 x 1536 x 3 x 3 = 21.2M elements > 2^23; R152x4's 37.7M takes the same paths) through
// weight standardization and a 3x3 conv at 1x1 spatial (forward, gradInput, gradWeight, WS backward), and the
// BiT-M 21,843-class head (a 1x1 conv
// 2048 -> 21843, 44.7M weights: forward, gradInput, gradWeight). Whole models run outside CI: bench/gpu-models.ts.
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend, BackendBuffer, Conv2dGeom } from '../../../../src/tensor/backend.js';
import { getBackend } from '../../../../src/tensor/backends/registry.js';
import { closeness, TOL } from '../../../tolerances.js';
import { backendPool, MODES } from './helpers.js';

const pool = backendPool();
afterAll(() => pool.dispose());
const webgpu = MODES.find((m) => m.name === 'webgpu')!;

function values(n: number, seed: number, scale: number): Float32Array {
  const v = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = (s / 2 ** 32 - 0.5) * scale;
  }
  return v;
}

/** Run `f` on both backends with the same host inputs; compare every output within `tol`. */
async function agree(
  inputs: Float32Array[],
  f: (b: Backend, bufs: BackendBuffer[]) => BackendBuffer[],
  tol: { rtol: number; atol: number },
  what: string,
) {
  const gpu = await pool.get(webgpu);
  const wasm = await getBackend('wasm');
  const outs: ArrayLike<number>[][] = [];
  for (const b of [gpu, wasm] as Backend[]) {
    const bufs = inputs.map((x) => b.upload(x, 'float32'));
    const ys = f(b, bufs);
    outs.push(await Promise.all(ys.map((y) => b.read(y))));
    for (const y of ys) b.free(y);
    for (const x of bufs) b.free(x);
  }
  outs[0]!.forEach((g, i) => {
    expect(g.length, `${what} ${i}`).toBe(outs[1]![i]!.length);
    expect(closeness(g, outs[1]![i]!, tol), `${what} output ${i}`).toBeLessThanOrEqual(0);
  });
}

describe.skipIf(webgpu.skip !== null)('gpujs-webgpu: layers above 2^23 elements equal wasm', () => {
  it('R50x3 stage-4 3x3 weight: WS forward/backward and the conv forward/gradInput/gradWeight', async () => {
    const c = 1536;
    const fanIn = c * 9;
    const w = values(c * fanIn, 1, 0.1);
    const dyW = values(c * fanIn, 2, 1e-3);
    await agree(
      [w, dyW],
      (b, [wb, dy]) => {
        const s = b.weightStandardize(wb!, c, fanIn, 1e-10);
        const dw = b.weightStandardizeBackward(dy!, wb!, s.mean, s.rstd, c, fanIn);
        return [s.y, s.mean, s.rstd, dw];
      },
      TOL.linear,
      'weightStandardize',
    );
    const g: Conv2dGeom = {
      n: 1,
      cin: c,
      h: 1,
      w: 1,
      cout: c,
      kh: 3,
      kw: 3,
      stride: 1,
      pad: 1,
      groups: 1,
      oh: 1,
      ow: 1,
    };
    await agree(
      [values(c, 3, 1), w, values(c, 4, 1)],
      (b, [x, wb, dy]) => [b.conv2d(x!, wb!, g), b.conv2dGradInput(dy!, wb!, g), b.conv2dGradWeight(x!, dy!, g)],
      TOL.linear,
      'conv 3x3',
    );
  }, 240_000);

  it('the BiT-M 21,843-class head: forward, gradInput, gradWeight', async () => {
    const [cin, cout] = [2048, 21843];
    const g: Conv2dGeom = { n: 1, cin, h: 1, w: 1, cout, kh: 1, kw: 1, stride: 1, pad: 0, groups: 1, oh: 1, ow: 1 };
    await agree(
      [values(cin, 5, 1), values(cout * cin, 6, 0.05), values(cout, 7, 1)],
      (b, [x, w, dy]) => [b.conv2d(x!, w!, g), b.conv2dGradInput(dy!, w!, g), b.conv2dGradWeight(x!, dy!, g)],
      TOL.linear,
      'head',
    );
  }, 240_000);
});
