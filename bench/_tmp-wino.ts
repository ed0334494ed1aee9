import { createModel } from '/work/wt/infer/src/models/index.js';
import { useBackend } from '/work/wt/infer/src/tensor/backends/registry.js';
import * as F from '/work/wt/infer/src/tensor/index.js';
import { stdWeightCacheStats } from '/work/wt/infer/src/nn/index.js';
const b: any = await useBackend('wasm'); await b.ready;
const net = createModel('BiT-R50x1', { numClasses: 10, seed: 0 }).eval();
const x = F.randn([8, 3, 128, 128]);
for (let i = 0; i < 4; i++) {
  const t = performance.now();
  const y = F.noGrad(() => F.tidy(() => net.forward(x)));
  await y.data(); y.dispose();
  console.log(i, (performance.now() - t).toFixed(1), 'ms', JSON.stringify(b.winogradCacheStats()), JSON.stringify(stdWeightCacheStats()), b.liveBuffers());
}
process.exit(0);
