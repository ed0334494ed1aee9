/**
 * Public nn API: the Module system, layers, initializers, losses, the SGD optimizer and LR schedules.
 */
export { ModuleList, Sequential } from './containers.js';
export { Conv2d, type Conv2dOptions, StdConv2d, type StdConv2dOptions } from './conv.js';
export * as init from './init.js';
export {
  AdaptiveAvgPool2d,
  ConstantPad2d,
  Dropout,
  Flatten,
  Identity,
  Linear,
  type LinearOptions,
  MaxPool2d,
  ReLU,
} from './layers.js';
export {
  type CrossEntropyOptions,
  crossEntropy,
  type Labels,
  mixupCrossEntropy,
  type Reduction,
  sigmoidCrossEntropy,
} from './losses.js';
export {
  asParameter,
  Buffer,
  type LoadResult,
  Module,
  Parameter,
  type StateDictInput,
  type StateValue,
} from './module.js';
export { BatchNorm2d, type BatchNormOptions, GroupNorm, type GroupNormOptions } from './norm.js';
export * from './optim/index.js';
export { clearStdWeightCache, setStdWeightCacheBudget, stdWeightCacheStats } from './std-weight-cache.js';
