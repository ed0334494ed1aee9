/**
 * Containers: `Sequential` (children applied in order, named '0', '1', ... unless names are given) and
 * `ModuleList` (an indexed list whose forward is not defined: its owner decides how to call the children).
 * Child names become state-dict path segments (`stages.2.blocks.0...`).
 */

import { ShapeError } from '../errors.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

/** Children applied in order: y = m_k(...m_1(m_0(x))). */
export class Sequential extends Module {
  private readonly order: Module[] = [];

  /** Modules named '0', '1', ..., or pairs [name, module]. */
  constructor(...mods: (Module | [string, Module])[]) {
    super();
    mods.forEach((m, i) => {
      if (Array.isArray(m)) this.add(m[0], m[1]);
      else this.add(String(i), m);
    });
  }

  /** Append a module under `name`. Returns this. */
  add(name: string, m: Module): this {
    this.registerModule(name, m);
    this.order.push(m);
    return this;
  }

  get length(): number {
    return this.order.length;
  }

  at(i: number): Module {
    const m = this.order[i];
    if (!m) throw new ShapeError(`Sequential.at: index ${i} out of ${this.order.length}`);
    return m;
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.order) y = m.forward(y);
    return y;
  }
}

/** An indexed list of modules named '0', '1', ...; iterate it in the owner's forward. */
export class ModuleList<M extends Module = Module> extends Module {
  private readonly items: M[] = [];

  constructor(mods: readonly M[] = []) {
    super();
    for (const m of mods) this.push(m);
  }

  /** Append a module (named by its index). Returns this. */
  push(m: M): this {
    this.registerModule(String(this.items.length), m);
    this.items.push(m);
    return this;
  }

  get length(): number {
    return this.items.length;
  }

  at(i: number): M {
    const m = this.items[i];
    if (!m) throw new ShapeError(`ModuleList.at: index ${i} out of ${this.items.length}`);
    return m;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }

  /** Applies the modules in order (a convenience; owners usually iterate themselves). */
  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.items) y = m.forward(y);
    return y;
  }
}
