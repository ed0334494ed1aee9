/**
 * A harness for the GEMM packer tests (pack8t.test.ts, pack-rows.test.ts): the packer kernels emitted into a module
 * of their own over a 4 MiB unshared memory, sources at byte 0 .. 2 MiB and the destination at 2 MiB .. 4 MiB, and a
 * `run` that poisons the destination with NaN before a call, so two packers' outputs (and the bytes around them)
 * can be compared exactly with `sameBytes`.
 */

import { ModuleBuilder } from '../../../../src/tensor/backends/wasm/module-builder.js';
import { WA } from '../../../../src/tensor/backends/wasm/wasm-api.js';

export const NOSEG = 2 ** 30;
/** Source floats at byte 0 .. 2 MiB. */
export const SRC = 0;
/** Destination at 2 MiB .. 4 MiB. */
export const DST = 2 << 20;
export const PANEL_FLOATS = (2 << 20) / 4;
const PAGES = 64; // 4 MiB

export type Pack = (...args: number[]) => void;

/** The kernels `emit` adds, instantiated over a fresh memory; `run(pack, args)` returns the destination after it. */
export function packerHarness(emit: (m: ModuleBuilder) => void) {
  const m = new ModuleBuilder();
  emit(m);
  const mem = new WA.Memory({ initial: PAGES, maximum: PAGES, shared: false });
  const inst = new WA.Instance(new WA.Module(m.build(PAGES, PAGES, false)), { env: { mem } });
  return {
    kernels: inst.exports as Record<string, Pack>,
    heap: () => new Float32Array(mem.buffer),
    run(pack: Pack, args: number[]): Float32Array {
      new Float32Array(mem.buffer).fill(Number.NaN, DST / 4, DST / 4 + PANEL_FLOATS);
      pack(...args);
      return new Float32Array(mem.buffer, DST, PANEL_FLOATS).slice();
    },
  };
}

/** Whether two arrays hold the same bytes (NaN payloads and signed zeros included). */
export const sameBytes = (a: Float32Array, b: Float32Array) =>
  Buffer.compare(
    Buffer.from(a.buffer, a.byteOffset, a.byteLength),
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  ) === 0;
