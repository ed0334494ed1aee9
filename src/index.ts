/**
 * bit-ts: Big Transfer (BiT) end to end in TypeScript. The root entry exports the tensor engine (Tensor,
 * creation, functional ops, autograd controls, PRNG, backends) and the error classes. Layers live in
 * `bit-ts/nn`, models and weight I/O in `bit-ts/models`, datasets and transforms in `bit-ts/data`.
 */

export { assertGradcheck, gradcheck } from './autograd/gradcheck.js';
export * from './errors.js';
export {
  BACKEND_NAMES,
  type BackendName,
  defaultBackendName,
  disposeBackends,
  getBackend,
  probeBackends,
  useBackend,
} from './tensor/backends/registry.js';
export * from './tensor/index.js';
