/**
 * The browser PNG decoder (src/data/png-browser.ts, used in place of pngjs in browser bundles) against pngjs on
 * PNGs written here byte by byte: every color type, every bit depth it allows, palettes with tRNS, all five
 * scanline filters, and Adam7 interlacing. Pixel values come from a seeded Rng, and the filters are applied the
 * way an encoder does, so each decoded pixel is checked against an independent decoder.
 */

import { zlibSync } from 'fflate';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { decodePngRgba } from '../../src/data/png-browser.js';
import { Rng } from '../../src/data/rng.js';

const CH: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

function crc32(b: Uint8Array): number {
  let c = ~0;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + body.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, body.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(body, 8);
  dv.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** A w x h PNG of random samples, row filters cycling 0..4, optionally interlaced. */
function makePng(w: number, h: number, ctype: number, depth: number, interlace: boolean, rng: Rng): Uint8Array {
  const ch = CH[ctype]!;
  const bpp = Math.max(1, (ch * depth) >> 3);
  const maxV = ctype === 3 ? 5 : (1 << depth) - 1;
  const scan: number[] = [];
  let row = 0;
  for (const [x0, y0, dx, dy] of interlace ? ADAM7 : [[0, 0, 1, 1]]) {
    const pw = Math.ceil((w - x0!) / dx!);
    const ph = Math.ceil((h - y0!) / dy!);
    if (pw <= 0 || ph <= 0) continue;
    const stride = Math.ceil((pw * ch * depth) / 8);
    let prev = new Uint8Array(stride);
    for (let y = 0; y < ph; y++) {
      const line = new Uint8Array(stride);
      for (let s = 0; s < pw * ch; s++) {
        const v = rng.int(maxV + 1);
        if (depth === 16) {
          line[s * 2] = v >> 8;
          line[s * 2 + 1] = v & 255;
        } else if (depth === 8) line[s] = v;
        else line[(s * depth) >> 3]! |= v << (8 - depth - ((s * depth) & 7));
      }
      const f = row++ % 5;
      scan.push(f);
      for (let i = 0; i < stride; i++) {
        const a = i >= bpp ? line[i - bpp]! : 0;
        const b = prev[i]!;
        const c = i >= bpp ? prev[i - bpp]! : 0;
        const pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][f]!;
        scan.push((line[i]! - pred) & 255);
      }
      prev = line;
    }
  }
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, w);
  new DataView(ihdr.buffer).setUint32(4, h);
  ihdr.set([depth, ctype, 0, 0, interlace ? 1 : 0], 8);
  const parts = [new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr)];
  if (ctype === 3) {
    parts.push(chunk('PLTE', new Uint8Array([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 99, 199, 250, 250, 250])));
    parts.push(chunk('tRNS', new Uint8Array([0, 128, 255])));
  }
  const z = zlibSync(new Uint8Array(scan));
  parts.push(chunk('IDAT', z.subarray(0, 7)), chunk('IDAT', z.subarray(7)), chunk('IEND', new Uint8Array(0)));
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const CASES: [number, number][] = [
  [0, 1],
  [0, 2],
  [0, 4],
  [0, 8],
  [0, 16],
  [2, 8],
  [2, 16],
  [3, 1],
  [3, 2],
  [3, 4],
  [3, 8],
  [4, 8],
  [4, 16],
  [6, 8],
  [6, 16],
];

describe('browser PNG decoder', () => {
  for (const interlace of [false, true]) {
    for (const [ctype, depth] of CASES) {
      it(`color type ${ctype}, depth ${depth}${interlace ? ', Adam7' : ''} decodes as pngjs does`, () => {
        const rng = new Rng(ctype * 100 + depth + (interlace ? 7 : 0));
        for (const [w, h] of [
          [1, 1],
          [5, 3],
          [13, 11],
        ]) {
          const png = makePng(w!, h!, ctype, depth, interlace, rng);
          const want = PNG.sync.read(Buffer.from(png));
          const got = decodePngRgba(png);
          expect([got.width, got.height]).toEqual([w, h]);
          expect(Array.from(got.data)).toEqual(Array.from(want.data));
        }
      });
    }
  }

  it('names the problem for a truncated file and an unknown filter', () => {
    const png = makePng(4, 4, 2, 8, false, new Rng(1));
    expect(() => decodePngRgba(png.subarray(0, 40))).toThrow(/ends before IEND/);
    const bad = makePng(4, 4, 0, 8, false, new Rng(2));
    // rewrite with a filter byte of 9 on the first row
    const ihdrEnd = 8 + 25;
    const raw = new Uint8Array(4 * 5);
    raw[0] = 9;
    const parts = [bad.subarray(0, ihdrEnd), chunk('IDAT', zlibSync(raw)), chunk('IEND', new Uint8Array(0))];
    const f = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
    let o = 0;
    for (const p of parts) {
      f.set(p, o);
      o += p.length;
    }
    expect(() => decodePngRgba(f)).toThrow(/bad filter type 9 in row 0/);
  });
});
