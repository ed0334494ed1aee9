/**
 * Module: the base of every layer and model. A module owns named parameters, named buffers and named child
 * modules, each registered in order; dotted names (`stages.0.blocks.1.conv2.weight`) come from that tree, and
 * are the state-dict contract the weight readers map to.
 *
 * Invariants: every parameter and buffer is `keep()`-ed, so `tidy` scopes never dispose them; parameters are
 * dense leaf tensors (their storage is updated in place by optimizers and `loadStateDict`, under `noGrad`, with
 * the storage version bumped); `requiresGrad` on a parameter is the freezing switch.
 */

import { ShapeError } from '../errors.js';
import type { Backend } from '../tensor/backend.js';
import { fromTyped } from '../tensor/creation.js';
import { getDefaultBackend, keep, noGrad } from '../tensor/engine.js';
import type { Tensor } from '../tensor/tensor.js';
import { copyOnto, isTensorValue, type StateValue, toHostState } from './state-transfer.js';

/** A state-dict value: an engine tensor, or a plain array with its shape (as the weight readers return). */
export type { StateValue };

/** A state dict: dotted name -> value, as a Map or a plain record. */
export type StateDictInput = Map<string, StateValue> | Record<string, StateValue>;

/** Result of `loadStateDict`: names the module has that the dict lacks, and dict names the module lacks. */
export interface LoadResult {
  missing: string[];
  unexpected: string[];
}

/**
 * Make `t` a parameter: a kept leaf tensor with `requiresGrad` set (PyTorch's nn.Parameter).
 * @returns t itself.
 */
export function asParameter(t: Tensor, requiresGrad = true): Tensor {
  if (!t.isLeaf) throw new ShapeError(`asParameter: tensor [${t.shape}] is not a leaf (detach it first)`);
  keep(t);
  t.requiresGrad = requiresGrad;
  return t;
}

/** A new parameter of `shape` holding `values` (float32, on `backend` or the default backend). */
export function Parameter(values: ArrayLike<number>, shape: readonly number[], backend?: Backend): Tensor {
  return asParameter(fromTyped(values, shape, { backend: backend ?? getDefaultBackend() }));
}

/** A kept (never tidied) tensor that does not require grad: running statistics and other buffers. */
export function Buffer(values: ArrayLike<number>, shape: readonly number[], backend?: Backend): Tensor {
  return keep(fromTyped(values, shape, { backend: backend ?? getDefaultBackend() }));
}

/** Base class of layers and models. Subclasses register their pieces in the constructor and define forward. */
export abstract class Module {
  /** Train mode (dropout active, BatchNorm batch statistics) or eval mode. */
  training = true;
  private readonly params = new Map<string, Tensor | null>();
  private readonly buffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  /** x -> y. Shapes are documented per layer. */
  abstract forward(x: Tensor): Tensor;

  /** Same as forward (PyTorch's `module(x)`). */
  call(x: Tensor): Tensor {
    return this.forward(x);
  }

  /** Register a parameter (made a kept leaf with requiresGrad) or a null slot. Returns it. */
  protected registerParameter<T extends Tensor | null>(name: string, t: T): T {
    this.checkName(name);
    if (t) asParameter(t);
    this.params.set(name, t);
    return t;
  }

  /** Register a buffer (kept, no grad); included in the state dict. */
  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.checkName(name);
    keep(t);
    this.buffers.set(name, t);
    return t;
  }

  /** Register a child module under `name`. Returns it. */
  protected registerModule<M extends Module>(name: string, m: M): M {
    this.checkName(name);
    this.children.set(name, m);
    return m;
  }

  private checkName(name: string): void {
    if (name.includes('.') || name === '') throw new ShapeError(`Module: bad member name '${name}'`);
    if (this.params.has(name) || this.buffers.has(name) || this.children.has(name)) {
      throw new ShapeError(`Module: '${name}' is already registered on ${this.constructor.name}`);
    }
  }

  /** Replace a registered child module (the old one is NOT disposed: the caller decides). Returns m. */
  protected replaceModule<M extends Module>(name: string, m: M): M {
    if (!this.children.has(name)) throw new ShapeError(`Module: no child '${name}' on ${this.constructor.name}`);
    this.children.set(name, m);
    return m;
  }

  /** Replace a registered buffer's tensor (the old one is disposed). */
  protected setBuffer(name: string, t: Tensor): void {
    const old = this.buffers.get(name);
    if (!old) throw new ShapeError(`Module: no buffer '${name}' on ${this.constructor.name}`);
    keep(t);
    this.buffers.set(name, t);
    if (old !== t) old.dispose();
  }

  /** Direct children in registration order. */
  namedChildren(): [string, Module][] {
    return [...this.children.entries()];
  }

  /** This module and every descendant, depth first, with dotted names ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, m] of this.children) out.push(...m.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  /** Every parameter with its dotted name, in registration order (modules depth first). */
  namedParameters(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [prefix, m] of this.namedModules()) {
      for (const [n, p] of m.params) if (p) out.push([prefix ? `${prefix}.${n}` : n, p]);
    }
    return out;
  }

  /** Every parameter tensor, in `namedParameters` order. */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Every buffer with its dotted name. */
  namedBuffers(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [prefix, m] of this.namedModules()) {
      for (const [n, b] of m.buffers) out.push([prefix ? `${prefix}.${n}` : n, b]);
    }
    return out;
  }

  /**
   * Parameters then buffers of each module, by dotted name (the live tensors, not copies: clone them to keep a
   * snapshot across optimizer steps).
   */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [prefix, m] of this.namedModules()) {
      const full = (n: string) => (prefix ? `${prefix}.${n}` : n);
      for (const [n, p] of m.params) if (p) out.set(full(n), p);
      for (const [n, b] of m.buffers) out.set(full(n), b);
    }
    return out;
  }

  /**
   * Copy values from `sd` into this module's parameters and buffers (in place, under noGrad).
   * @throws ShapeError naming the key when a shape differs (nothing is partially copied for that key);
   *   with `strict` (default true) also when any key is missing or unexpected.
   */
  loadStateDict(sd: StateDictInput, opts: { strict?: boolean } = {}): LoadResult {
    const strict = opts.strict ?? true;
    const entries = sd instanceof Map ? [...sd.entries()] : Object.entries(sd);
    const given = new Map(entries);
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !given.has(k));
    const unexpected = [...given.keys()].filter((k) => !own.has(k));
    if (strict && (missing.length || unexpected.length)) {
      throw new ShapeError(
        `loadStateDict: missing keys [${missing.join(', ')}], unexpected keys [${unexpected.join(', ')}]`,
      );
    }
    for (const [k, dst] of own) {
      const v = given.get(k);
      if (!v) continue;
      const shape = [...v.shape];
      const sameShape = shape.length === dst.ndim && shape.every((d, i) => d === dst.shape[i]);
      if (!sameShape) {
        throw new ShapeError(`loadStateDict: '${k}' has shape [${shape}] in the state dict, [${dst.shape}] here`);
      }
    }
    noGrad(() => {
      for (const [k, dst] of own) {
        const v = given.get(k);
        if (!v || v === dst) continue;
        if (isTensorValue(v) && v.backend === dst.backend && v.dtype === dst.dtype) {
          dst.copy_(v);
          continue;
        }
        const t = copyOnto('loadStateDict', k, v, dst);
        dst.copy_(t);
        t.dispose();
      }
    });
    return { missing, unexpected };
  }

  /**
   * `loadStateDict` for values that may live on a backend that reads back only asynchronously (WebGPU):
   * tensors on another backend are read with `await t.data()` first. Same checks and result.
   */
  async loadStateDictAsync(sd: StateDictInput, opts: { strict?: boolean } = {}): Promise<LoadResult> {
    const entries = sd instanceof Map ? [...sd.entries()] : Object.entries(sd);
    const own = this.stateDict();
    const foreign = entries.filter(([k, v]) => isTensorValue(v) && own.get(k)?.backend !== v.backend);
    const host = await toHostState(foreign);
    return this.loadStateDict(new Map(entries.map(([k, v]) => [k, host.get(k) ?? v])), opts);
  }

  /** Host copies of every parameter and buffer by dotted name (asynchronous readback: any backend). */
  async stateDictData(): Promise<Map<string, { shape: number[]; data: Float32Array | Float64Array }>> {
    return toHostState(this.stateDict());
  }

  /** Set train mode on this module and all descendants (train mode frees their inference caches). Returns this. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) {
      m.training = mode;
      if (mode) m.releaseCaches();
    }
    return this;
  }

  /**
   * Free what this module derived from its parameters for inference (StdConv2d's standardized kernel); called on
   * every module of the tree by `train()` and `dispose()`. The base module holds none.
   */
  protected releaseCaches(): void {}

  /** Set eval mode (train(false)). Returns this. */
  eval(): this {
    return this.train(false);
  }

  /** Set requiresGrad on every parameter (false freezes the module). Returns this. */
  requiresGrad_(v = true): this {
    for (const p of this.parameters()) p.requiresGrad = v;
    return this;
  }

  /** Number of scalar parameters (only trainable ones when `trainableOnly`). */
  numParameters(trainableOnly = false): number {
    let n = 0;
    for (const p of this.parameters()) if (!trainableOnly || p.requiresGrad) n += p.size;
    return n;
  }

  /** Drop every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }

  /** Free every parameter and buffer (the module is unusable afterwards). */
  dispose(): void {
    for (const [, m] of this.namedModules()) m.releaseCaches();
    for (const p of this.parameters()) p.dispose();
    for (const [, b] of this.namedBuffers()) b.dispose();
  }
}
