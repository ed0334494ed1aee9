/**
 * Module system: registration order and dotted names, state-dict round trip and its errors, train/eval,
 * freezing, parameters surviving tidy scopes, containers.
 */

import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/errors.js';
import {
  Conv2d,
  GroupNorm,
  Identity,
  Linear,
  Module,
  ModuleList,
  ReLU,
  Sequential,
  StdConv2d,
} from '../../src/nn/index.js';
import { memory, Rng, randn, type Tensor, tidy } from '../../src/tensor/index.js';

class Block extends Module {
  readonly conv: StdConv2d;
  readonly norm: GroupNorm;
  constructor(rng: Rng) {
    super();
    this.conv = this.registerModule('conv', new StdConv2d(4, 4, 3, { padding: 1, rng }));
    this.norm = this.registerModule('norm', new GroupNorm(2, 4));
  }
  forward(x: Tensor): Tensor {
    return this.norm.forward(this.conv.forward(x)).relu();
  }
}

class Net extends Module {
  readonly blocks: ModuleList<Block>;
  readonly head: Conv2d;
  constructor(seed: number) {
    super();
    const rng = new Rng(seed);
    this.blocks = this.registerModule('blocks', new ModuleList([new Block(rng), new Block(rng)]));
    this.head = this.registerModule('head', new Conv2d(4, 3, 1, { bias: true, rng }));
  }
  forward(x: Tensor): Tensor {
    return this.head.forward(this.blocks.forward(x));
  }
}

const x = () => randn([2, 4, 5, 5], { rng: new Rng(99) });

describe('Module', () => {
  it('names parameters in registration order with dotted paths', () => {
    const n = new Net(1);
    expect(n.namedParameters().map(([k]) => k)).toEqual([
      'blocks.0.conv.weight',
      'blocks.0.norm.weight',
      'blocks.0.norm.bias',
      'blocks.1.conv.weight',
      'blocks.1.norm.weight',
      'blocks.1.norm.bias',
      'head.weight',
      'head.bias',
    ]);
    expect(n.numParameters()).toBe(2 * (4 * 4 * 9 + 8) + 12 + 3);
    expect(n.parameters().every((p) => p.requiresGrad && p.isLeaf)).toBe(true);
    n.dispose();
  });

  it('state dict round trip reproduces the outputs', () => {
    const a = new Net(1);
    const b = new Net(2);
    const ya = tidy(() => a.forward(x()).dataSync());
    expect(tidy(() => b.forward(x()).dataSync())).not.toEqual(ya);
    expect(b.loadStateDict(a.stateDict())).toEqual({ missing: [], unexpected: [] });
    expect(tidy(() => b.forward(x()).dataSync())).toEqual(ya);
    // plain arrays work too
    const c = new Net(3);
    c.loadStateDict(new Map([...a.stateDict()].map(([k, t]) => [k, { shape: t.shape, data: t.dataSync() }])));
    expect(tidy(() => c.forward(x()).dataSync())).toEqual(ya);
    for (const m of [a, b, c]) m.dispose();
  });

  it('loadStateDict: ShapeError names the key; strict and non-strict key checks', () => {
    const a = new Net(1);
    const sd = new Map<string, { shape: number[]; data: Float32Array }>([
      ['head.bias', { shape: [4], data: new Float32Array(4) }],
    ]);
    expect(() => a.loadStateDict(sd, { strict: false })).toThrow(ShapeError);
    expect(() => a.loadStateDict(sd, { strict: false })).toThrow(/head\.bias/);
    const ok = { 'head.bias': { shape: [3], data: new Float32Array([1, 2, 3]) }, extra: { shape: [1], data: [0] } };
    expect(() => a.loadStateDict(ok)).toThrow(/missing keys/);
    const r = a.loadStateDict(ok, { strict: false });
    expect(r.unexpected).toEqual(['extra']);
    expect(r.missing).toContain('head.weight');
    expect(r.missing).not.toContain('head.bias');
    expect([...a.head.bias!.dataSync()]).toEqual([1, 2, 3]);
    a.dispose();
  });

  it('parameters survive tidy scopes; a forward in tidy leaves no buffers behind', () => {
    const n = tidy(() => new Net(1));
    expect(n.parameters().every((p) => !p.isDisposed)).toBe(true);
    tidy(() => n.forward(x()));
    const before = memory().liveBuffers;
    tidy(() => {
      n.forward(x()).sum().backward();
    });
    const grads = n.parameters().filter((p) => p.grad).length;
    expect(grads).toBe(8);
    n.zeroGrad();
    expect(memory().liveBuffers).toBe(before);
    n.dispose();
  });

  it('train/eval propagate; requiresGrad_(false) freezes', () => {
    const n = new Net(1);
    n.eval();
    expect(n.namedModules().every(([, m]) => !m.training)).toBe(true);
    n.train();
    expect(n.blocks.at(1).norm.training).toBe(true);
    n.blocks.requiresGrad_(false);
    expect(n.numParameters(true)).toBe(15);
    tidy(() => n.forward(x()).sum().backward());
    expect(n.blocks.parameters().every((p) => p.grad === null)).toBe(true);
    expect(n.head.weight.grad).not.toBeNull();
    n.dispose();
  });

  it('Sequential applies children in order; duplicate names are refused', () => {
    const rng = new Rng(5);
    const s = new Sequential(new Linear(3, 4, { rng }), new ReLU(), ['out', new Linear(4, 2, { rng })], new Identity());
    expect(s.namedParameters().map(([k]) => k)).toEqual(['0.weight', '0.bias', 'out.weight', 'out.bias']);
    expect(tidy(() => s.forward(randn([5, 3])).shape)).toEqual([5, 2]);
    expect(() => s.add('out', new ReLU())).toThrow(ShapeError);
    s.dispose();
  });
});
