/**
 * Regression tests for the gpu.js rules learned the hard way: one GPU instance per backend and kernels built once
 * (stats), immutable outputs, loops longer than gpu.js's silent 1000-iteration cap, tensors above 2^24 elements
 * (f32 index precision on webasm), no silent fallback, kernels surviving tsx/esbuild, webgpu probing, and the
 * chunked paths of every primitive (forced with a tiny chunk limit) against the reference backend.
 */

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { BackendError } from '../../../../src/errors.js';
import { GpujsContext } from '../../../../src/tensor/backends/gpujs/context.js';
import { DeviceArray, emptyTransferStats } from '../../../../src/tensor/backends/gpujs/device.js';
import { createGpujsBackend, probeGpujs } from '../../../../src/tensor/backends/gpujs/index.js';
import { type Arr, host, type KernelFn, type OpGen } from '../../../../src/tensor/backends/gpujs/op-gen.js';
import { TOL } from '../../../tolerances.js';
import { assertRunnable, webgpuRequired } from '../../../webgpu-required.js';
import { backendPool, MODES, rand, ref, same, stridesOf, up, view } from './helpers.js';

const pool = backendPool();
const small = backendPool({ chunkLimit: 64 });
afterAll(() => {
  pool.dispose();
  small.dispose();
});

for (const mode of MODES)
  describe.skipIf(mode.skip !== null)(`gpujs-${mode.name} regressions`, () => {
    it('one GPU instance per backend; a kernel is built once and its stats count calls', async () => {
      assertRunnable(mode);
      const before = GpujsContext.gpuInstances;
      const b = await createGpujsBackend(mode.name);
      const x = b.upload(rand(50, 1), 'float32');
      const outs = [0, 1, 2].map(() => b.unary('exp', x));
      outs.push(b.unary('neg', x));
      // webgpu runs kernels asynchronously: the stats are complete once every output has been read.
      await Promise.all(outs.map((o) => b.read(o)));
      expect(GpujsContext.gpuInstances - before).toBe(1);
      const exp = b.stats().filter((s) => s.name === 'unary.exp');
      expect(exp).toHaveLength(1);
      expect(exp[0]!.calls).toBe(2);
      expect(exp[0]!.buildMs).toBeGreaterThan(0);
      b.dispose();
    });

    it('outputs are immutable: consecutive calls give distinct, unchanged arrays', async () => {
      const b = await pool.get(mode);
      const x1 = b.upload([1, 2, 3, 4], 'float32');
      const x2 = b.upload([5, 6, 7, 8], 'float32');
      const y1 = b.unary('square', x1);
      const snap = await b.read(y1);
      const y2 = b.unary('square', x2);
      expect([...(await b.read(y1))]).toEqual([...snap]);
      expect([...(await b.read(y2))]).toEqual([25, 36, 49, 64]);
      // The kernels' own output storage (a host array, or on webgpu the device buffer), not read()'s copies.
      const held = async (y: unknown) => {
        const h = y as { data: Float32Array | null; pending: Promise<Arr> | null };
        const d = h.data ?? (await h.pending!);
        return d instanceof DeviceArray ? d.handle.buffer : d.buffer;
      };
      const g1 = await held(y1);
      const g2 = await held(y2);
      expect(g1).not.toBe(g2);
    });

    it('loops longer than 1000 iterations run in full (reduce over 5000, GroupNorm rows of 3000)', async () => {
      const b = await pool.get(mode);
      const ones = b.upload(new Float32Array(2 * 5000).fill(1), 'float32');
      expect([...(await b.read(b.reduce('sum', ones, 2, 5000)))]).toEqual([5000, 5000]);
      const x = rand(3000, 3);
      x[2999] = 50;
      expect([...(await b.read(b.reduce('argmax', b.upload(x, 'float32'), 1, 3000)))]).toEqual([2999]);
      const gg = { n: 1, c: 2, hw: 1500, groups: 1, eps: 1e-5 };
      const gx = rand(3000, 4);
      const go = b.groupNorm(b.upload(gx, 'float32'), up(b, [1, 1]), up(b, [0, 0]), gg);
      const ro = ref.groupNorm(up(ref, gx), up(ref, [1, 1]), up(ref, [0, 0]), gg);
      await same(b, go.y, ro.y, { rtol: 1e-4, atol: 1e-5 }, 'gn long rows');
    });

    it('tensors above 2^24 elements: add with broadcast and strided copy stay exact', async () => {
      const b = await pool.get(mode);
      const n = 2 ** 24 + 1000;
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = i % 4093;
      const ga = b.upload(a, 'float32');
      const bias = b.upload([0.5], 'float32');
      const sum = await b.read(b.binary('add', view(ga, [n]), { buf: bias, shape: [n], strides: [0], offset: 0 }, [n]));
      for (const i of [0, 1, 2 ** 24 - 1, 2 ** 24, 2 ** 24 + 1, 2 ** 24 + 3, n - 1])
        expect(sum[i]).toBe((i % 4093) + 0.5);
      // copy the tail [1000, n) into [0, n - 1000) of a fresh buffer: offsets above 2^24 on both sides.
      const dst = b.alloc(n, 'float32');
      const m = n - 1000;
      b.copy({ buf: ga, shape: [m], strides: [1], offset: 1000 }, { buf: dst, shape: [m], strides: [1], offset: 0 });
      const d = await b.read(dst);
      for (const i of [0, 2 ** 23 + 5, 2 ** 24 - 1000, m - 1]) expect(d[i]).toBe((i + 1000) % 4093);
      expect(d[m]).toBe(0);
      let bad = 0;
      for (let i = 0; i < m; i += 7) if (d[i] !== (i + 1000) % 4093) bad++;
      expect(bad).toBe(0);
    });

    it('every primitive is correct on its chunked path (chunk limit 64) vs the reference', async () => {
      const b = await small.get(mode);
      const sh = [3, 5, 7];
      const x = rand(105, 1);
      const y = rand(7, 2);
      const perm = { shape: sh, strides: [1, 21, 3], offset: 0 };
      const bc = { shape: sh, strides: [0, 0, 1], offset: 0 };
      await same(
        b,
        b.binary('mul', { buf: up(b, x), ...perm }, { buf: up(b, y), ...bc }, sh),
        ref.binary('mul', { buf: up(ref, x), ...perm }, { buf: up(ref, y), ...bc }, sh),
        TOL.elementwise,
        'binary',
      );
      await same(
        b,
        b.where({ buf: up(b, x), ...perm }, { buf: up(b, y), ...bc }, view(up(b, x), sh), sh),
        ref.where({ buf: up(ref, x), ...perm }, { buf: up(ref, y), ...bc }, view(up(ref, x), sh), sh),
        TOL.elementwise,
        'where',
      );
      await same(b, b.unary('exp', up(b, x)), ref.unary('exp', up(ref, x)), TOL.elementwise, 'unary');
      const dv = { shape: [5, 7], strides: [1, 5], offset: 3 };
      const gd = b.upload(rand(40, 9), 'float32');
      const rd = ref.upload(rand(40, 9), 'float32');
      b.copy({ buf: up(b, x), shape: [5, 7], strides: [7, 1], offset: 35 }, { buf: gd, ...dv });
      ref.copy({ buf: up(ref, x), shape: [5, 7], strides: [7, 1], offset: 35 }, { buf: rd, ...dv });
      await same(b, gd, rd, { rtol: 0, atol: 0 }, 'copy');
      const f = b.alloc(150, 'float32');
      b.fill(f, 3);
      expect((await b.read(f)).every((v) => v === 3)).toBe(true);
      for (const op of ['sum', 'max', 'argmax', 'argmin'] as const) {
        const r = rand(2 * 150, 5);
        await same(
          b,
          b.reduce(op, up(b, r), 2, 150),
          ref.reduce(op, up(ref, r), 2, 150),
          TOL.linear,
          `reduce ${op} inner > limit`,
        );
        await same(
          b,
          b.reduce(op, up(b, r), 20, 15),
          ref.reduce(op, up(ref, r), 20, 15),
          TOL.linear,
          `reduce ${op} rows`,
        );
      }
      const mg = { batch: 5, m: 3, k: 4, n: 5, transA: true, transB: false };
      const ma = rand(60, 6);
      const mb = rand(100, 7);
      await same(b, b.matmul(up(b, ma), up(b, mb), mg), ref.matmul(up(ref, ma), up(ref, mb), mg), TOL.linear, 'matmul');
      const cg = { n: 3, cin: 2, h: 4, w: 4, cout: 2, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1, oh: 4, ow: 4 };
      const cx = rand(96, 8);
      const cw = rand(36, 9);
      const cdy = rand(96, 10);
      await same(b, b.conv2d(up(b, cx), up(b, cw), cg), ref.conv2d(up(ref, cx), up(ref, cw), cg), TOL.linear, 'conv');
      await same(
        b,
        b.conv2dGradInput(up(b, cdy), up(b, cw), cg),
        ref.conv2dGradInput(up(ref, cdy), up(ref, cw), cg),
        TOL.linear,
        'dx',
      );
      await same(
        b,
        b.conv2dGradWeight(up(b, cx), up(b, cdy), cg),
        ref.conv2dGradWeight(up(ref, cx), up(ref, cdy), cg),
        TOL.linear,
        'dw',
      );
      const c1 = { ...cg, kh: 1, kw: 1, pad: 0, cout: 3 };
      const c1w = rand(6, 11);
      const c1dy = rand(3 * 3 * 16, 12);
      await same(
        b,
        b.conv2dGradWeight(up(b, cx), up(b, c1dy), c1),
        ref.conv2dGradWeight(up(ref, cx), up(ref, c1dy), c1),
        TOL.linear,
        '1x1 dw',
      );
      await same(
        b,
        b.conv2d(up(b, cx), up(b, c1w), c1),
        ref.conv2d(up(ref, cx), up(ref, c1w), c1),
        TOL.linear,
        '1x1 conv',
      );
      // im2col + GEMM across batch groups: cols per sample 1*9*4 = 36 <= 64, one sample per group.
      const cc = { n: 3, cin: 1, h: 2, w: 2, cout: 2, kh: 3, kw: 3, stride: 1, pad: 1, groups: 1, oh: 2, ow: 2 };
      const [ccx, ccw, ccdy] = [rand(12, 13), rand(18, 14), rand(24, 15)];
      await same(
        b,
        b.conv2d(up(b, ccx), up(b, ccw), cc),
        ref.conv2d(up(ref, ccx), up(ref, ccw), cc),
        TOL.linear,
        'im2col conv',
      );
      await same(
        b,
        b.conv2dGradInput(up(b, ccdy), up(b, ccw), cc),
        ref.conv2dGradInput(up(ref, ccdy), up(ref, ccw), cc),
        TOL.linear,
        'col2im dx',
      );
      await same(
        b,
        b.conv2dGradWeight(up(b, ccx), up(b, ccdy), cc),
        ref.conv2dGradWeight(up(ref, ccx), up(ref, ccdy), cc),
        TOL.linear,
        'im2col dw',
      );
      const gg = { n: 3, c: 2, hw: 16, groups: 2, eps: 1e-5 };
      const gb = b.groupNormBackward(
        up(b, cdy),
        up(b, cx),
        up(b, [1, 2]),
        ...(() => {
          const o = b.groupNorm(up(b, cx), up(b, [1, 2]), up(b, [0, 1]), gg);
          return [o.mean, o.rstd] as const;
        })(),
        gg,
      );
      const ro = ref.groupNorm(up(ref, cx), up(ref, [1, 2]), up(ref, [0, 1]), gg);
      const rb = ref.groupNormBackward(up(ref, cdy), up(ref, cx), up(ref, [1, 2]), ro.mean, ro.rstd, gg);
      await same(b, gb.dx, rb.dx, TOL.groupNormGrad, 'gn dx');
      await same(b, gb.dgamma, rb.dgamma, TOL.groupNormGrad, 'gn dgamma');
      const p = { lr: 0.1, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 0.01, firstStep: false };
      const [pv, gv, mv] = [rand(150, 1), rand(150, 2), rand(150, 3)];
      const [bp, bm, rp, rm] = [up(b, pv), up(b, mv), up(ref, pv), up(ref, mv)];
      b.sgdUpdate(bp, up(b, gv), bm, p);
      ref.sgdUpdate(rp, up(ref, gv), rm, p);
      await same(b, bp, rp, TOL.elementwise, 'sgd');
      await same(b, bm, rm, TOL.elementwise, 'sgd buf');
      expect(stridesOf([2, 3])).toEqual([3, 1]);
    });
  });

describe('gpujs backend selection', () => {
  it('a kernel that falls back to the cpu backend throws BackendError', () => {
    const ctx = new GpujsContext('webasm', { ...emptyTransferStats() });
    // A Boolean return type is not supported on webasm: gpu.js would silently degrade to its cpu kernel.
    const fn = function (this: { thread: { x: number } }, a: Float32Array) {
      return a[this.thread.x]! > 0;
    } as unknown as (...args: unknown[]) => number;
    expect(() =>
      ctx.launch({ spec: { name: 'bool', fn, constants: {}, output: 4 }, args: [new Float32Array(4)] }),
    ).toThrow(/fallback: return type Boolean/);
    ctx.dispose();
  });

  it('probe lists webasm, cpu and webgpu; webgpu without an adapter says why', async () => {
    const rows = await probeGpujs();
    expect(rows.map((r) => r.mode)).toEqual(['webasm', 'cpu', 'webgpu']);
    expect(rows[0]!.available && rows[1]!.available).toBe(true);
    const wg = rows[2]!;
    // Under BIT_REQUIRE_WEBGPU=1 (CI with a software adapter) the probe must find one.
    if (webgpuRequired()) expect(wg.reason).toBeNull();
    if (!wg.available) {
      expect(wg.reason).toMatch(/adapter|webgpu/);
      await expect(createGpujsBackend('webgpu')).rejects.toBeInstanceOf(BackendError);
    }
  });

  it('kernels survive tsx (esbuild) as well as vitest', () => {
    const script = fileURLToPath(new URL('./tsx-smoke.ts', import.meta.url));
    const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.kernels).toBeGreaterThan(3);
    expect(Number.isFinite(out.conv) && Number.isFinite(out.matmul)).toBe(true);
  });
});

describe('gpujs async buffer plumbing (the webgpu path, driven by cpu kernels)', () => {
  it('ops issue synchronously, chain on Promises, keep in-place order; readSync throws', async () => {
    const sync = await createGpujsBackend('cpu');
    const asy = await createGpujsBackend('cpu', { asyncBuffers: true });
    const run = (b: typeof sync) => {
      const x = b.upload(rand(24, 1), 'float32');
      const y = b.binary(
        'mul',
        view(x, [4, 6]),
        { buf: b.upload(rand(6, 2), 'float32'), shape: [4, 6], strides: [0, 1], offset: 0 },
        [4, 6],
      );
      const before = b.unary('neg', y);
      b.copy({ buf: x, shape: [6, 4], strides: [1, 6], offset: 0 }, view(y, [6, 4]));
      const mom = b.alloc(24, 'float32');
      b.sgdUpdate(y, x, mom, {
        lr: 0.5,
        momentum: 0.9,
        dampening: 0,
        nesterov: false,
        weightDecay: 0,
        firstStep: true,
      });
      const s = b.reduce('sum', y, 4, 6);
      const cv = b.conv2d(x, b.upload(rand(4, 3), 'float32'), {
        n: 1,
        cin: 1,
        h: 4,
        w: 6,
        cout: 1,
        kh: 2,
        kw: 2,
        stride: 2,
        pad: 0,
        groups: 1,
        oh: 2,
        ow: 3,
      });
      return [before, y, mom, s, cv];
    };
    const want = await Promise.all(run(sync).map((b) => sync.read(b)));
    const outs = run(asy);
    expect(() => asy.readSync(outs[0]!)).toThrow(BackendError);
    const got = await Promise.all(outs.map((b) => asy.read(b)));
    for (let i = 0; i < got.length; i++) expect([...got[i]!]).toEqual([...want[i]!]);
    sync.dispose();
    asy.dispose();
  });
});

describe('gpujs kernel cache', () => {
  it('evicts least-recently-used kernels beyond maxKernels, rebuilds on demand, keeps their stats', () => {
    const ctx = new GpujsContext('webasm', { ...emptyTransferStats() }, null, 2);
    const fn = function (this: { thread: { x: number }; constants: { k: number } }, a: Float32Array) {
      return a[this.thread.x]! * this.constants.k;
    } as unknown as KernelFn;
    const run = (k: number) =>
      ctx.runSync(
        (function* (): OpGen<Float32Array> {
          const r = yield {
            spec: { name: `scale${k}`, fn, constants: { k }, output: 3 },
            args: [new Float32Array([1, 2, 3])],
          };
          return host(r, 'test');
        })(),
      );
    expect([...run(2)]).toEqual([2, 4, 6]);
    run(3);
    run(4);
    expect(ctx.kernelCount()).toBe(2);
    expect([...run(2)]).toEqual([2, 4, 6]);
    expect(ctx.stats().map((s) => s.name)).toEqual(['scale2', 'scale3', 'scale4']);
    ctx.dispose();
  });
});
