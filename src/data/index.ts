/**
 * Public API of the bit-ts data layer: datasets (ImageFolder over directories and tars, CIFAR binary, MNIST IDX,
 * embedded MNIST), seeded sampling (stratified split, few-shot), transforms (BiT-HyperRule, timm-style),
 * resampling, MixUp, the seeded Rng and the worker-backed DataLoader. Independent of the tensor engine:
 * images are HWC typed arrays, batches NCHW Float32Array + Int32Array labels.
 *
 * Everything that runs in a browser is ./browser.ts (the `browser` export condition), re-exported here; this file
 * adds only the readers that need the file system or worker_threads.
 */

export {
  CIFAR10_CLASSES,
  type CifarOptions,
  cifarBinary,
  embeddedMnist,
  FASHION_MNIST_CLASSES,
  type IdxArray,
  type MnistOptions,
  mnistDataDir,
  mnistIdx,
  readIdx,
} from './binary-datasets.js';
export * from './browser.js';
export type { ImageFolderDescriptor } from './dataset.js';
export { IMAGE_EXTENSIONS, ImageFolder, type ImageFolderOptions } from './image-folder.js';
export { DataLoader, type DataLoaderOptions, type LoaderBatch, type LoaderState } from './loader.js';
export { openDataset } from './open.js';
export { indexTar, type TarEntry, TarFile } from './tar.js';
