/**
 * The data layer's PRNG is the project's one seeded generator (src/tensor/random.ts, a pure module with no
 * engine dependency): re-exported here so data code imports it from its own layer.
 */

export { mixSeed, Rng } from '../tensor/random.js';
