// A typed Node consumer of the installed package, checked by `tsc --noEmit` under node16, nodenext and bundler
// resolution (tsconfig.*.json here; strict, no skipLibCheck, so bit-ts's own declarations are checked too). The
// expected errors below prove that the declarations constrain calls rather than resolving to `any`.
import { disposeBackends, randn, type Tensor, tidy, useBackend } from 'bit-ts';
import { DataLoader, embeddedMnist, type LoaderBatch, type TransformSpec } from 'bit-ts/data';
import { createModel } from 'bit-ts/models';
import { loadWeightsFile } from 'bit-ts/models/node';
import { crossEntropy, type Module, SGD } from 'bit-ts/nn';

export async function oneStep(weights?: string): Promise<{ loss: number; tensorsInFile: number }> {
  await useBackend('wasm');
  const spec: TransformSpec = { kind: 'plain', size: 32 };
  // @ts-expect-error 'plane' is no transform kind
  const typo: TransformSpec = { kind: 'plane' };
  void typo;
  const loader = new DataLoader({ dataset: embeddedMnist({ limit: 8 }), batchSize: 8, transform: spec });
  const first: IteratorResult<LoaderBatch> = await loader[Symbol.asyncIterator]().next();
  await loader.close();
  const net: Module = createModel('bit-tiny', { numClasses: 10, zeroHead: true });
  const tensorsInFile: number = weights ? loadWeightsFile(weights).weights.size : 0;
  const opt = new SGD(net.parameters(), { lr: 0.001 });
  const x: Tensor = randn([8, 3, 32, 32]);
  // @ts-expect-error item() returns a number
  const wrong: string = x.sum().item();
  void wrong;
  const loss = tidy(() => {
    opt.zeroGrad();
    const l = crossEntropy(net.forward(x), Array.from(first.value?.labels ?? []));
    l.backward();
    opt.step();
    return l.item();
  });
  disposeBackends();
  return { loss, tensorsInFile };
}
