// A consumer of the installed package in plain ESM JavaScript (nothing compiles TypeScript): imports every library
// entry, reads 8 embedded MNIST digits through the DataLoader with one worker thread (the compiled loader worker),
// takes one SGD step of bit-tiny with a zero head on the wasm backend, and prints one JSON line: the batch's shape
// and labels, the loss before the step (zero logits: ln 10) and after it on the same batch.
import { disposeBackends, fromTyped, tidy, useBackend } from 'bit-ts';
import { DataLoader, embeddedMnist } from 'bit-ts/data';
import { createModel } from 'bit-ts/models';
import { crossEntropy, SGD } from 'bit-ts/nn';

const backend = await useBackend('wasm');
const loader = new DataLoader({
  dataset: embeddedMnist({ limit: 8 }),
  batchSize: 8,
  transform: { kind: 'plain', size: 32 },
  numWorkers: 1,
});
const { value: batch } = await loader[Symbol.asyncIterator]().next();
await loader.close();

const net = createModel('bit-tiny', { numClasses: 10, zeroHead: true });
const opt = new SGD(net.parameters(), { lr: 0.001, momentum: 0.9 });
const x = fromTyped(batch.images, batch.shape);
const labels = Array.from(batch.labels);
const before = tidy(() => {
  opt.zeroGrad();
  const loss = crossEntropy(net.forward(x), labels);
  loss.backward();
  opt.step();
  return loss.item();
});
const after = tidy(() => crossEntropy(net.forward(x), labels).item());
console.log(JSON.stringify({ backend: backend.name, shape: batch.shape, labels, before, after }));
disposeBackends();
