/**
 * PNG decoding without Node (the browser stand-in for ./png-node.ts): chunks are parsed here, IDAT inflated with
 * fflate, scanlines unfiltered (None/Sub/Up/Average/Paeth) and expanded to 8-bit RGBA. Covers every standard
 * variant: color types 0, 2, 3, 4, 6; bit depths 1, 2, 4, 8, 16 (16-bit rounded to 8, as pngjs does);
 * palette transparency (tRNS); Adam7 interlacing. CRCs are not checked (the inflater checks the zlib stream).
 */

import { unzlibSync } from 'fflate';

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Decode PNG bytes to 8-bit RGBA, row-major. @throws Error naming the problem (the caller wraps it). */
export function decodePngRgba(bytes: Uint8Array): { data: Uint8Array; width: number; height: number } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 8;
  let width = 0;
  let height = 0;
  let depth = 0;
  let ctype = -1;
  let interlace = 0;
  let palette: Uint8Array | null = null;
  let trns: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  let ended = false;
  while (pos + 8 <= bytes.length) {
    const len = dv.getUint32(pos);
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8));
    const body = bytes.subarray(pos + 8, pos + 8 + len);
    if (body.length !== len) throw new Error(`chunk ${type} runs past the end of the file`);
    if (type === 'IHDR') {
      width = dv.getUint32(pos + 8);
      height = dv.getUint32(pos + 12);
      depth = body[8]!;
      ctype = body[9]!;
      interlace = body[12]!;
    } else if (type === 'PLTE') palette = body;
    else if (type === 'tRNS') trns = body;
    else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') {
      ended = true;
      break;
    }
    pos += 12 + len;
  }
  if (!ended) throw new Error('the file ends before IEND (truncated)');
  const ch = CHANNELS[ctype];
  if (!ch || ![1, 2, 4, 8, 16].includes(depth)) throw new Error(`unsupported color type ${ctype} / depth ${depth}`);
  if (width === 0 || height === 0) throw new Error('missing or empty IHDR');
  if (ctype === 3 && !palette) throw new Error('palette image without PLTE');
  const z = new Uint8Array(idat.reduce((s, c) => s + c.length, 0));
  let o = 0;
  for (const c of idat) {
    z.set(c, o);
    o += c.length;
  }
  const raw = unzlibSync(z);
  const bpp = Math.max(1, (ch * depth) >> 3);
  const out = new Uint8Array(width * height * 4);
  const passes = interlace ? ADAM7 : ([[0, 0, 1, 1]] as const);
  let at = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const pw = Math.ceil((width - x0) / dx);
    const ph = Math.ceil((height - y0) / dy);
    if (pw <= 0 || ph <= 0) continue;
    const stride = Math.ceil((pw * ch * depth) / 8);
    let prev = new Uint8Array(stride);
    for (let y = 0; y < ph; y++) {
      if (at + 1 + stride > raw.length) throw new Error('image data is shorter than the image');
      const f = raw[at]!;
      const line = raw.slice(at + 1, at + 1 + stride);
      at += 1 + stride;
      for (let i = 0; i < stride; i++) {
        const a = i >= bpp ? line[i - bpp]! : 0;
        const b = prev[i]!;
        const c = i >= bpp ? prev[i - bpp]! : 0;
        if (f === 1) line[i] = (line[i]! + a) & 255;
        else if (f === 2) line[i] = (line[i]! + b) & 255;
        else if (f === 3) line[i] = (line[i]! + ((a + b) >> 1)) & 255;
        else if (f === 4) line[i] = (line[i]! + paeth(a, b, c)) & 255;
        else if (f !== 0) throw new Error(`bad filter type ${f} in row ${y}`);
      }
      for (let x = 0; x < pw; x++) {
        const s = (k: number): number => {
          if (depth === 8) return line[x * ch + k]!;
          if (depth === 16) {
            const j = (x * ch + k) * 2;
            return Math.floor(((line[j]! * 256 + line[j + 1]!) * 255) / 65535 + 0.5);
          }
          const bit = (x * ch + k) * depth;
          const v = (line[bit >> 3]! >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
          return ctype === 3 ? v : Math.round((v * 255) / ((1 << depth) - 1));
        };
        const d = ((y0 + y * dy) * width + x0 + x * dx) * 4;
        if (ctype === 3) {
          const i = s(0);
          out[d] = palette![i * 3]!;
          out[d + 1] = palette![i * 3 + 1]!;
          out[d + 2] = palette![i * 3 + 2]!;
          out[d + 3] = trns && i < trns.length ? trns[i]! : 255;
        } else if (ch <= 2) {
          out[d] = out[d + 1] = out[d + 2] = s(0);
          out[d + 3] = ch === 2 ? s(1) : 255;
        } else {
          out[d] = s(0);
          out[d + 1] = s(1);
          out[d + 2] = s(2);
          out[d + 3] = ch === 4 ? s(3) : 255;
        }
      }
      prev = line;
    }
  }
  return { data: out, width, height };
}
