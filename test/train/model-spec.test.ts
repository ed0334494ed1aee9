// A checkpoint's model spec rebuilds the same architecture, including the GN/BN x WS ablation variants
// (so `bit-ts validate` can evaluate the miniature Table-4 models).
import { describe, expect, it } from 'vitest';
import { createModel } from '../../src/models/index.js';
import { buildModel, modelSpecOfModel } from '../../src/train/model-setup.js';

describe('model spec', () => {
  for (const v of [
    { norm: 'gn', ws: true },
    { norm: 'gn', ws: false },
    { norm: 'bn', ws: true },
    { norm: 'bn', ws: false },
  ] as const) {
    it(`${v.norm}${v.ws ? '+ws' : ''} round-trips through the spec`, () => {
      const m = createModel('bit-tiny', { numClasses: 10, seed: 1, ...v });
      const spec = modelSpecOfModel('bit-tiny', m);
      expect(spec.norm ?? 'gn').toBe(v.norm);
      expect(spec.ws ?? true).toBe(v.ws);
      const r = buildModel(spec, { seed: 1 });
      const shapes = (x: typeof m) => [...x.stateDict()].map(([k, t]) => `${k}:${t.shape}`);
      expect(shapes(r)).toEqual(shapes(m));
      expect(r.config.norm ?? 'gn').toBe(v.norm);
      expect(r.config.ws ?? true).toBe(v.ws);
    });
  }
});
