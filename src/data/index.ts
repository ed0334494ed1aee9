/**
 * Public API of the bit-ts data layer: datasets (ImageFolder over directories and tars, CIFAR binary, MNIST IDX,
 * embedded MNIST), seeded sampling (stratified split, few-shot), transforms (BiT-HyperRule, timm-style),
 * resampling, MixUp, the seeded Rng and the worker-backed DataLoader. Independent of the tensor engine:
 * images are HWC typed arrays, batches NCHW Float32Array + Int32Array labels.
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
export { type BatchData, collateBatch, sampleRng } from './collate.js';
export {
  ArrayDataset,
  type ArrayDescriptor,
  type Dataset,
  type ImageFolderDescriptor,
  type SourceDescriptor,
  Subset,
  type SubsetDescriptor,
  sharedBytes,
} from './dataset.js';
export {
  type Batch,
  checkImage,
  cropView,
  decodeImage,
  fromView,
  type HwcView,
  hflipView,
  type RawImage,
  type Sample,
  sniffFormat,
  toRgb,
  toView,
} from './image.js';
export { IMAGE_EXTENSIONS, ImageFolder, type ImageFolderOptions } from './image-folder.js';
export { DataLoader, type DataLoaderOptions, type LoaderBatch, type LoaderState } from './loader.js';
export { type MixupParams, mixBatch, mixupLabels, mixupNll, mixupParams } from './mixup.js';
export { openDataset } from './open.js';
export { type AxisCoeffs, axisCoeffs, type Region, type ResizeOptions, resize, shorterSideSize } from './resize.js';
export { mixSeed, Rng } from './rng.js';
export { fewShot, indicesByClass, stratifiedSplit } from './sampling.js';
export { indexTar, type TarEntry, TarFile } from './tar.js';
export {
  applyTransform,
  bitResolution,
  type ChwSample,
  centerCropParams,
  colorJitter,
  IMAGENET_MEAN,
  IMAGENET_STD,
  type JitterSpec,
  randomCropParams,
  randomResizedCropParams,
  roundHalfEven,
  type Scaling,
  scalingRange,
  type TransformSpec,
  validateSpec,
  viewToChw,
} from './transforms.js';
