/**
 * The platform-free Trainer (src/train/core) on a small linear model over in-memory batches: the non-finite-loss
 * guard (no update, step not counted, 'nan'), accumulation giving the full batch's update, MixUp drawn from the
 * trainer's stream, one save per epoch end (none at the schedule's end), the evaluation rule (ties count against
 * the label, a row holding a non-finite logit is wrong) and the interrupt stop saving once.
 */

import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/data/rng.js';
import { Flatten, Linear, Sequential, SGD } from '../../src/nn/index.js';
import { useBackend } from '../../src/tensor/backends/registry.js';
import {
  type BatchSource,
  evaluateBatches,
  MemoryStore,
  rankOf,
  type SaveKind,
  type SourceBatch,
  Trainer,
} from '../../src/train/core/index.js';
import { expectClose } from '../tolerances.js';

const C = 3;
const PX = 2;

/** `epochs`-independent in-memory source: `n` batches of `bs` images, fixed content per (epoch, position). */
function source(n: number, bs: number, poison = -1): BatchSource {
  return {
    numBatches: () => n,
    async *[Symbol.asyncIterator]() {
      for (let p = 0; p < n; p++) {
        const rng = new Rng(100 + p);
        const images = Float32Array.from({ length: bs * C * PX * PX }, () => rng.uniform() - 0.5);
        if (p === poison) images[0] = Number.NaN;
        const labels = Int32Array.from({ length: bs }, (_, i) => (i + p) % C);
        yield { images, shape: [bs, C, PX, PX], labels, epoch: 0, position: p } satisfies SourceBatch;
      }
    },
  };
}

function setup(o: { accum?: number; mixup?: number; total?: number; saveEveryEpochs?: number } = {}) {
  const model = new Sequential(new Flatten(), new Linear(C * PX * PX, C, { rng: new Rng(7) }));
  const optimizer = new SGD(model, { lr: 0.1, momentum: 0.9 });
  const saves: SaveKind[] = [];
  const store = new (class extends MemoryStore {
    override async save(kind: SaveKind): Promise<string | null> {
      saves.push(kind);
      return null;
    }
  })();
  const total = o.total ?? 4;
  const t = new Trainer({
    model,
    optimizer,
    schedule: { lr: () => 0.1, totalSteps: total },
    source: source(2, 4),
    store,
    rng: new Rng(5),
    mixup: o.mixup,
    accum: o.accum,
    saveEveryEpochs: o.saveEveryEpochs,
  });
  return { t, model, store, saves };
}

const weights = (m: Sequential) => m.parameters().flatMap((p) => Array.from(p.dataSync()));

describe('core Trainer', () => {
  it('a non-finite loss stops before the update: weights unchanged, step not counted, no save', async () => {
    await useBackend('reference');
    const { t, model, saves } = setup();
    const before = weights(model);
    const out = await t.trainStep((await source(2, 4, 0)[Symbol.asyncIterator]().next()).value as SourceBatch);
    expect(out.ok).toBe(false);
    expect(t.step).toBe(0);
    expect(weights(model)).toEqual(before);
    expect(saves).toEqual([]);
  });

  it('accumulation over 2 micro-batches gives the full batch update', async () => {
    await useBackend('reference');
    const a = setup();
    const b = setup({ accum: 2 });
    const ra = await a.t.run();
    const rb = await b.t.run();
    expect(ra.status).toBe('completed');
    expect([...ra.losses.keys()]).toEqual([0, 1, 2, 3]);
    expectClose(weights(b.model), weights(a.model), { rtol: 1e-5, atol: 1e-6 });
    expectClose([...rb.losses.values()], [...ra.losses.values()], { rtol: 1e-5, atol: 1e-6 });
  });

  it("MixUp comes from the trainer's stream: same seed same losses, and different from no MixUp", async () => {
    await useBackend('reference');
    const m1 = await setup({ mixup: 0.2 }).t.run();
    const m2 = await setup({ mixup: 0.2 }).t.run();
    const plain = await setup().t.run();
    expect([...m1.losses.values()]).toEqual([...m2.losses.values()]);
    expect([...m1.losses.values()][0]).not.toBe([...plain.losses.values()][0]);
  });

  it('one save per epoch end, none at the end of the schedule; an interrupt saves once', async () => {
    await useBackend('reference');
    const s = setup({ total: 6, saveEveryEpochs: 1 });
    expect((await s.t.run()).status).toBe('completed');
    expect(s.saves).toEqual(['epoch', 'epoch']); // epochs 1 and 2 end before step 6; epoch 3 ends the schedule
    const i = setup({ total: 6, saveEveryEpochs: 0 });
    const r = await i.t.run({ shouldStop: (step) => step === 3 });
    expect(r.status).toBe('interrupted');
    expect(r.message).toBe('interrupted after step 3; checkpoint none (resume with --resume none)');
    expect(i.saves).toEqual(['latest']);
    expect(i.store.records.filter((x) => x.type === 'train')).toHaveLength(3);
  });

  it('the Top-1 rule: ties count against the label, a row holding NaN/Inf is wrong', async () => {
    expect(rankOf([1, 2, 3], 0, 3, 2)).toBe(0);
    expect(rankOf([3, 3, 1], 0, 3, 0)).toBe(1); // a tie is not a hit
    expect(rankOf([Number.NaN, 1, 0], 0, 3, 1)).toBe(3); // a row holding NaN is never right
    expect(rankOf([1, Number.POSITIVE_INFINITY, 0], 0, 3, 1)).toBe(3);
    await useBackend('reference');
    const { model } = setup();
    const r = await evaluateBatches(model, [
      { images: new Float32Array(2 * C * PX * PX), shape: [2, C, PX, PX], labels: Int32Array.from([0, 1]) },
    ]);
    // zero images: every logit is the bias, so labels either tie or lose; the prediction is the largest bias
    expect(r.count).toBe(2);
    expect(r.nonFinite).toBe(0);
    const bias = Array.from(model.parameters()[1]!.dataSync());
    const want = [0, 1].filter((l) => rankOf(bias, 0, C, l) === 0).length * 50;
    expect(r.top1).toBe(want);
  });
});
