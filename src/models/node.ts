/**
 * Node-only entry point of the models package (`bit-ts/models/node`): read weight files from paths and write
 * them atomically. Kept apart from `bit-ts/models` so that the parsers bundle for browsers.
 */
export * from './weights/node-io.js';
