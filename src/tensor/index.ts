/**
 * Public tensor API: the Tensor class, creation functions, the functional ops, engine controls and the PRNG.
 */

export {
  abs,
  add,
  avgPool2d,
  cast,
  clone,
  concat,
  conv2d,
  conv2dAdd,
  div,
  exp,
  expand,
  flatten,
  groupNorm,
  groupNormRelu,
  log,
  logSoftmax,
  logsumexp,
  matmul,
  maximum,
  maxPool2d,
  mean,
  minimum,
  mul,
  neg,
  pad,
  permute,
  pow,
  relu,
  reshape,
  rsqrt,
  sigmoid,
  slice,
  softmax,
  softplus,
  sqrt,
  squeeze,
  stack,
  sub,
  sum,
  tanh,
  transpose,
  unsqueeze,
  variance,
  weightStandardize,
  where,
} from '../autograd/ops/index.js';
export type { Backend, BackendBuffer } from './backend.js';
export { createReferenceBackend } from './backends/reference/index.js';
export * from './creation.js';
export type { DType } from './dtype.js';
export {
  enableGrad,
  getDefaultBackend,
  isGradEnabled,
  keep,
  memory,
  noGrad,
  setDefaultBackend,
  tidy,
} from './engine.js';
export { globalRng, manualSeed, Rng } from './random.js';
export { Tensor } from './tensor.js';
