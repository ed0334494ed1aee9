/**
 * The reverse-mode tape. Each differentiable op that sees an input requiring grad (while grad mode is on)
 * attaches a Node to its output: the inputs, a backward closure mapping the output gradient to one gradient
 * per input, the tensors it saved (with their storage versions, to catch in-place writes) and the tensors it
 * owns (temporaries such as GroupNorm statistics, disposed when the graph is freed).
 *
 * runBackward: topological order by iterative DFS from the root, gradients summed per tensor, leaves
 * accumulate into `.grad` (summed across backward calls), intermediate gradients are disposed as soon as
 * their node ran, and nodes are freed unless retainGraph. Backward closures run under noGrad, each inside its own
 * tidy scope: every temporary they create is freed when they return, except the gradients they return. They use
 * raw ops and never dispose by hand.
 */

import { AutogradError, ShapeError } from '../errors.js';
import { isGradEnabled, noGrad, tidy } from '../tensor/engine.js';
import type { BackwardFn, GradNode, Tensor } from '../tensor/tensor.js';
import { add as addRaw, onesLike } from './accumulate.js';

export type { BackwardFn, GradNode as Node };

/**
 * Attach a node to `out` if any input requires grad and grad mode is on; otherwise dispose `owned` at once.
 * `save` lists tensors whose data the backward reads (version-checked). Returns out.
 */
export function record(
  name: string,
  out: Tensor,
  inputs: readonly Tensor[],
  backward: BackwardFn,
  opts: { save?: readonly Tensor[]; owned?: Tensor[] } = {},
): Tensor {
  const needs = isGradEnabled() && inputs.some((t) => t.requiresGrad);
  if (!needs) {
    for (const t of opts.owned ?? []) t.dispose();
    return out;
  }
  out.gradFn = {
    name,
    inputs,
    backward,
    saved: (opts.save ?? []).map((t) => ({ storage: t.storage, version: t.storage.version, what: `${t.shape}` })),
    owned: opts.owned ?? [],
  };
  out.requiresGrad = true;
  return out;
}

function freeNode(n: GradNode): void {
  n.backward = null;
  for (const t of n.owned) t.dispose();
  n.owned = [];
  n.saved = [];
}

/** Topological order (inputs before outputs) of the non-leaf tensors reachable from root. */
function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.gradFn ? t.gradFn.inputs : [];
    if (i < inputs.length) {
      top[1]++;
      const c = inputs[i];
      if (c.gradFn && !seen.has(c)) {
        seen.add(c);
        stack.push([c, 0]);
      }
    } else {
      stack.pop();
      if (t.gradFn) order.push(t);
    }
  }
  return order;
}

export function runBackward(root: Tensor, seed: Tensor | undefined, retainGraph: boolean): void {
  root.assertAlive('backward');
  if (!root.requiresGrad) {
    throw new AutogradError(
      `backward: tensor [${root.shape}] does not require grad (no input of its graph has requiresGrad set)`,
    );
  }
  if (!seed && root.size !== 1) {
    throw new ShapeError(`backward: a gradient is needed for non-scalar output of shape [${root.shape}]`);
  }
  if (seed && (seed.shape.length !== root.shape.length || seed.shape.some((d, i) => d !== root.shape[i]))) {
    throw new ShapeError(`backward: gradient shape [${seed.shape}] differs from output shape [${root.shape}]`);
  }
  noGrad(() => {
    const grads = new Map<Tensor, Tensor>();
    const g0 = seed ? seed.clone() : onesLike(root);
    if (!root.gradFn) {
      accumulateLeaf(root, g0);
      return;
    }
    grads.set(root, g0);
    const order = topoOrder(root);
    for (let oi = order.length - 1; oi >= 0; oi--) {
      const t = order[oi];
      const node = t.gradFn!;
      const g = grads.get(t);
      grads.delete(t);
      if (!g) continue;
      if (!node.backward) {
        g.dispose();
        throw new AutogradError(
          `backward: the graph through ${node.name} was already freed; pass {retainGraph: true} to the first backward`,
        );
      }
      for (const s of node.saved) {
        if (s.storage.version !== s.version) {
          g.dispose();
          throw new AutogradError(
            `backward: a tensor [${s.what}] saved by ${node.name} was modified in place after it was used`,
          );
        }
      }
      const backward = node.backward;
      const ins = tidy(() => backward(g));
      node.inputs.forEach((inp, i) => {
        const gi = ins[i];
        if (!gi) return;
        if (!inp.requiresGrad) {
          gi.dispose();
          return;
        }
        if (inp.gradFn) {
          const prev = grads.get(inp);
          if (prev) {
            grads.set(inp, addRaw(prev, gi));
            prev.dispose();
            gi.dispose();
          } else grads.set(inp, gi);
        } else accumulateLeaf(inp, gi);
      });
      if (t.retainsGrad) t.setGrad(g);
      else g.dispose();
      if (!retainGraph) freeNode(node);
    }
    for (const g of grads.values()) g.dispose();
  });
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (leaf.grad) {
    const sum = addRaw(leaf.grad, g);
    g.dispose();
    leaf.setGrad(sum);
  } else {
    leaf.setGrad(g);
  }
}
