/**
 * SGD with momentum, dampening, Nesterov and L2 weight decay, PyTorch semantics, on the backend's fused
 * in-place `sgdUpdate` primitive:
 *   d = g + wd * p;  buf = first ? d : momentum * buf + (1 - dampening) * d;  d = nesterov ? d + momentum * buf : buf;
 *   p -= lr * d.
 * Parameters are organized in groups (each with its own lr, momentum, ...); `noDecayGroups` splits a
 * module's parameters so that norm parameters and biases (1-D tensors, names ending in '.bias') get no weight
 * decay (timm's rule). Parameters without a gradient or with requiresGrad false are skipped (not updated, no
 * state). State (momentum buffers by parameter name, step count) saves and loads by name.
 *
 * After each step the parameters' backends are told a step ended (Backend.stepEnded, via the tensor layer).
 *
 * Invariants: updates run under noGrad through the tensor layer's in-place `sgdUpdateInPlace` (it writes the
 * parameter's storage and bumps its version; the optimizer never touches storage itself); momentum
 * buffers are kept tensors owned by the optimizer (`dispose()` frees them).
 */

import { ConfigError, ShapeError } from '../../errors.js';
import type { SgdParams } from '../../tensor/backend.js';
import { zerosLike } from '../../tensor/creation.js';
import { keep, noGrad } from '../../tensor/engine.js';
import { isDense, markStepEnded, sgdUpdateInPlace } from '../../tensor/raw.js';
import { Tensor } from '../../tensor/tensor.js';
import type { Module } from '../module.js';
import { copyOnto } from '../state-transfer.js';

export interface SgdHyper {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

/** A parameter group: named parameters plus hyper-parameters overriding the optimizer defaults. */
export interface ParamGroupInput extends Partial<SgdHyper> {
  params: [string, Tensor][];
}

/** A resolved group (all hyper-parameters set). `lr` is what schedules write each step. */
export interface ParamGroup extends Required<SgdHyper> {
  params: [string, Tensor][];
}

/** Saved optimizer state: momentum buffers (copies) by parameter name and the number of steps taken. */
export interface SgdState {
  step: number;
  momentumBuffers: Map<string, Tensor>;
}

/**
 * Split named parameters into [decay, no-decay] groups: 1-D parameters (norm gamma/beta, biases) and names
 * ending in '.bias' get weight decay 0.
 */
export function noDecayGroups(named: [string, Tensor][], weightDecay: number): ParamGroupInput[] {
  const decay: [string, Tensor][] = [];
  const skip: [string, Tensor][] = [];
  for (const e of named) (e[1].ndim <= 1 || e[0].endsWith('.bias') ? skip : decay).push(e);
  return [
    { params: decay, weightDecay },
    { params: skip, weightDecay: 0 },
  ];
}

/** SGD optimizer. */
export class SGD {
  readonly paramGroups: ParamGroup[];
  /** Steps taken (calls to step()). */
  stepCount = 0;
  private readonly buffers = new Map<string, Tensor>();

  /**
   * @param params a Module (all its parameters, one group, state keyed by name), named parameters, a plain
   *   tensor list (state keyed by position), or groups.
   * @param defaults hyper-parameters of every group unless the group overrides them.
   * @throws ConfigError for negative values or nesterov without momentum / with dampening (as PyTorch).
   */
  constructor(params: Module | Tensor[] | [string, Tensor][] | ParamGroupInput[], defaults: SgdHyper) {
    let groups: ParamGroupInput[];
    if (Array.isArray(params)) {
      const first = params[0] as unknown;
      if (first instanceof Tensor) {
        // a plain tensor list (PyTorch style): state is keyed by position
        groups = [{ params: (params as Tensor[]).map((t, i): [string, Tensor] => [String(i), t]) }];
      } else if (Array.isArray(first)) {
        groups = [{ params: params as [string, Tensor][] }];
      } else {
        groups = params as ParamGroupInput[];
      }
    } else {
      groups = [{ params: params.namedParameters() }];
    }
    const seen = new Set<string>();
    this.paramGroups = groups.map((g) => {
      const r: ParamGroup = {
        params: g.params,
        lr: g.lr ?? defaults.lr,
        momentum: g.momentum ?? defaults.momentum ?? 0,
        dampening: g.dampening ?? defaults.dampening ?? 0,
        nesterov: g.nesterov ?? defaults.nesterov ?? false,
        weightDecay: g.weightDecay ?? defaults.weightDecay ?? 0,
      };
      if (!(r.lr >= 0) || !(r.momentum >= 0) || !(r.weightDecay >= 0)) {
        throw new ConfigError(`SGD: lr ${r.lr}, momentum ${r.momentum}, weightDecay ${r.weightDecay} must be >= 0`);
      }
      if (r.nesterov && (r.momentum <= 0 || r.dampening !== 0)) {
        throw new ConfigError('SGD: nesterov momentum requires a momentum > 0 and zero dampening');
      }
      for (const [n] of g.params) {
        if (seen.has(n)) throw new ConfigError(`SGD: parameter '${n}' appears in more than one group`);
        seen.add(n);
      }
      return r;
    });
  }

  /** Set the learning rate of every group (what an LR schedule does each step). */
  setLr(lr: number): void {
    for (const g of this.paramGroups) g.lr = lr;
  }

  /**
   * One update of every parameter that has a gradient and requires grad; then the parameters' backends learn that a
   * training step ended (Backend.stepEnded: a scheduling hint, e.g. the wasm pool's step governor).
   */
  step(): void {
    noGrad(() => {
      for (const g of this.paramGroups) {
        for (const [name, p] of g.params) {
          if (!p.requiresGrad || !p.grad) continue;
          this.update(name, p, p.grad, g);
        }
      }
    });
    this.stepCount++;
    markStepEnded(this.paramGroups.flatMap((g) => g.params.map(([, p]) => p)));
  }

  private update(name: string, p: Tensor, grad: Tensor, g: ParamGroup): void {
    if (!isDense(p)) throw new ShapeError(`SGD: parameter '${name}' [${p.shape}] is not a dense tensor`);
    if (grad.size !== p.size)
      throw new ShapeError(`SGD: gradient of '${name}' has ${grad.size} elements, not ${p.size}`);
    const hp: SgdParams = {
      lr: g.lr,
      momentum: g.momentum,
      dampening: g.dampening,
      nesterov: g.nesterov,
      weightDecay: g.weightDecay,
      firstStep: !this.buffers.has(name),
    };
    let buf: Tensor | null = null;
    if (g.momentum !== 0) {
      buf = this.buffers.get(name) ?? null;
      if (!buf) {
        buf = keep(zerosLike(p));
        this.buffers.set(name, buf);
      }
    }
    // the tensor layer's in-place primitive writes p (and buf) and bumps their versions
    sgdUpdateInPlace(p, grad, buf, hp);
  }

  /** Drop the gradients of every parameter in every group. */
  zeroGrad(): void {
    for (const g of this.paramGroups) for (const [, p] of g.params) p.zeroGrad();
  }

  /** Copies of the momentum buffers by parameter name, plus the step count. The caller owns the copies. */
  stateDict(): SgdState {
    const momentumBuffers = new Map<string, Tensor>();
    noGrad(() => {
      for (const [n, b] of this.buffers) momentumBuffers.set(n, keep(b.clone()));
    });
    return { step: this.stepCount, momentumBuffers };
  }

  /**
   * Restore momentum buffers and the step count. Names not among this optimizer's parameters, or shapes that
   * differ, throw ShapeError naming the key. Values may be Tensors or {shape, data} arrays.
   */
  loadStateDict(state: {
    step: number;
    momentumBuffers: Map<string, Tensor | { shape: readonly number[]; data: ArrayLike<number> }>;
  }): void {
    const byName = new Map<string, Tensor>();
    for (const g of this.paramGroups) for (const [n, p] of g.params) byName.set(n, p);
    for (const [n, v] of state.momentumBuffers) {
      const p = byName.get(n);
      if (!p) throw new ShapeError(`SGD.loadStateDict: momentum buffer '${n}' names no parameter of this optimizer`);
      const shape = [...v.shape];
      if (shape.length !== p.ndim || shape.some((d, i) => d !== p.shape[i])) {
        throw new ShapeError(`SGD.loadStateDict: '${n}' has shape [${shape}], the parameter [${p.shape}]`);
      }
    }
    const fresh = new Map<string, Tensor>();
    for (const [n, v] of state.momentumBuffers) {
      fresh.set(n, keep(copyOnto('SGD.loadStateDict', n, v, byName.get(n)!)));
    }
    this.disposeBuffers();
    for (const [n, t] of fresh) this.buffers.set(n, t);
    this.stepCount = state.step;
  }

  private disposeBuffers(): void {
    for (const b of this.buffers.values()) b.dispose();
    this.buffers.clear();
  }

  /** Free the momentum buffers. */
  dispose(): void {
    this.disposeBuffers();
  }
}
