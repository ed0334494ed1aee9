/**
 * JPEG decoding in browser bundles (replaces ./jpeg-node.ts through package.json's `browser` map): jpeg-js,
 * pure JavaScript. Its chroma upsampling differs from libjpeg-turbo's (mean ~1.4 grey levels on 4:2:0
 * files), so browser-decoded pixels are close to, not equal to, PIL's; Node uses the libjpeg-turbo decoder.
 */

import jpeg from 'jpeg-js';

/** Decode JPEG bytes to 8-bit RGBA. Throws (jpeg-js's own errors) on corrupt data. */
export function decodeJpegRgba(bytes: Uint8Array): { data: Uint8Array; width: number; height: number } {
  const d = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, tolerantDecoding: true });
  const data = d.data instanceof Uint8Array ? d.data : new Uint8Array(d.data);
  return { data, width: d.width, height: d.height };
}
