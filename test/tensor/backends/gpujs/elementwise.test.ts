/**
 * gpu.js backend, elementwise and movement primitives vs the reference backend (fast-check, small shapes):
 * unary, binary with broadcast/permuted strided views, where, strided copy into strided dst, fill, cast, reduce.
 */

import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { BinaryOp, ReduceOp, StridedView, UnaryOp } from '../../../../src/tensor/backend.js';
import { TOL } from '../../../tolerances.js';
import { backendPool, MODES, rand, ref, retarget, same, stridesOf, up, view } from './helpers.js';

const pool = backendPool();
afterAll(() => pool.dispose());

const UNARY: UnaryOp[] = [
  'neg',
  'abs',
  'exp',
  'log',
  'sqrt',
  'rsqrt',
  'relu',
  'sigmoid',
  'tanh',
  'sign',
  'square',
  'reciprocal',
];
const BINARY: BinaryOp[] = [
  'add',
  'sub',
  'mul',
  'div',
  'pow',
  'maximum',
  'minimum',
  'eq',
  'ne',
  'lt',
  'le',
  'gt',
  'ge',
];
const POSITIVE = new Set(['log', 'sqrt', 'rsqrt', 'reciprocal']);

/** A random view of `shape`: broadcast (stride 0) on some dims, or a transposed base. */
const arbCase = fc.record({
  shape: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }),
  bcastA: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
  bcastB: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
  permA: fc.boolean(),
  offset: fc.integer({ min: 0, max: 3 }),
  seed: fc.integer({ min: 1, max: 1e6 }),
});

/** Build the view and its backing data: data has `offset` leading pad, dims broadcast where asked. */
function makeView(shape: number[], bcast: boolean[], perm: boolean, offset: number, seed: number, pos: boolean) {
  const eff = shape.map((s, i) => (bcast[i] ? 1 : s));
  const n = eff.reduce((a, b) => a * b, 1);
  const data = rand(offset + n, seed, pos ? 0.5 : -2, 2);
  let strides = stridesOf(eff);
  if (perm && eff.length > 1) {
    // Store the base transposed: reverse-order strides over the same data.
    const rev = stridesOf([...eff].reverse()).reverse();
    strides = rev;
  }
  strides = strides.map((s, i) => (bcast[i] ? 0 : s));
  return { data, v: { shape, strides, offset } };
}

for (const mode of MODES)
  describe.skipIf(mode.skip !== null)(`gpujs-${mode.name} elementwise`, () => {
    it('unary ops match the reference', async () => {
      const g = await pool.get(mode);
      for (const op of UNARY) {
        const x = rand(37, op.length * 7 + 1, POSITIVE.has(op) ? 0.1 : -3, 3);
        await same(g, g.unary(op, up(g, x)), ref.unary(op, up(ref, x)), TOL.elementwise, `unary ${op}`);
      }
    });

    it('binary ops over broadcast / permuted strided views', async () => {
      const g = await pool.get(mode);
      await fc.assert(
        fc.asyncProperty(arbCase, fc.constantFrom(...BINARY), async (c, op) => {
          const pos = op === 'pow';
          const A = makeView(c.shape, c.bcastA, c.permA, c.offset, c.seed, pos);
          const B = makeView(c.shape, c.bcastB, false, 0, c.seed + 1, op === 'div' || pos);
          const ga = g.upload(A.data, 'float32');
          const gb = g.upload(B.data, 'float32');
          const ra = ref.upload(A.data, 'float32');
          const rb = ref.upload(B.data, 'float32');
          const out = g.binary(op, { buf: ga, ...A.v }, { buf: gb, ...B.v }, c.shape);
          const want = ref.binary(op, { buf: ra, ...A.v }, { buf: rb, ...B.v }, c.shape);
          await same(g, out, want, TOL.elementwise, `binary ${op} [${c.shape}]`);
          for (const b of [ga, gb, out]) g.free(b);
        }),
        { numRuns: 40, seed: 42 },
      );
    });

    it('where over strided views', async () => {
      const g = await pool.get(mode);
      await fc.assert(
        fc.asyncProperty(arbCase, async (c) => {
          const C = makeView(c.shape, c.bcastA, false, 0, c.seed, false);
          C.data.forEach((v, i) => {
            C.data[i] = v > 0 ? 1 : 0;
          });
          const A = makeView(c.shape, c.bcastB, c.permA, c.offset, c.seed + 2, false);
          const B = makeView(c.shape, [false, false, false, false], false, 0, c.seed + 3, false);
          const vs = [C, A, B];
          const gv = vs.map((x) => ({ buf: g.upload(x.data, 'float32'), ...x.v }) as StridedView);
          const rv = vs.map((x) => ({ buf: ref.upload(x.data, 'float32'), ...x.v }) as StridedView);
          await same(
            g,
            g.where(gv[0]!, gv[1]!, gv[2]!, c.shape),
            ref.where(rv[0]!, rv[1]!, rv[2]!, c.shape),
            TOL.elementwise,
            'where',
          );
        }),
        { numRuns: 20, seed: 7 },
      );
    });

    it('copy: strided src into a strided (sliced, permuted) dst, in place', async () => {
      const g = await pool.get(mode);
      await fc.assert(
        fc.asyncProperty(arbCase, fc.boolean(), async (c, permDst) => {
          const S = makeView(c.shape, c.bcastA, c.permA, c.offset, c.seed, false);
          // dst: a slice inside a larger buffer (one extra element per dim), optionally permuted.
          const big = c.shape.map((s) => s + 1);
          let bs = stridesOf(big);
          if (permDst) bs = stridesOf([...big].reverse()).reverse();
          const dstData = rand(big.reduce((a, b) => a * b, 1) + 2, c.seed + 9);
          const dv = { shape: c.shape, strides: bs, offset: 2 };
          const gd = g.upload(dstData, 'float32');
          const rd = ref.upload(dstData, 'float32');
          g.copy({ buf: g.upload(S.data, 'float32'), ...S.v }, { buf: gd, ...dv });
          ref.copy({ buf: ref.upload(S.data, 'float32'), ...S.v }, { buf: rd, ...dv });
          await same(g, gd, rd, { rtol: 0, atol: 0 }, 'copy');
        }),
        { numRuns: 30, seed: 3 },
      );
    });

    it('copy rejects an overlapping dst view', async () => {
      const g = await pool.get(mode);
      const d = g.alloc(4, 'float32');
      const s = g.upload([1, 2, 3, 4], 'float32');
      // cpu/webasm throw at the call; webgpu validates when the op runs, so the error surfaces at read().
      const attempt = async () => {
        g.copy(view(s, [2, 2]), { buf: d, shape: [2, 2], strides: [1, 1], offset: 0 });
        return g.read(d);
      };
      await expect(attempt()).rejects.toThrow(/overlaps/);
    });

    it('fill and cast', async () => {
      const g = await pool.get(mode);
      const b = g.alloc(10, 'float32');
      g.fill(b, 2.5);
      expect([...(await g.read(b))]).toEqual(new Array(10).fill(2.5));
      const c = g.cast(b, 'float32');
      expect(c).not.toBe(b);
      expect([...(await g.read(c))]).toEqual(new Array(10).fill(2.5));
      expect(() => g.cast(b, 'float64')).toThrow(/float32/);
      expect(() => g.alloc(3, 'float64')).toThrow(/float32/);
    });

    it('reduce over the last axis', async () => {
      const g = await pool.get(mode);
      const ops: ReduceOp[] = ['sum', 'max', 'min', 'argmax', 'argmin'];
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 5 }),
          fc.integer({ min: 1, max: 40 }),
          fc.constantFrom(...ops),
          async (o, i, op) => {
            const x = rand(o * i, o * 100 + i);
            await same(g, g.reduce(op, up(g, x), o, i), ref.reduce(op, up(ref, x), o, i), TOL.linear, `reduce ${op}`);
          },
        ),
        { numRuns: 30, seed: 5 },
      );
    });

    it('retarget helper sanity (views keep shape)', () => {
      const b = ref.alloc(1, 'float32');
      expect(retarget(view(b, [1]), b).shape).toEqual([1]);
    });
  });
