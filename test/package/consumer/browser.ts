// A browser consumer of the installed package: type-checked under bundler resolution with the `browser` condition
// and no Node types (tsconfig.browser.json), then bundled by esbuild for the browser platform. It trains bit-tiny
// one step on the wasm backend (Web Workers in a page) on a transformed random image; the expected error below
// proves that bit-ts/data's browser typings are its own (no worker DataLoader in browsers).
import { disposeBackends, fromTyped, tidy, useBackend } from 'bit-ts';
import { applyTransform, type RawImage, Rng } from 'bit-ts/data';
import { createModel, decodeWeights } from 'bit-ts/models';
import { crossEntropy, SGD } from 'bit-ts/nn';

// @ts-expect-error the browser build of bit-ts/data has no DataLoader (it reads files in worker threads)
export type NoLoader = typeof import('bit-ts/data').DataLoader;

export async function oneStep(weightBytes?: Uint8Array): Promise<{ loss: number; tensorsInFile: number }> {
  await useBackend('wasm');
  const rng = new Rng(0);
  const pixels = Uint8Array.from({ length: 40 * 40 * 3 }, () => rng.nextInt(256));
  const image: RawImage = { data: pixels, height: 40, width: 40, channels: 3 };
  const chw = applyTransform({ kind: 'plain', size: 32 }, image, rng);
  const net = createModel('bit-tiny', { numClasses: 10, zeroHead: true });
  const tensorsInFile = weightBytes ? decodeWeights(weightBytes, 'upload.safetensors').weights.size : 0;
  const opt = new SGD(net.parameters(), { lr: 0.001 });
  const x = fromTyped(chw.data, [1, chw.channels, chw.height, chw.width]);
  const loss = tidy(() => {
    opt.zeroGrad();
    const l = crossEntropy(net.forward(x), [3]);
    l.backward();
    opt.step();
    return l;
  });
  const value = (await loss.data())[0] ?? Number.NaN;
  loss.dispose();
  disposeBackends();
  return { loss: value, tensorsInFile };
}
