/**
 * col2imS2: col2im (./kernels-col2im.ts) for the stride-2 convs of ResNet-style nets on even maps (h = 2*oh,
 * w = 2*ow): 3x3 pad 1 (the bottleneck's strided 3x3) and 1x1 pad 0 (the projection), with ow = 2 or a multiple
 * of 4. Instead of scattering tap by tap (small maps took col2im's scalar path: ~4 ns a column element), each dx
 * row is gathered by output-pixel parity (polyphase): with input row iy = 2a + py and column ix = 2b + px,
 *   (even, even)  = 0 + c11[a][b]
 *   (even, odd)   = (0 + c10[a][b+1]) + c12[a][b]
 *   (odd, even)   = (0 + c01[a+1][b]) + c21[a][b]
 *   (odd, odd)    = (((0 + c00[a+1][b+1]) + c02[a+1][b]) + c20[a][b+1]) + c22[a][b]
 * (cKK[a][b]: the column row of tap (ky, kx) at output pixel (a, b); a 1x1 kernel has only (even, even) = 0 + c[a][b]
 * and zeros elsewhere), four b at a time in f32x4 lanes, the even / odd columns interleaved into eight dx.
 * Invariant: every dx element is col2im's sum: the same terms added one by one in (ky, kx) order onto +0; a term
 * outside the map (a + 1 = oh, b + 1 = ow) is replaced by +0, which changes nothing since these sums are never -0
 * (they start from +0). Planes [p0, p1) of (n, ci) as col2im; every dx element is written (no zeroing needed).
 */

import { add, divU, lit, ltU, mul, remU, shl } from './emit-expr.js';
import { lanes32 } from './kernels-transpose.js';
import { I32, type ModuleBuilder, Simd, V128 } from './module-builder.js';

const Z16 = new Array(16).fill(0);
/** Interleave the low / high halves of two f32x4 (a0 b0 a1 b1 / a2 b2 a3 b3). */
const LO = lanes32(0, 4, 1, 5);
const HI = lanes32(2, 6, 3, 7);
/** Lanes 1..4 of (v, next): the vector one pixel to the right. */
const SHIFT1 = lanes32(1, 2, 3, 4);

/** Adds col2imS2 to `m`. */
export function emitCol2imS2(m: ModuleBuilder): void {
  // col2imS2(cols, ldcBytes, dx, cin, oh, ow, k3, plane0, plane1): k3 = 1 for 3x3 pad 1, 0 for 1x1 pad 0
  const params = {
    cols: I32,
    ldc: I32,
    dx: I32,
    cin: I32,
    oh: I32,
    ow: I32,
    k3: I32,
    plane0: I32,
    plane1: I32,
  } as const;
  m.kernel('col2imS2', params, (f, { cols, ldc, dx, cin, oh, ow, k3, plane0, plane1 }) => {
    const { p, ci, base, a, b, dst, dxRowB, last } = f.locals({
      p: I32,
      ci: I32,
      base: I32,
      a: I32,
      b: I32,
      dst: I32,
      dxRowB: I32,
      last: I32,
    });
    const { e0, o0, e1 } = f.locals({ e0: V128, o0: V128, e1: V128 });
    /** Push the 4 (two, ow = 2: 2, zero padded) values of tap `tap` at output row a + da, columns b.. */
    const load = (tap: number, da: number, two: boolean) => {
      // src = base + tap*ldc + ((a + da)*ow + b)*4
      f.push(add(add(base, mul(lit(tap), ldc)), shl(add(mul(add(a, lit(da)), ow), b), 2)));
      if (two) f.simd(Simd.load64Zero, 3, 0);
      else f.vload(0);
    };
    /** Push tap `tap` at row a + da, columns b+1.. (the column past the row's end is +0). */
    const loadShift = (tap: number, da: number, two: boolean) => {
      load(tap, da, two);
      if (two) {
        f.simd(Simd.const, ...Z16);
      } else {
        // the next block's first value, or +0 on the row's last block
        f.get(last).if(
          () => f.simd(Simd.const, ...Z16).set(e1),
          () => {
            f.push(add(add(base, mul(lit(tap), ldc)), shl(add(mul(add(a, lit(da)), ow), b), 2)));
            f.vload(16).set(e1);
          },
        );
        f.get(e1);
      }
      f.simd(Simd.shuffle, ...SHIFT1);
    };
    const zero = () => f.simd(Simd.const, ...Z16);
    const plus = () => f.simd(Simd.f32x4Add);
    /** Store interleave(ev, od) at dst (+ the high half at dst + 16 unless two). */
    const storeRow = (ev: number, od: number, two: boolean) => {
      f.get(dst)
        .get(ev)
        .get(od)
        .simd(Simd.shuffle, ...LO)
        .vstore(0);
      if (!two)
        f.get(dst)
          .get(ev)
          .get(od)
          .simd(Simd.shuffle, ...HI)
          .vstore(16);
    };
    const body = (two: boolean) => {
      // dst = the dx row 2a at column 2b
      f.assign(dst, add(add(dx, mul(p, shl(mul(oh, ow), 4))), add(mul(a, shl(dxRowB, 1)), shl(b, 3))));
      f.get(k3).if(
        () => {
          // tap (ky, kx) is column row ky*3 + kx
          zero();
          load(4, 0, two);
          plus();
          f.set(e0);
          zero();
          loadShift(3, 0, two);
          plus();
          load(5, 0, two);
          plus();
          f.set(o0);
          storeRow(e0, o0, two);
          f.incBy(dst, dxRowB);
          f.push(ltU(add(a, lit(1)), oh)).if(
            () => {
              zero();
              load(1, 1, two);
              plus();
              load(7, 0, two);
              plus();
              f.set(e0);
              zero();
              loadShift(0, 1, two);
              plus();
              load(2, 1, two);
              plus();
              loadShift(6, 0, two);
              plus();
              load(8, 0, two);
              plus();
              f.set(o0);
            },
            () => {
              // the last output row: no ky = 0 taps (they would read row oh); (0 + 0) + c = 0 + c
              zero();
              load(7, 0, two);
              plus();
              f.set(e0);
              zero();
              loadShift(6, 0, two);
              plus();
              load(8, 0, two);
              plus();
              f.set(o0);
            },
          );
          storeRow(e0, o0, two);
        },
        () => {
          zero();
          load(0, 0, two);
          plus();
          f.set(e0);
          zero();
          f.set(o0);
          storeRow(e0, o0, two);
          f.incBy(dst, dxRowB);
          zero().set(e1);
          storeRow(e1, e1, two);
        },
      );
    };
    f.assign(dxRowB, shl(ow, 3)); // a dx row: w = 2*ow floats
    f.for(
      p,
      () => f.get(plane0),
      () => f.get(plane1),
      1,
      () => {
        // base = cols + (ci*taps)*ldc + n*oh*ow*4, taps = 9 (k3) or 1
        f.assign(ci, remU(p, cin));
        f.assign(
          base,
          add(cols, add(mul(mul(ci, add(lit(1), mul(k3, lit(8)))), ldc), shl(mul(divU(p, cin), mul(oh, ow)), 2))),
        );
        f.range(a, oh, () => {
          f.push(ltU(ow, lit(4))).if(
            () => {
              f.assign(b, lit(0));
              body(true);
            },
            () => {
              f.assign(b, lit(0));
              f.loop((next) => {
                f.assign(last, ltU(ow, add(b, lit(5))));
                body(false);
                f.inc(b, 4);
                f.push(ltU(b, ow)).brIf(next);
              });
            },
          );
        });
      },
    );
  });
}
