/**
 * Public models API: the ResNetV2-BiT builder, the named-model registry (with analytic parameter and compute
 * counts) and the weight-file layer.
 */
export * from './registry.js';
export * from './resnet-v2.js';
export * from './weights/index.js';
