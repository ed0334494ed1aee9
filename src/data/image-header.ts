/**
 * Image dimensions from the first bytes of a JPEG (the SOF marker) or PNG (IHDR), read before any pixel is
 * decoded, and the pixel cap every decoder is held to (`decodeImage` refuses a larger image with a DataError
 * before allocating for it; a 20000x20000 PNG of 388 KB would otherwise take 3.66 GB).
 *
 * Invariants: header parsing reads at most the markers before the first SOF and never throws; the cap is
 * `BIT_MAX_IMAGE_PIXELS` (a positive integer, read when the module loads, so loader worker threads see the
 * same value), else `setMaxImagePixels`, else 64 Mpixel.
 */

import { envVar } from '../env.js';
import { ConfigError } from '../errors.js';

/** Width, height and (JPEG) component count from a file's header, or null when no header is found. */
export interface ImageHeader {
  format: 'jpeg' | 'png';
  width: number;
  height: number;
  /** JPEG: 1 (grey), 3 (YCbCr / RGB), 4 (CMYK / YCCK); PNG: null. */
  components: number | null;
}

/** Default pixel cap: 64 Mpixel (8000 x 8000), far above any dataset image, far below a memory blow-up. */
export const DEFAULT_MAX_IMAGE_PIXELS = 64_000_000;

function parseCap(v: string, where: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`${where} must be a positive integer, got '${v}'`);
  return n;
}

const capEnv = envVar('BIT_MAX_IMAGE_PIXELS');
let maxPixels = capEnv ? parseCap(capEnv, 'BIT_MAX_IMAGE_PIXELS') : DEFAULT_MAX_IMAGE_PIXELS;

/** The largest image (width x height) the decoders accept. */
export function maxImagePixels(): number {
  return maxPixels;
}

/**
 * Set the pixel cap of this thread (loader workers read `BIT_MAX_IMAGE_PIXELS`; set that to cover them too).
 * @throws ConfigError unless n is a positive integer
 */
export function setMaxImagePixels(n: number): void {
  maxPixels = parseCap(String(n), 'the image pixel cap');
}

/** The header of JPEG or PNG bytes (SOF / IHDR), or null. */
export function readImageHeader(b: Uint8Array): ImageHeader | null {
  if (b.length >= 24 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) {
    const u32 = (o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
    return { format: 'png', width: u32(16), height: u32(20), components: null };
  }
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return null;
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return null;
    const m = b[i + 1]!;
    if (m === 0xff) {
      i++; // fill byte
      continue;
    }
    const len = (b[i + 2]! << 8) | b[i + 3]!;
    // SOF0..SOF15, except DHT (c4), JPG (c8) and DAC (cc)
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      const height = (b[i + 5]! << 8) | b[i + 6]!;
      const width = (b[i + 7]! << 8) | b[i + 8]!;
      return { format: 'jpeg', width, height, components: b[i + 9]! };
    }
    if (m === 0xda || m === 0xd9) return null; // scan data before any frame header
    i += 2 + len;
  }
  return null;
}
