/**
 * The data layer for browsers (`bit-ts/data` under the `browser` export condition): in-memory datasets, the
 * JPEG/PNG decoders (PNG through ./png-browser.ts), transforms (BiT-HyperRule, timm-style), resampling, seeded
 * sampling, MixUp, collation and the Rng. Left out, because they read files or start worker_threads: ImageFolder,
 * tar, CIFAR/IDX readers, the embedded MNIST and the DataLoader. Same functions as ./index.ts otherwise.
 */
export { type BatchData, collateBatch, sampleRng } from './collate.js';
export {
  ArrayDataset,
  type ArrayDescriptor,
  type Dataset,
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
export {
  DEFAULT_MAX_IMAGE_PIXELS,
  type ImageHeader,
  maxImagePixels,
  readImageHeader,
  setMaxImagePixels,
} from './image-header.js';
export { type MixupParams, mixBatch, mixupLabels, mixupNll, mixupParams } from './mixup.js';
export { type AxisCoeffs, axisCoeffs, type Region, type ResizeOptions, resize, shorterSideSize } from './resize.js';
export { mixSeed, Rng } from './rng.js';
export { fewShot, indicesByClass, stratifiedSplit, stratifiedSubset } from './sampling.js';
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
