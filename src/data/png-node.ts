/**
 * PNG decoding for Node through pngjs (every PNG variant). Browser bundles replace this file by ./png-browser.ts
 * (package.json `browser` map), because pngjs needs Node's zlib and streams. Both return 8-bit RGBA.
 */

import { PNG } from 'pngjs';

/** Decode PNG bytes to 8-bit RGBA, row-major. Throws (pngjs's own errors) on corrupt data. */
export function decodePngRgba(bytes: Uint8Array): { data: Uint8Array; width: number; height: number } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const p = PNG.sync.read(buf);
  return {
    data: new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength),
    width: p.width,
    height: p.height,
  };
}
