// Strided views above the window limit on webgpu (issue 20): an operand larger than an input window (2 x the cell
// limit, 2^24 elements at full size) is bound whole as a 2-D array of rows and read as A[row][column], each index an
// exact f32 integer, the flat index formed in i32 by gpu.js; so a binary op or copy over a transposed view of any size
// splits only its output (ceil(cells / limit) launches), with no per-row launches and no window copies. Checked at
// chunk limit 64 on every mode against the reference (webgpu by rows, cpu / webasm by windows: values only), random
// permuted and sliced views (fast-check), and at full size on webgpu: a transposed [4097, 4097] (16.8M > 2^24).
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { TOL } from '../../../tolerances.js';
import { backendPool, MODES, rand, ref, same, stridesOf, up } from './helpers.js';

const small = backendPool({ chunkLimit: 64 });
const full = backendPool();
afterAll(() => {
  small.dispose();
  full.dispose();
});

const EXACT = { rtol: 0, atol: 0 };

for (const mode of MODES) {
  describe.skipIf(mode.skip !== null)(`gpujs-${mode.name} views above the window limit (limit 64)`, () => {
    it('div and copy over a transposed [20, 30] operand (600 elements > 2 x 64) equal the reference', async () => {
      const b = await small.get(mode);
      const [r, c] = [20, 30];
      const x = rand(r * c, 3);
      const y = rand(r * c, 4, 0.5, 1.5);
      const t = { shape: [c, r], strides: [1, c], offset: 0 }; // x^T
      const plain = { shape: [c, r], strides: [r, 1], offset: 0 };
      const s0 = b.transfers();
      const got = b.binary('div', { buf: up(b, x), ...t }, { buf: up(b, y), ...plain }, [c, r]);
      const want = ref.binary('div', { buf: up(ref, x), ...t }, { buf: up(ref, y), ...plain }, [c, r]);
      await same(b, got, want, TOL.elementwise, 'div');
      const s1 = b.transfers();
      const dst = b.alloc(r * c, 'float32');
      const rdst = ref.alloc(r * c, 'float32');
      b.copy({ buf: up(b, x), ...t }, { buf: dst, ...plain });
      ref.copy({ buf: up(ref, x), ...t }, { buf: rdst, ...plain });
      await same(b, dst, rdst, EXACT, 'copy');
      const s2 = b.transfers();
      if (mode.name === 'webgpu') {
        // Output rows of 20 cells, 3 a launch: ceil(30 / 3) = 10 launches (windows would take 120), and the only
        // device copies are the 10 output pieces (no window of an operand is copied out).
        expect(s1.launches - s0.launches).toBe(10);
        expect(s1.deviceCopies - s0.deviceCopies).toBe(10);
        // copy writes dst windows of at most 64 cells: 600 / 64 -> 10 launches, each piece copied into place.
        expect(s2.launches - s1.launches).toBe(10);
      }
    });

    it('random permuted, sliced and broadcast views: binary and copy equal the reference', async () => {
      const b = await small.get(mode);
      let seed = 10;
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 9, max: 17 }),
          fc.integer({ min: 9, max: 17 }),
          fc.integer({ min: 2, max: 3 }),
          fc.integer({ min: 0, max: 5 }),
          fc.boolean(),
          async (n0, n1, n2, off, bcast) => {
            // x stored [n0, n1, n2] after `off` leading elements; the view is its permutation (2, 0, 1), shape
            // [n2, n0, n1]. The other operand is contiguous, or broadcast along dim 0 (stride 0).
            const size = off + n0 * n1 * n2;
            const x = rand(size, seed++);
            const [s0, s1, s2] = stridesOf([n0, n1, n2]);
            const shape = [n2, n0, n1];
            const xv = { shape, strides: [s2!, s0!, s1!], offset: off };
            const yv = bcast
              ? { shape, strides: [0, n1, 1], offset: 0 }
              : { shape, strides: stridesOf(shape), offset: 0 };
            const y = rand(bcast ? n0 * n1 : n0 * n1 * n2, seed++, 0.5, 1.5);
            const got = b.binary('sub', { buf: up(b, x), ...xv }, { buf: up(b, y), ...yv }, shape);
            const want = ref.binary('sub', { buf: up(ref, x), ...xv }, { buf: up(ref, y), ...yv }, shape);
            await same(b, got, want, TOL.elementwise, `sub [${shape}] off ${off}`);
            const cells = n0 * n1 * n2;
            const dst = b.alloc(cells, 'float32');
            const rdst = ref.alloc(cells, 'float32');
            const dv = { shape, strides: stridesOf(shape), offset: 0 };
            b.copy({ buf: up(b, x), ...xv }, { buf: dst, ...dv });
            ref.copy({ buf: up(ref, x), ...xv }, { buf: rdst, ...dv });
            await same(b, dst, rdst, EXACT, `copy [${shape}] off ${off}`);
          },
        ),
        { numRuns: 6, seed: 20 },
      );
    }, 60_000);
  });
}

const webgpu = MODES.find((m) => m.name === 'webgpu')!;
describe.skipIf(webgpu.skip !== null)('gpujs-webgpu: a transposed [4097, 4097] operand (above 2^24 elements)', () => {
  it('div and copy over it are 3 launches each and exact', async () => {
    const b = await full.get(webgpu);
    const n = 4097;
    const total = n * n; // 16,785,409 > 2^24 = 16,777,216
    const x = new Float32Array(total);
    const y = new Float32Array(total);
    for (let i = 0; i < total; i++) {
      x[i] = (i % 1013) + 1;
      y[i] = (i % 7) + 1;
    }
    const t = { shape: [n, n], strides: [1, n], offset: 0 }; // x^T[i, j] = x[j * n + i]
    const plain = { shape: [n, n], strides: [n, 1], offset: 0 };
    const xb = up(b, x);
    const yb = up(b, y);
    const t0 = performance.now();
    const s0 = b.transfers();
    const out = b.binary('div', { buf: xb, ...t }, { buf: yb, ...plain }, [n, n]);
    const got = await b.read(out);
    const t1 = performance.now();
    const s1 = b.transfers();
    const dst = b.alloc(total, 'float32');
    b.copy({ buf: xb, ...t }, { buf: dst, ...plain });
    const copied = await b.read(dst);
    const t2 = performance.now();
    const s2 = b.transfers();
    console.log(
      `transposed [${n}, ${n}] on webgpu: div ${s1.launches - s0.launches} launches ${(t1 - t0).toFixed(0)} ms, ` +
        `copy ${s2.launches - s1.launches} launches ${(t2 - t1).toFixed(0)} ms (incl. one 67 MB readback each)`,
    );
    // 2,047 output rows of 4,097 cells a launch (<= 2^23): 3 launches each.
    expect(s1.launches - s0.launches).toBe(3);
    expect(s2.launches - s1.launches).toBe(3);
    let bad = 0;
    let badCopy = 0;
    // Every 97th column of every row, plus the last rows in full (the last operand row sits above 2^24).
    for (let i = 0; i < n; i++) {
      for (let j = i >= n - 3 ? 0 : i % 97; j < n; j += i >= n - 3 ? 1 : 97) {
        const xt = x[j * n + i]!;
        const want = Math.fround(xt / y[i * n + j]!);
        // WGSL division may be off by 2.5 ULP: a wrong element (off by a row or column) is off by far more.
        if (Math.abs(got[i * n + j]! - want) > 1e-6 * want) bad++;
        if (copied[i * n + j] !== xt) badCopy++;
      }
    }
    expect(bad).toBe(0);
    expect(badCopy).toBe(0);
  }, 180_000);
});
