/**
 * Adobe CMYK and YCCK JPEGs (4 components, found in ImageNet-style folders) to RGBA with PIL's bytes: jpeg-js
 * does the marker parsing and entropy decoding (baseline and progressive); everything after the quantized
 * coefficients is libjpeg-turbo's integer arithmetic (./libjpeg-exact.ts): islow IDCT, fancy upsampling,
 * YCCK -> CMYK, then Pillow's CMYK -> RGB. jpeg-js's own IDCT (poppler's) and float YCC conversion land up
 * to 3 levels away from PIL; this path matches it exactly on the fixtures (test/data/decode-limits.test.ts).
 *
 * jpeg-js exports only `decode`, whose output is already converted; its JpegImage class (parsed frame with the
 * coefficient blocks) is reached by evaluating the pinned package's decoder.js with one added field that keeps
 * each frame component. Invariant: if that source ever changes shape, loading fails loudly (an Error naming
 * the file), never with silently different pixels. Node only (the browser bundle keeps jpeg-js's decode).
 */

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { idctIslow, pilCmykChannelToRgb, upsampleLibjpeg, ycckToCmy } from './libjpeg-exact.js';

interface FrameComponent {
  h: number;
  v: number;
  blocksPerLine: number;
  blocksPerColumn: number;
  blocks: Int32Array[][];
  quantizationTable: ArrayLike<number>;
}
interface ParsedJpeg {
  opts: object;
  width: number;
  height: number;
  adobe: { transformCode: number } | null;
  components: { frameComponent: FrameComponent }[];
  parse(data: Uint8Array): void;
}
interface JpegImageClass {
  new (): ParsedJpeg;
  resetMaxMemoryUsage(bytes: number): void;
}

const ANCHOR = 'lines: buildComponentData(frame, component),';

let jpegImageClass: JpegImageClass | null = null;

/** jpeg-js's JpegImage, with each entry of `components` also holding its frame component (see file comment). */
function jpegImage(): JpegImageClass {
  if (jpegImageClass) return jpegImageClass;
  const file = createRequire(import.meta.url).resolve('jpeg-js/lib/decoder.js');
  const src = readFileSync(file, 'utf8');
  if (src.split(ANCHOR).length !== 2) throw new Error(`${file}: jpeg-js changed; '${ANCHOR}' not found once`);
  const patched = src.replace(ANCHOR, `${ANCHOR} frameComponent: component,`);
  jpegImageClass = new Function('module', 'Buffer', `${patched}\nreturn JpegImage;`)({}, Buffer) as JpegImageClass;
  return jpegImageClass;
}

/**
 * Decode a 4-component JPEG to 8-bit RGBA as PIL's `Image.open(f).convert('RGB')` does (alpha 255).
 * The Adobe APP14 transform flag picks YCCK (2) or CMYK (otherwise). Throws jpeg-js's Error on corrupt data.
 */
export function decodeFourChannelJpeg(bytes: Uint8Array): { data: Uint8Array; width: number; height: number } {
  const JpegImage = jpegImage();
  const img = new JpegImage();
  img.opts = { colorTransform: undefined, tolerantDecoding: false, maxResolutionInMP: 100, maxMemoryUsageInMB: 512 };
  JpegImage.resetMaxMemoryUsage(512 * 1024 * 1024);
  img.parse(bytes);
  const { width, height } = img;
  if (img.components.length !== 4) throw new Error(`expected 4 components, found ${img.components.length}`);
  const fcs = img.components.map((c) => c.frameComponent);
  const maxH = Math.max(...fcs.map((c) => c.h));
  const maxV = Math.max(...fcs.map((c) => c.v));
  const planes = fcs.map((c) => {
    if (maxH % c.h || maxV % c.v) throw new Error(`unsupported sampling factors ${c.h}x${c.v} (max ${maxH}x${maxV})`);
    const stride = c.blocksPerLine * 8;
    const data = new Uint8Array(stride * c.blocksPerColumn * 8);
    for (let by = 0; by < c.blocksPerColumn; by++) {
      for (let bx = 0; bx < c.blocksPerLine; bx++) {
        idctIslow(c.blocks[by]![bx]!, c.quantizationTable, data, stride, bx * 8, by * 8);
      }
    }
    const plane = {
      data,
      stride,
      width: Math.ceil((width * c.h) / maxH),
      height: Math.ceil((height * c.v) / maxV),
    };
    return upsampleLibjpeg(plane, maxH / c.h, maxV / c.v, width, height);
  });
  const ycck = img.adobe?.transformCode === 2;
  const [p0, p1, p2, k] = planes as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  const out = new Uint8Array(width * height * 4);
  const cmy = new Uint8Array(3);
  for (let i = 0; i < width * height; i++) {
    const kk = k[i]!;
    if (ycck) ycckToCmy(p0[i]!, p1[i]!, p2[i]!, cmy);
    else cmy.set([p0[i]!, p1[i]!, p2[i]!]);
    out[4 * i] = pilCmykChannelToRgb(cmy[0]!, kk);
    out[4 * i + 1] = pilCmykChannelToRgb(cmy[1]!, kk);
    out[4 * i + 2] = pilCmykChannelToRgb(cmy[2]!, kk);
    out[4 * i + 3] = 255;
  }
  return { data: out, width, height };
}
