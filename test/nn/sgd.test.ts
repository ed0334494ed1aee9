/**
 * SGD against a plain-JS transcription of PyTorch's torch.optim.SGD update over several steps (momentum,
 * nesterov, weight decay, dampening, plain), no-decay groups for norms and biases, state-dict save/load
 * resuming exactly, frozen parameters untouched, and no buffer leak across tidy-wrapped steps.
 */

import { describe, expect, it } from 'vitest';
import { ConfigError, ShapeError } from '../../src/errors.js';
import { GroupNorm, Module, noDecayGroups, SGD, type SgdHyper, StdConv2d } from '../../src/nn/index.js';
import { fromTyped, memory, Rng, type Tensor, tidy } from '../../src/tensor/index.js';
import { sgdUpdateInPlace } from '../../src/tensor/raw.js';
import { expectClose } from '../tolerances.js';

const TOL_SGD = { rtol: 1e-5, atol: 1e-6 };
const COEF = [0.5, -1.5, 2, 0.25, 1, -0.75];
const P0 = [0.3, -0.2, 1.1, -0.9, 0.05, 0.6];

/** loss = sum(c * p^3)/3 + sum(p)  =>  grad = c * p^2 + 1 (non-linear, so momentum paths differ). */
function lossOf(p: Tensor): Tensor {
  const c = fromTyped(COEF, [COEF.length]);
  return p
    .mul(p)
    .mul(p)
    .mul(c)
    .sum()
    .mul(1 / 3)
    .add(p.sum());
}

/** PyTorch's SGD step, transcribed (float64). */
function torchSgd(h: Required<SgdHyper>, steps: number): number[] {
  const p = [...P0];
  let buf: number[] | null = null;
  for (let s = 0; s < steps; s++) {
    let d = p.map((v, i) => COEF[i] * v * v + 1);
    if (h.weightDecay !== 0) d = d.map((g, i) => g + h.weightDecay * p[i]);
    if (h.momentum !== 0) {
      if (buf === null) buf = [...d];
      else buf = buf.map((b, i) => h.momentum * b + (1 - h.dampening) * d[i]);
      const bb = buf;
      d = h.nesterov ? d.map((g, i) => g + h.momentum * bb[i]) : [...bb];
    }
    for (let i = 0; i < p.length; i++) p[i] -= h.lr * d[i];
  }
  return p;
}

function ours(h: Required<SgdHyper>, steps: number): number[] {
  const p = fromTyped(P0, [P0.length], { requiresGrad: true });
  const opt = new SGD([['p', p]], h);
  for (let s = 0; s < steps; s++) {
    opt.zeroGrad();
    tidy(() => lossOf(p).backward());
    opt.step();
  }
  const out = [...p.dataSync()];
  opt.dispose();
  p.dispose();
  return out;
}

const CASES: Required<SgdHyper>[] = [
  { lr: 0.1, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0 },
  { lr: 0.05, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 0 },
  { lr: 0.05, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 0 },
  { lr: 0.05, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 1e-2 },
  { lr: 0.05, momentum: 0.8, dampening: 0.5, nesterov: false, weightDecay: 1e-3 },
  { lr: 0.02, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 5e-2 },
];

describe('SGD matches PyTorch', () => {
  for (const h of CASES) {
    it(JSON.stringify(h), () => {
      expectClose(ours(h, 6), torchSgd(h, 6), TOL_SGD, 'params after 6 steps');
    });
  }

  it('refuses nesterov without momentum or with dampening', () => {
    const p = fromTyped([1], [1], { requiresGrad: true });
    expect(() => new SGD([['p', p]], { lr: 0.1, nesterov: true })).toThrow(ConfigError);
    expect(() => new SGD([['p', p]], { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true })).toThrow(ConfigError);
    p.dispose();
  });
});

class Tiny extends Module {
  readonly conv = this.registerModule('conv', new StdConv2d(2, 4, 3, { rng: new Rng(1) }));
  readonly norm = this.registerModule('norm', new GroupNorm(2, 4));
  forward(x: Tensor): Tensor {
    return this.norm.forward(this.conv.forward(x));
  }
}

describe('SGD groups, state and freezing', () => {
  it('noDecayGroups exempts norm params and biases from weight decay', () => {
    const m = new Tiny();
    const groups = noDecayGroups(m.namedParameters(), 0.5);
    expect(groups[0].params.map(([n]) => n)).toEqual(['conv.weight']);
    expect(groups[1].params.map(([n]) => n)).toEqual(['norm.weight', 'norm.bias']);
    const opt = new SGD(groups, { lr: 0.1 });
    const before = m.namedParameters().map(([, p]) => [...p.dataSync()]);
    for (const p of m.parameters()) p.setGrad(fromTyped(new Float32Array(p.size), p.shape));
    opt.step();
    const after = m.namedParameters().map(([, p]) => [...p.dataSync()]);
    expectClose(
      after[0],
      before[0].map((v) => v * (1 - 0.1 * 0.5)),
      TOL_SGD,
      'decayed',
    );
    expect(after[1]).toEqual(before[1]);
    expect(after[2]).toEqual(before[2]);
    opt.dispose();
    m.dispose();
  });

  it('state dict save/load resumes exactly', () => {
    const h = { lr: 0.05, momentum: 0.9, nesterov: true };
    const run = (p: Tensor, opt: SGD, n: number) => {
      for (let s = 0; s < n; s++) {
        opt.zeroGrad();
        tidy(() => lossOf(p).backward());
        opt.step();
      }
    };
    const a = fromTyped(P0, [6], { requiresGrad: true });
    const optA = new SGD([['p', a]], h);
    run(a, optA, 3);
    const st = optA.stateDict();
    expect(st.step).toBe(3);
    const b = fromTyped(a.dataSync(), [6], { requiresGrad: true });
    const optB = new SGD([['p', b]], h);
    optB.loadStateDict(st);
    run(a, optA, 2);
    run(b, optB, 2);
    expect([...b.dataSync()]).toEqual([...a.dataSync()]);
    expect(optB.stepCount).toBe(5);
    expect(() =>
      optB.loadStateDict({ step: 0, momentumBuffers: new Map([['q', st.momentumBuffers.get('p')!]]) }),
    ).toThrow(ShapeError);
    for (const t of [a, b, ...st.momentumBuffers.values()]) t.dispose();
    optA.dispose();
    optB.dispose();
  });

  it('frozen parameters get no gradient and are not updated; steps in tidy do not leak', () => {
    const m = new Tiny();
    m.conv.requiresGrad_(false);
    const opt = new SGD(m, { lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
    const w0 = [...m.conv.weight.dataSync()];
    const g0 = [...m.norm.weight.dataSync()];
    const x = fromTyped(
      Array.from({ length: 2 * 2 * 5 * 5 }, (_, i) => Math.sin(i)),
      [2, 2, 5, 5],
    );
    const r = fromTyped(
      Array.from({ length: 2 * 4 * 3 * 3 }, (_, i) => Math.cos(i * 1.3)),
      [2, 4, 3, 3],
    );
    const step = () =>
      tidy(() => {
        opt.zeroGrad();
        m.forward(x).mul(r).sum().backward();
        opt.step();
      });
    step();
    const live = memory().liveBuffers;
    step();
    step();
    expect(memory().liveBuffers).toBe(live);
    expect(m.conv.weight.grad).toBeNull();
    expect([...m.conv.weight.dataSync()]).toEqual(w0);
    expect([...m.norm.weight.dataSync()]).not.toEqual(g0);
    opt.dispose();
    m.dispose();
  });
});

describe('SGD with a plain tensor list', () => {
  it('matches the named form', () => {
    const h = { lr: 0.05, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 1e-2 };
    const p = fromTyped(P0, [P0.length], { requiresGrad: true });
    const opt = new SGD([p], h);
    for (let s = 0; s < 6; s++) {
      opt.zeroGrad();
      tidy(() => lossOf(p).backward());
      opt.step();
    }
    expectClose([...p.dataSync()], torchSgd(h, 6), TOL_SGD, 'tensor list');
    const st = opt.stateDict();
    expect([...st.momentumBuffers.keys()]).toEqual(['0']);
    for (const t of st.momentumBuffers.values()) t.dispose();
    opt.dispose();
    p.dispose();
  });
});

describe('sgdUpdateInPlace (the tensor-layer primitive SGD writes through)', () => {
  it('writes the parameter and momentum buffer in place and bumps both versions', () => {
    const p = fromTyped([1, 2, 3, 4], [4]);
    const g = fromTyped([0.5, 0.5, -1, 2], [4]);
    const m = fromTyped([0, 0, 0, 0], [4]);
    const [vp, vm] = [p.storage.version, m.storage.version];
    const hp = { lr: 0.1, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 0, firstStep: true };
    sgdUpdateInPlace(p, g, m, hp);
    expect(Array.from(p.dataSync())).toEqual([0.95, 1.95, 3.1, 3.8].map(Math.fround));
    expect(Array.from(m.dataSync())).toEqual([0.5, 0.5, -1, 2]);
    expect([p.storage.version, m.storage.version]).toEqual([vp + 1, vm + 1]);
  });

  it('refuses a non-dense parameter and mismatched sizes, naming them', () => {
    const hp = { lr: 0.1, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0, firstStep: true };
    const wide = fromTyped([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(() => sgdUpdateInPlace(wide.transpose(0, 1), fromTyped([1, 1, 1, 1, 1, 1], [3, 2]), null, hp)).toThrow(
      /sgdUpdate: the parameter \[3,2\] is not a dense tensor/,
    );
    expect(() => sgdUpdateInPlace(fromTyped([1, 2], [2]), fromTyped([1, 2, 3], [3]), null, hp)).toThrow(
      /parameter of 2 elements, gradient of 3/,
    );
  });
});
