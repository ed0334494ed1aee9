/**
 * The wasm `conv2dAdd`: y = conv2d(x, w) + r, the residual add folded into the conv that produces it.
 *
 * Which lowerings fuse: every conv whose GEMM stores straight into y (./conv.ts `segmentedGemm`'s direct branch:
 * 1x1 stride-1 convs and im2col GEMMs, single-tap and cropped kernels included, on maps whose oh*ow is a multiple of
 * 4, or batch 1) adds r in the micro-kernel's store on the last KC block (the R kernel variants, ./kernels-gemm.ts,
 * and those of the 5x8 tile, ./kernels-gemm-rows.ts): C = (acc + C) + R, per element the order of the conv's store
 * followed by the add pass, so the bits equal conv2d then binary('add'). The others (Winograd, thin-input, 1x1
 * output maps, the GEMM-into-temporary path of maps like 7x7, grouped convs) run the conv into y and then one
 * in-place add pass y = y + r (the `add` kernel, same operand order): no fused store there, but no second output
 * buffer either.
 *
 * Switch: env BIT_WASM_RESADD_STORE=0 (read at backend creation) turns the fused store off (every conv then takes
 * the in-place add pass), for A/B runs of the store itself.
 */

import { envOn } from '../../../env.js';
import type { Backend, BackendBuffer, Conv2dGeom } from '../../backend.js';
import { convForward } from './conv.js';
import { need, runSplit } from './split.js';
import type { WasmBuffer, WasmState } from './state.js';

/** A conv kernel as ops-nn's conv helper runs it: byte pointers into the shared memory, y fresh. */
export type ConvKernel = (s: WasmState, x: number, w: number, y: number, g: Conv2dGeom, wBuf: WasmBuffer) => void;

/** Whether the GEMM store adds the residual: on unless env BIT_WASM_RESADD_STORE=0. */
export function residualStoreEnabled(): boolean {
  return envOn('BIT_WASM_RESADD_STORE');
}

/** y = y + r over `size` floats (byte pointers), in place, split over the threads. */
function addInPlace(s: WasmState, y: number, r: number, size: number): void {
  runSplit(s, size, size, 16, (lo, hi) => ({ fn: 'add', args: [y, r, y, lo, hi] }));
}

/**
 * The backend method. `conv(x, w, g, kernel)` is ops-nn's conv helper (geometry and size checks, grouped convs on
 * the reference loops) running `kernel` into a fresh output buffer.
 */
export function makeConv2dAdd(
  s: WasmState,
  conv: (x: BackendBuffer, w: BackendBuffer, g: Conv2dGeom, kernel: ConvKernel) => WasmBuffer,
): Backend['conv2dAdd'] {
  const store = residualStoreEnabled();
  return (x, w, r, g) => {
    const R = s.buf(r, 'conv2dAdd');
    const size = g.n * g.cout * g.oh * g.ow;
    need('conv2dAdd', R, size, 'r');
    let added = false;
    const y = conv(x, w, g, (st, px, pw, py, g2, wBuf) => {
      added = convForward(st, px, pw, py, g2, wBuf, store ? R.ptr : undefined);
    });
    if (!added) addInPlace(s, y.ptr, R.ptr, size);
    return y;
  };
}
