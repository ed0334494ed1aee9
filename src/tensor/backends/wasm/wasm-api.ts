/**
 * Typed handle on the runtime's WebAssembly global. The project's tsconfig has no DOM lib and @types/node does not
 * declare WebAssembly, so the small subset used here is typed locally (no global declaration that could clash with
 * another backend adding the DOM lib).
 */

export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}
export type WasmModule = object & { readonly __wasmModule?: never };
export type WasmExports = Record<string, unknown>;
export interface WasmInstance {
  readonly exports: WasmExports;
}

interface WasmApi {
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (m: WasmModule, imports: Record<string, Record<string, unknown>>) => WasmInstance;
  validate(bytes: Uint8Array): boolean;
}

/** The runtime's WebAssembly namespace. */
export const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
