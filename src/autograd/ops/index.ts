/**
 * All differentiable ops, one namespace. Tensor methods and the public functional API both call these;
 * importing this installs the Tensor methods (../tensor-methods.ts).
 */

import '../tensor-methods.js';

export * from './elementwise.js';
export * from './linalg.js';
export * from './movement.js';
export * from './nn-functional.js';
export * from './reduce.js';
