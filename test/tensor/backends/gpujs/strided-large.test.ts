// Strided views at device speed (issue 20, point 3): a binary op or copy over a transposed view is a few launches,
// never one per row: input windows may be twice the cell limit (exact integer offsets below 2^24), so a transposed
// operand below 2^24 elements is bound whole and only the output is split. Checked at chunk limit 64 on every mode
// (launch counts) and at full size on webgpu: `div` with a transposed [2049, 4099] operand (8.4M elements, just
// above 2^23), which took 8,198 launches and 480 s before.
import { afterAll, describe, expect, it } from 'vitest';
import type { GpujsBackend } from '../../../../src/tensor/backends/gpujs/index.js';
import { TOL } from '../../../tolerances.js';
import { backendPool, MODES, rand, ref, same, up } from './helpers.js';

const small = backendPool({ chunkLimit: 64 });
const full = backendPool();
afterAll(() => {
  small.dispose();
  full.dispose();
});

const launches = (b: GpujsBackend) => b.transfers().launches;

for (const mode of MODES) {
  describe.skipIf(mode.skip !== null)(`gpujs-${mode.name} transposed views`, () => {
    it('binary and copy over a transposed view above the cell limit take a few launches (limit 64)', async () => {
      const b = await small.get(mode);
      const [r, c] = [9, 11]; // 99 cells > 64
      const x = rand(r * c, 1);
      const y = rand(r * c, 2, 0.5, 1.5);
      const t = { shape: [c, r], strides: [1, c], offset: 0 }; // x^T
      const plain = { shape: [c, r], strides: [r, 1], offset: 0 };
      const l0 = launches(b);
      const got = b.binary('div', { buf: up(b, x), ...t }, { buf: up(b, y), ...plain }, [c, r]);
      await same(
        b,
        got,
        ref.binary('div', { buf: up(ref, x), ...t }, { buf: up(ref, y), ...plain }, [c, r]),
        TOL.elementwise,
        'div',
      );
      expect(launches(b) - l0).toBeLessThanOrEqual(3);
      const dst = b.alloc(r * c, 'float32');
      const rdst = ref.alloc(r * c, 'float32');
      const l1 = launches(b);
      b.copy({ buf: up(b, x), ...t }, { buf: dst, ...plain });
      ref.copy({ buf: up(ref, x), ...t }, { buf: rdst, ...plain });
      await same(b, dst, rdst, { rtol: 0, atol: 0 }, 'copy');
      expect(launches(b) - l1).toBeLessThanOrEqual(3);
    });
  });
}

const webgpu = MODES.find((m) => m.name === 'webgpu')!;
describe.skipIf(webgpu.skip !== null)('gpujs-webgpu: a transposed [2049, 4099] operand', () => {
  it('div over it is at most a few launches and exact', async () => {
    const b = await full.get(webgpu);
    const [r, c] = [2049, 4099];
    const n = r * c;
    const x = new Float32Array(n);
    const y = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      x[i] = (i % 1013) + 1;
      y[i] = (i % 7) + 1;
    }
    // out[i, j] = x^T[i, j] / y[i, j] with x stored [r, c]: x^T[i, j] = x[j * c + i], i < c, j < r
    const t0 = performance.now();
    const l0 = launches(b);
    const out = b.binary(
      'div',
      { buf: up(b, x), shape: [c, r], strides: [1, c], offset: 0 },
      { buf: up(b, y), shape: [c, r], strides: [r, 1], offset: 0 },
      [c, r],
    );
    const got = await b.read(out);
    const ms = performance.now() - t0;
    const used = launches(b) - l0;
    console.log(`transposed [${r}, ${c}] div on webgpu: ${used} launches, ${ms.toFixed(0)} ms incl. transfers`);
    expect(used).toBeLessThanOrEqual(3);
    let bad = 0;
    for (let i = 0; i < c; i += 1) {
      for (let j = 0; j < r; j += 97) {
        const want = Math.fround(x[j * c + i]! / y[i * r + j]!);
        if (Math.abs(got[i * r + j]! - want) > 1e-6 * Math.abs(want)) bad++;
      }
    }
    expect(bad).toBe(0);
    expect(got[n - 1]).toBeCloseTo(x[n - 1]! / y[n - 1]!, 4);
  }, 120_000);
});
