/**
 * Public models API: the ResNetV2-BiT builder, the named-model registry (with analytic parameter and compute
 * counts) and the weight-file layer.
 */
export * from './registry.js';
export * from './resnet-v2.js';
export * from './weights/index.js';
// TEMPORARY: src/train/checkpoint.ts (being converted to async readback by another developer) still imports
// these two from here; once it imports '../models/weights/node-io.js' this line goes, leaving the index
// free of node:* imports.
export { readSafetensors, writeSafetensorsAtomic } from './weights/node-io.js';
