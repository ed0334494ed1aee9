/**
 * Named errors used across bit-ts. Every error says which op (or file) failed, with which shapes or values,
 * and what was expected, so a user can act on the message alone. Catch by class, never by message text.
 */

/** Base class: every bit-ts error is a BitError, so callers can separate ours from runtime errors. */
export class BitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Shapes that do not fit an op (broadcasting, matmul inner dims, reshape sizes, conv channels, ...). */
export class ShapeError extends BitError {}

/** A dtype an op cannot take (float64 on a float32-only backend, mixed dtypes, ...). */
export class DTypeError extends BitError {}

/** An axis or index outside its range. */
export class IndexError extends BitError {}

/** A backend that cannot run: not available here, a kernel that fell back to another mode, a failed build. */
export class BackendError extends BitError {}

/** Autograd misuse: backward through a non-differentiable path, twice through a freed graph, bad in-place. */
export class AutogradError extends BitError {}

/** A weight or checkpoint file that cannot be read or written: names the file, the entry and the problem. */
export class CheckpointError extends BitError {}

/** A dataset or image that cannot be read or decoded: names the file or tar member. */
export class DataError extends BitError {}

/** A configuration value or CLI flag that is unknown or out of range. */
export class ConfigError extends BitError {}
