/**
 * The wasm emitter layer: named params and locals, labelled branches and i32 expressions emit exactly the
 * bytes of the equivalent positional stack code (so kernels written with them compile to the same module).
 */

import { describe, expect, it } from 'vitest';
import { add, divU, f32At, lit, mul, shl, sub } from '../../../../src/tensor/backends/wasm/emit-expr.js';
import { F32, I32, ModuleBuilder, Op } from '../../../../src/tensor/backends/wasm/module-builder.js';

describe('wasm emitter', () => {
  it('named params/locals and expressions emit the positional stack code byte for byte', () => {
    const named = new ModuleBuilder().kernel('k', { x: I32, n: I32, s: F32 }, (f, { x, n }) => {
      const { i, p } = f.locals({ i: I32, p: I32 });
      f.assign(p, f32At(x, mul(i, add(n, lit(3)))));
      f.assign(i, sub(divU(p, n), shl(i, 2)));
    });
    const positional = new ModuleBuilder().fn('k', [I32, I32, F32], (f) => {
      const i = f.local(I32);
      const p = f.local(I32);
      f.get(0).get(i).get(1).i32(3).op(Op.i32Add, Op.i32Mul).i32(2).op(Op.i32Shl, Op.i32Add).set(p);
      f.get(p).get(1).op(Op.i32DivU).get(i).i32(2).op(Op.i32Shl).op(Op.i32Sub).set(i);
    });
    expect(named.encode()).toEqual(positional.encode());
  });

  it('labels compute relative branch depths through blocks, loops and ifs', () => {
    const labelled = new ModuleBuilder().kernel('k', { n: I32 }, (f, { n }) => {
      f.block((done) => {
        f.loop((next) => {
          f.get(n).if(() => {
            f.get(n).brIf(done);
            f.br(next);
          });
          f.get(n).brIf(next);
        });
      });
    });
    const positional = new ModuleBuilder().fn('k', [I32], (f) => {
      f.op(Op.block, 0x40, Op.loop, 0x40);
      f.get(0).op(Op.if, 0x40);
      f.get(0).op(Op.brIf, 2, Op.br, 1, Op.end);
      f.get(0).op(Op.brIf, 0, Op.end, Op.end);
    });
    expect(labelled.encode()).toEqual(positional.encode());
  });
});
