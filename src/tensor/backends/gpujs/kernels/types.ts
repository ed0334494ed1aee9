/**
 * The `this` of a gpu.js kernel body as our kernels use it: a 1-D thread id and numeric constants. Kernel bodies are
 * plain `function`s (never arrows or closures): gpu.js transpiles their source text, so they may reference only their
 * parameters, `this.thread.x`, `this.constants.*` and `Math.*`.
 */

export interface KThis {
  readonly thread: { readonly x: number };
  readonly constants: Readonly<Record<string, number>>;
}
