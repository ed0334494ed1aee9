/**
 * All differentiable ops, one namespace. Tensor methods and the public functional API both call these.
 */

export * from './elementwise.js';
export * from './linalg.js';
export * from './movement.js';
export * from './nn-functional.js';
export * from './reduce.js';
