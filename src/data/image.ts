/**
 * Image and batch types of the data layer, plus the JPEG/PNG decoder (JPEG: ./jpeg-node.ts, libjpeg-turbo
 * pixels as PIL gives, or ./jpeg-browser.ts; PNG: ./png-node.ts, or ./png-browser.ts in browser bundles).
 * Images are HWC, row-major, contiguous, with explicit {height, width, channels}; pixel values are 0..255
 * (Uint8Array from decoders, Float32Array after resampling). Batches are NCHW Float32Array + Int32Array labels.
 * Decoders always return 3-channel RGB: grayscale is replicated, alpha is dropped, CMYK/YCCK converted as PIL
 * does; an image over the pixel cap (image-header.ts) is refused before decoding. No dependency on the
 * tensor engine.
 */
import ndarray from 'ndarray';
import { DataError } from '../errors.js';
import { maxImagePixels, readImageHeader } from './image-header.js';
import { decodeJpegRgba } from './jpeg-node.js';
import { decodePngRgba } from './png-node.js';

/** An HWC image; `data.length === height * width * channels`. */
export interface RawImage {
  data: Uint8Array | Float32Array;
  height: number;
  width: number;
  channels: number;
}

/** One labelled sample as returned by `Dataset.get`. */
export interface Sample {
  image: RawImage;
  label: number;
}

/** A collated batch: images NCHW contiguous, `shape = [n, c, h, w]`, one label and dataset index per image. */
export interface Batch {
  images: Float32Array;
  shape: [number, number, number, number];
  labels: Int32Array;
  /** Dataset index of each image (for debugging, resuming and tests). */
  indices: Int32Array;
  /** Epoch and batch position (within the epoch) this batch came from. */
  epoch: number;
  position: number;
}

/** An HWC view (possibly strided: cropped or flipped) over an image buffer. */
export type HwcView = ndarray.NdArray<Uint8Array | Float32Array>;

/** Checks the image's buffer length agrees with its shape; throws DataError naming `what` otherwise. */
export function checkImage(img: RawImage, what = 'image'): RawImage {
  const { height, width, channels } = img;
  if (!(height > 0 && width > 0 && channels > 0) || img.data.length !== height * width * channels) {
    throw new DataError(
      `${what}: expected data of length height*width*channels = ${height}*${width}*${channels}, got ${img.data.length}`,
    );
  }
  return img;
}

/** Wraps an image as an ndarray HWC view (no copy). */
export function toView(img: RawImage): HwcView {
  return ndarray(img.data, [img.height, img.width, img.channels]);
}

/** Copy-free crop of an HWC view (top-left `top,left`, size `h x w`); the caller keeps it in bounds. */
export function cropView(view: HwcView, top: number, left: number, h: number, w: number): HwcView {
  const [H, W] = view.shape as [number, number, number];
  if (top < 0 || left < 0 || h < 1 || w < 1 || top + h > H || left + w > W) {
    throw new DataError(`cropView: crop ${h}x${w} at (${top}, ${left}) is outside the ${H}x${W} image`);
  }
  return view.lo(top, left, 0).hi(h, w, view.shape[2]!);
}

/** Copy-free horizontal flip of an HWC view. */
export function hflipView(view: HwcView): HwcView {
  return view.step(1, -1, 1);
}

/** Materializes a view into a contiguous Float32 HWC image. */
export function fromView(view: HwcView): RawImage {
  const [h, w, c] = view.shape as [number, number, number];
  const out = new Float32Array(h * w * c);
  const [sy, sx, sc] = view.stride as [number, number, number];
  const d = view.data;
  let o = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const base = view.offset + y * sy + x * sx;
      for (let k = 0; k < c; k++) out[o++] = d[base + k * sc]!;
    }
  }
  return { data: out, height: h, width: w, channels: c };
}

/** Replicates a 1-channel image to 3 channels and drops a 4th (alpha) channel; 3-channel input is returned as is. */
export function toRgb(img: RawImage, what = 'image'): RawImage {
  const { height, width, channels, data } = img;
  if (channels === 3) return img;
  const n = height * width;
  const out = data instanceof Float32Array ? new Float32Array(n * 3) : new Uint8Array(n * 3);
  if (channels === 1 || channels === 2) {
    for (let i = 0; i < n; i++) {
      const v = data[i * channels]!;
      out[3 * i] = v;
      out[3 * i + 1] = v;
      out[3 * i + 2] = v;
    }
  } else if (channels === 4) {
    for (let i = 0; i < n; i++) {
      out[3 * i] = data[4 * i]!;
      out[3 * i + 1] = data[4 * i + 1]!;
      out[3 * i + 2] = data[4 * i + 2]!;
    }
  } else {
    throw new DataError(`${what}: cannot convert ${channels} channels to RGB (expected 1, 2, 3 or 4)`);
  }
  return { data: out, height, width, channels: 3 };
}

/** Which format the bytes are, from magic numbers, or null. */
export function sniffFormat(bytes: Uint8Array): 'jpeg' | 'png' | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) {
    return 'png';
  }
  return null;
}

/**
 * Decodes JPEG or PNG bytes (format from magic numbers) to an RGB Uint8 HWC image.
 * @param bytes encoded file contents
 * @param name file or tar member name, used in error messages
 * @throws DataError when the bytes are neither JPEG nor PNG, fail to decode, or their header declares more
 *   pixels than the cap (image-header.ts; checked before anything is decoded or allocated)
 */
export function decodeImage(bytes: Uint8Array, name: string): RawImage {
  const fmt = sniffFormat(bytes);
  const head = readImageHeader(bytes);
  const cap = maxImagePixels();
  if (head && head.width * head.height > cap) {
    throw new DataError(
      `${name}: ${head.format} image of ${head.width}x${head.height} = ${((head.width * head.height) / 1e6).toFixed(1)} Mpixel ` +
        `is over the ${(cap / 1e6).toFixed(1)} Mpixel cap (not decoded; raise it with BIT_MAX_IMAGE_PIXELS=N if the image is real)`,
    );
  }
  try {
    if (fmt === 'jpeg') {
      const d = decodeJpegRgba(bytes);
      return toRgb({ data: d.data, height: d.height, width: d.width, channels: 4 }, name);
    }
    if (fmt === 'png') {
      const p = decodePngRgba(bytes);
      return toRgb({ data: p.data, height: p.height, width: p.width, channels: 4 }, name);
    }
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError(`${name}: cannot decode ${fmt} image: ${(e as Error).message}`);
  }
  const first = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new DataError(
    `${name}: not a JPEG or PNG image (first bytes ${first || '<empty>'}; expected ff d8 ff or 89 50 4e 47)`,
  );
}
